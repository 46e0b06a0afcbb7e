package evaluation

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Open-set (1:N) identification as NIST FRVT reports it (NIST IR 8271):
// a mated search is one whose identity the gallery holds, a non-mated one
// a stranger's. At a threshold, FNIR is the fraction of mated searches
// that do not name their own identity (the nearest is someone else, or it
// is rejected), FPIR the fraction of non-mated searches that name anyone.
// FPIR grows with the gallery's size at a fixed threshold: a stranger has
// more identities to fall near. So a threshold is chosen for a target FPIR
// on a gallery of the size it will search, not from 1:1 pairs.

// ErrNoSearches is returned by OpenSet when the trials hold no mated or
// no non-mated search: FNIR or FPIR would be undefined.
var ErrNoSearches = errors.New("evaluation: open-set identification needs mated and non-mated searches")

// Rule is how a search is decided: its nearest identity is accepted when
// the distance is strictly below the threshold and, with MinMargin > 0,
// the runner-up identity is at least MinMargin further (a face that lies
// about as near to two people names neither). A gallery of one identity
// has no runner-up: the margin rule passes.
type Rule struct {
	MinMargin float64
}

// String names the rule as the reports do.
func (r Rule) String() string {
	if r.MinMargin <= 0 {
		return "nearest"
	}
	return fmt.Sprintf("margin %.3g", r.MinMargin)
}

// critical is the threshold above which the search is accepted as the
// identity it names: the nearest distance, or +Inf when the rule never
// accepts it. right reports whether the nearest identity is its own.
func (r Rule) critical(t Trial) (c float64, right bool) {
	if len(t.Ranked) == 0 {
		return math.Inf(1), false
	}
	right = t.Ranked[0].Identity == t.Identity
	if len(t.Ranked) > 1 && t.Ranked[1].Distance-t.Ranked[0].Distance < r.MinMargin {
		return math.Inf(1), right
	}
	return t.Ranked[0].Distance, right
}

// OperatingPoint is the error rates at one threshold.
type OperatingPoint struct {
	Threshold  float64
	FPIR, FNIR float64
	// FalsePositives counts the non-mated searches accepted; Misses the
	// mated ones that did not name their identity.
	FalsePositives, Misses int
}

// OpenSetResult holds the decision thresholds of every search under one
// rule, so that any operating point costs a binary search.
type OpenSetResult struct {
	Rule            Rule
	Mated, NonMated int
	Rank1           float64 // mated searches whose nearest is right, at any distance
	mated, nonMated []float64
}

// OpenSet scores trials (Enrolled marks the mated searches) under rule.
// Each trial's Ranked must be nearest first and hold at least two
// identities for the margin rule to apply.
func OpenSet(trials []Trial, rule Rule) (*OpenSetResult, error) {
	res := &OpenSetResult{Rule: rule}
	right := 0
	for _, t := range trials {
		c, ok := rule.critical(t)
		if !t.Enrolled {
			res.nonMated = append(res.nonMated, c)
			continue
		}
		if ok {
			right++
		} else {
			c = math.Inf(1) // a wrong name is a miss at any threshold
		}
		res.mated = append(res.mated, c)
	}
	res.Mated, res.NonMated = len(res.mated), len(res.nonMated)
	if res.Mated == 0 || res.NonMated == 0 {
		return nil, fmt.Errorf("%w: %d mated, %d non-mated", ErrNoSearches, res.Mated, res.NonMated)
	}
	sort.Float64s(res.mated)
	sort.Float64s(res.nonMated)
	res.Rank1 = float64(right) / float64(res.Mated)
	return res, nil
}

// At is the operating point at threshold.
func (r *OpenSetResult) At(threshold float64) OperatingPoint {
	fp := countBelow(r.nonMated, threshold)
	hit := countBelow(r.mated, threshold)
	return OperatingPoint{
		Threshold: threshold,
		FPIR:      float64(fp) / float64(r.NonMated), FalsePositives: fp,
		FNIR: float64(r.Mated-hit) / float64(r.Mated), Misses: r.Mated - hit,
	}
}

// AtFPIR is the operating point at ThresholdForFPIR of the non-mated
// searches.
func (r *OpenSetResult) AtFPIR(target float64) OperatingPoint {
	return r.At(ThresholdForFPIR(r.nonMated, target))
}

// ThresholdForFPIR is the largest threshold at which at most target of
// the non-mated searches are accepted, given the distance above which each
// one is (sorted ascending; +Inf for one never accepted): floor(target x
// searches) strangers may be named, so the threshold is the next one's
// distance (a search is accepted strictly below it), capped at 2, the
// largest distance between unit encodings. With fewer searches than
// 1/target none may be named, and the estimate rests on the nearest
// stranger alone.
func ThresholdForFPIR(sorted []float64, target float64) float64 {
	k := int(math.Floor(target*float64(len(sorted)) + 1e-9))
	if k < len(sorted) {
		return math.Min(sorted[k], 2)
	}
	return 2
}

// DET is the detection error tradeoff: an operating point at every
// distinct stranger distance (where FPIR steps), at most n of them, evenly
// spaced in rank, FPIR descending. The first point accepts every stranger
// the rule ever accepts.
func (r *OpenSetResult) DET(n int) []OperatingPoint {
	finite := r.nonMated[:countBelow(r.nonMated, math.Inf(1))]
	if len(finite) == 0 || n < 2 {
		return []OperatingPoint{r.At(2)}
	}
	var pts []OperatingPoint
	step := max(1, len(finite)/n)
	for i := len(finite); i > 0; i -= step {
		// Just above the i-th stranger: i of them accepted (fewer on ties).
		pts = append(pts, r.At(math.Nextafter(finite[i-1], math.Inf(1))))
	}
	pts = append(pts, r.At(finite[0]))
	return slices.CompactFunc(pts, func(a, b OperatingPoint) bool { return a.Threshold == b.Threshold })
}

// countBelow counts the values of sorted strictly below t.
func countBelow(sorted []float64, t float64) int {
	return sort.SearchFloat64s(sorted, t)
}
