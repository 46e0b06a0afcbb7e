// Package matcher compares face encodings: 1:1 verification, 1:K
// identification against a gallery, and the triplet loss the encodings were
// trained with.
//
// Distances are plain (not squared) Euclidean distances between unit
// encodings, so they lie in [0, 2]. A match is accepted when the distance is
// strictly below the threshold, as the notebook's verify and who_is_it do.
package matcher

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
)

// DefaultThreshold is the notebook's: distance < 0.7 opens the door.
const DefaultThreshold = 0.7

// unitTolerance is how far from 1 an encoding's length may be; encoders
// produce float32 unit vectors, so anything further is a caller's bug.
const unitTolerance = 1e-3

var (
	// ErrUnknownIdentity means the gallery holds no encoding for the name.
	ErrUnknownIdentity = errors.New("matcher: unknown identity")
	// ErrEmptyGallery means there is nothing to match against.
	ErrEmptyGallery = errors.New("matcher: empty gallery")
	// ErrDimension means two encodings have different lengths.
	ErrDimension = errors.New("matcher: dimension mismatch")
	// ErrInvalid means an encoding holds NaN or infinity, is not unit length,
	// or an argument is out of range.
	ErrInvalid = errors.New("matcher: invalid input")
)

// Gallery holds the known identities, each with one or more unit encodings.
// Build it with Add, then query it from any number of goroutines.
type Gallery struct {
	threshold float64
	dim       int
	names     []string       // identity by index, in insertion order
	index     map[string]int // identity -> index into names
	vectors   []float32      // all encodings back to back, dim values each
	owner     []int          // encoding -> identity index

	// IdentifyBatch's scorer over vectors, made on first use (and again
	// after an Add) by newScorer.
	mu        sync.Mutex
	newScorer NewScorerFunc
	scorer    Scorer
	scored    int     // encodings the scorer holds
	members   [][]int // identity -> its encodings
}

// NewGallery returns an empty gallery that accepts distances below threshold,
// which must lie in (0, 2].
func NewGallery(threshold float64) (*Gallery, error) {
	if !(threshold > 0 && threshold <= 2) {
		return nil, fmt.Errorf("%w: threshold %v outside (0, 2]", ErrInvalid, threshold)
	}
	return &Gallery{threshold: threshold, index: map[string]int{}}, nil
}

// Threshold is the acceptance threshold.
func (g *Gallery) Threshold() float64 { return g.threshold }

// Identities lists the identities in the order they were first added.
func (g *Gallery) Identities() []string { return append([]string(nil), g.names...) }

// Len is the number of encodings.
func (g *Gallery) Len() int { return len(g.owner) }

// Add stores one more unit encoding for identity.
func (g *Gallery) Add(identity string, enc []float32) error {
	if identity == "" {
		return fmt.Errorf("%w: empty identity", ErrInvalid)
	}
	if err := CheckUnit(enc); err != nil {
		return fmt.Errorf("adding %q: %w", identity, err)
	}
	if g.dim == 0 {
		g.dim = len(enc)
	} else if len(enc) != g.dim {
		return fmt.Errorf("%w: adding %q: encoding has %d values, gallery %d", ErrDimension, identity, len(enc), g.dim)
	}
	id, ok := g.index[identity]
	if !ok {
		id = len(g.names)
		g.names = append(g.names, identity)
		g.index[identity] = id
	}
	g.vectors = append(g.vectors, enc...)
	g.owner = append(g.owner, id)
	return nil
}

// Verification is the answer to "is this the claimed person?".
type Verification struct {
	Identity string
	Distance float64
	Accepted bool
}

// Verify compares enc with the claimed identity's encodings (the minimum
// distance over them).
func (g *Gallery) Verify(enc []float32, identity string) (Verification, error) {
	if err := g.checkQuery(enc); err != nil {
		return Verification{}, err
	}
	id, ok := g.index[identity]
	if !ok {
		return Verification{}, fmt.Errorf("%w: %q (gallery has %d identities)", ErrUnknownIdentity, identity, len(g.names))
	}
	best := math.Inf(1)
	for i, owner := range g.owner {
		if owner == id {
			best = math.Min(best, g.distance(enc, i))
		}
	}
	return Verification{Identity: identity, Distance: best, Accepted: best < g.threshold}, nil
}

// Candidate is one identity and its distance to a query.
type Candidate struct {
	Identity string
	Distance float64
}

// Identification is the answer to "who is it?".
type Identification struct {
	// Identity is the nearest identity, whether or not it is accepted.
	Identity string
	Distance float64
	Accepted bool
	// Margin is the runner-up's distance minus the nearest one's; +Inf when
	// the gallery holds a single identity.
	Margin float64
	// Candidates are the nearest identities, nearest first.
	Candidates []Candidate
}

// Identify finds the nearest identities to enc; k bounds Candidates (k < 1
// means 1). An identity's distance is the minimum over its encodings.
func (g *Gallery) Identify(enc []float32, k int) (Identification, error) {
	if err := g.checkQuery(enc); err != nil {
		return Identification{}, err
	}
	best := make([]float64, len(g.names))
	for i := range best {
		best[i] = math.Inf(1)
	}
	for i, owner := range g.owner {
		best[owner] = math.Min(best[owner], g.distance(enc, i))
	}
	order := make([]int, len(g.names))
	for i := range order {
		order[i] = i
	}
	// Ties go to the identity added first, so results do not depend on map order.
	sort.SliceStable(order, func(a, b int) bool { return best[order[a]] < best[order[b]] })
	if k < 1 {
		k = 1
	}
	k = min(k, len(order))
	res := Identification{
		Identity: g.names[order[0]],
		Distance: best[order[0]],
		Margin:   math.Inf(1),
	}
	res.Accepted = res.Distance < g.threshold
	if len(order) > 1 {
		res.Margin = best[order[1]] - best[order[0]]
	}
	for _, id := range order[:k] {
		res.Candidates = append(res.Candidates, Candidate{Identity: g.names[id], Distance: best[id]})
	}
	return res, nil
}

func (g *Gallery) checkQuery(enc []float32) error {
	if len(g.owner) == 0 {
		return ErrEmptyGallery
	}
	if len(enc) != g.dim {
		return fmt.Errorf("%w: query has %d values, gallery %d", ErrDimension, len(enc), g.dim)
	}
	return CheckUnit(enc)
}

// distance is the L2 distance between enc and stored encoding i.
func (g *Gallery) distance(enc []float32, i int) float64 {
	return Distance(enc, g.vectors[i*g.dim:(i+1)*g.dim])
}

// Distance is the Euclidean distance between a and b, which must have the
// same length (callers check).
func Distance(a, b []float32) float64 {
	var sum float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		sum += d * d
	}
	return math.Sqrt(sum)
}

// CheckUnit reports whether enc is a finite unit vector, as every
// encoding the matcher compares must be; the error wraps ErrInvalid.
func CheckUnit(enc []float32) error {
	if len(enc) == 0 {
		return fmt.Errorf("%w: empty encoding", ErrInvalid)
	}
	var sum float64
	for _, x := range enc {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%w: encoding holds %v", ErrInvalid, x)
		}
		sum += float64(x) * float64(x)
	}
	if n := math.Sqrt(sum); math.Abs(n-1) > unitTolerance {
		return fmt.Errorf("%w: encoding has length %.4f, want a unit vector", ErrInvalid, n)
	}
	return nil
}
