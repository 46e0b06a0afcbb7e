// Package cluster groups face encodings by identity, without a gallery: the
// faces that matched nobody are clustered so that a person seen many times
// can be named once.
//
// Two faces are neighbours when the L2 distance between their unit
// encodings is below a threshold, calibrated like the match threshold. The
// neighbour graph keeps each face's nearest neighbours only (memory O(n·k),
// never O(n²)), computed tile by tile over all pairs, or, for many faces,
// within cells of similar faces (see Train and Search). Clusters are then
// found by Chinese whispers (Biemann 2006, the method dlib uses for face
// clustering): every face repeatedly takes the label that weighs most among
// its neighbours. Unlike linking every pair under the threshold (single
// linkage), one stray edge between two people does not merge them: a face
// needs most of its neighbourhood on the other side to change sides.
//
// The result depends only on the input, never on timing: faces are visited
// in a fixed pseudo-random order and every tie has a fixed winner.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/facebatch/facebatch/matcher"
)

// Defaults.
const (
	// DefaultMaxNeighbors is k, the neighbours kept per face. More than
	// enough for Chinese whispers, whose votes are dominated by the
	// nearest faces; it bounds memory at 100k faces to about 40 MB.
	DefaultMaxNeighbors = 32
	// maxPasses bounds the label-propagation passes; they usually settle
	// in under 20.
	maxPasses = 100
)

// ErrInvalid means an encoding is not a finite unit vector, the encodings
// differ in length, or an option is out of range.
var ErrInvalid = errors.New("cluster: invalid input")

// Options tune Group.
type Options struct {
	// Threshold is the L2 distance under which two faces are neighbours, in
	// (0, 2].
	Threshold float64
	// MaxNeighbors is k, the nearest neighbours kept per face (0: the default).
	MaxNeighbors int
	// Workers bounds the goroutines computing distances (0: GOMAXPROCS).
	Workers int
	// Partitions is the number of cells the neighbour search is split
	// into (see Train): 1 searches all pairs, exactly; 0 means
	// PartitionsFor(n). Probes is how many nearest cells each face
	// searches (0: DefaultProbes).
	Partitions, Probes int
}

// Cluster is one group of faces.
type Cluster struct {
	// Members are indexes into Group's input, ascending.
	Members []int
	// Medoid is the member with the smallest sum of squared distances to
	// the others (for unit vectors: the one nearest the members' mean).
	Medoid int
}

// Result is a clustering.
type Result struct {
	// Labels[i] is the cluster of input i: an index into Clusters.
	Labels []int
	// Clusters are ordered by size, largest first, then by medoid index, so
	// the numbering is the same for the same input.
	Clusters []Cluster
}

// Group clusters unit encodings. Every encoding gets a cluster; one with no
// neighbour is a cluster of its own.
func Group(ctx context.Context, encs [][]float32, opt Options) (*Result, error) {
	if !(opt.Threshold > 0 && opt.Threshold <= 2) {
		return nil, fmt.Errorf("%w: threshold %v outside (0, 2]", ErrInvalid, opt.Threshold)
	}
	if opt.MaxNeighbors < 0 || opt.Workers < 0 || opt.Partitions < 0 || opt.Probes < 0 {
		return nil, fmt.Errorf("%w: negative option", ErrInvalid)
	}
	if opt.MaxNeighbors == 0 {
		opt.MaxNeighbors = DefaultMaxNeighbors
	}
	n := len(encs)
	if n == 0 {
		return &Result{}, nil
	}
	dim := len(encs[0])
	x := make([]float32, 0, n*dim)
	for i, e := range encs {
		if len(e) != dim {
			return nil, fmt.Errorf("%w: encoding %d has %d values, encoding 0 has %d", ErrInvalid, i, len(e), dim)
		}
		if err := matcher.CheckUnit(e); err != nil {
			return nil, fmt.Errorf("%w: encoding %d: %v", ErrInvalid, i, err)
		}
		x = append(x, e...)
	}
	// d < t  ⇔  2 - 2·dot < t²  ⇔  dot > 1 - t²/2
	minDot := float32(1 - opt.Threshold*opt.Threshold/2)
	if opt.Partitions == 0 {
		opt.Partitions = PartitionsFor(n)
	}
	if opt.Probes == 0 {
		opt.Probes = DefaultProbes
	}
	var near [][]edge
	var err error
	if opt.Partitions == 1 {
		near, err = neighbors(ctx, x, dim, opt.MaxNeighbors, minDot, opt.Workers)
	} else {
		near, err = partitionedNeighbors(ctx, x, dim, opt.MaxNeighbors, minDot, opt.Partitions, opt.Probes)
	}
	if err != nil {
		return nil, err
	}
	labels := whispers(symmetric(near), minDot)
	return result(labels, x, dim), nil
}

// Labels clusters a neighbour graph built elsewhere (by Search over the
// cells of an Index, say, on many workers): near[i] are node i's
// neighbours by node index, with their dot products, all above the
// threshold's. It returns each node's cluster, numbered by Chinese
// whispers' label (the index of one node of the cluster).
func Labels(near [][]Neighbor, threshold float64) ([]int32, error) {
	if !(threshold > 0 && threshold <= 2) {
		return nil, fmt.Errorf("%w: threshold %v outside (0, 2]", ErrInvalid, threshold)
	}
	es := make([][]edge, len(near))
	for i, ns := range near {
		es[i] = make([]edge, len(ns))
		for j, nb := range ns {
			if nb.Row < 0 || nb.Row >= len(near) || nb.Row == i {
				return nil, fmt.Errorf("%w: node %d has neighbour %d of %d nodes", ErrInvalid, i, nb.Row, len(near))
			}
			es[i][j] = edge{int32(nb.Row), nb.Dot}
		}
	}
	return whispers(symmetric(es), float32(1-threshold*threshold/2)), nil
}

// Medoid is the index of the encoding nearest the others (see Cluster);
// ties go to the lower index.
func Medoid(encs [][]float32) int {
	if len(encs) == 0 {
		return -1
	}
	dim := len(encs[0])
	x := make([]float32, 0, len(encs)*dim)
	members := make([]int, len(encs))
	for i, e := range encs {
		x = append(x, e[:dim]...)
		members[i] = i
	}
	return medoid(members, x, dim)
}

// symmetric turns the nearest-neighbour lists into an undirected graph: j
// is i's neighbour when either kept the other. Lists are sorted by index.
func symmetric(near [][]edge) [][]edge {
	adj := make([][]edge, len(near))
	for i, es := range near {
		adj[i] = append(adj[i], es...)
		for _, e := range es {
			adj[e.to] = append(adj[e.to], edge{int32(i), e.dot})
		}
	}
	for i, es := range adj {
		slices.SortFunc(es, func(a, b edge) int { return int(a.to) - int(b.to) })
		adj[i] = slices.CompactFunc(es, func(a, b edge) bool { return a.to == b.to })
	}
	return adj
}

// whispers runs Chinese whispers on the graph and returns each node's
// label (the index of some node of its cluster). An edge weighs more the
// nearer its faces: (dot - minDot) / (1 - minDot), from 0 at the threshold
// to 1 for identical encodings.
func whispers(adj [][]edge, minDot float32) []int32 {
	n := len(adj)
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(i)
	}
	scale := 1 / (1 - float64(minDot))
	weight := make([]float64, n) // by label, reset after each node
	var touched []int32
	// A fixed seed: the visiting order is pseudo-random, which keeps the
	// propagation from sweeping one way, yet the same on every run.
	rng := rand.New(rand.NewPCG(0x6661636562617463, 0x68636c7573746572))
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	for pass := 0; pass < maxPasses; pass++ {
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		changed := 0
		for _, v := range order {
			if len(adj[v]) == 0 {
				continue
			}
			touched = touched[:0]
			for _, e := range adj[v] {
				l := labels[e.to]
				if weight[l] == 0 {
					touched = append(touched, l)
				}
				weight[l] += (float64(e.dot) - float64(minDot)) * scale
			}
			best, bestW := labels[v], -1.0
			for _, l := range touched {
				if w := weight[l]; w > bestW || (w == bestW && l < best) {
					best, bestW = l, w
				}
				weight[l] = 0
			}
			if best != labels[v] {
				labels[v] = best
				changed++
			}
		}
		if changed == 0 {
			break
		}
	}
	return labels
}

// result numbers the clusters (largest first, then by medoid) and finds
// their medoids.
func result(labels []int32, x []float32, dim int) *Result {
	byLabel := map[int32][]int{}
	for i, l := range labels {
		byLabel[l] = append(byLabel[l], i)
	}
	clusters := make([]Cluster, 0, len(byLabel))
	for _, members := range byLabel {
		clusters = append(clusters, Cluster{Members: members, Medoid: medoid(members, x, dim)})
	}
	slices.SortFunc(clusters, func(a, b Cluster) int {
		if len(a.Members) != len(b.Members) {
			return len(b.Members) - len(a.Members)
		}
		return a.Medoid - b.Medoid
	})
	res := &Result{Labels: make([]int, len(labels)), Clusters: clusters}
	for c, cl := range clusters {
		for _, i := range cl.Members {
			res.Labels[i] = c
		}
	}
	return res
}

// medoid is the member whose summed dot product with the others is the
// largest: for unit vectors, sum_j |a_i - a_j|² = 2m - 2·a_i·S, so it is
// also the member with the smallest sum of squared distances. O(m·dim).
func medoid(members []int, x []float32, dim int) int {
	if len(members) == 1 {
		return members[0]
	}
	sum := make([]float64, dim)
	for _, i := range members {
		for k, v := range x[i*dim : (i+1)*dim] {
			sum[k] += float64(v)
		}
	}
	best, bestDot := members[0], math.Inf(-1)
	for _, i := range members { // ascending, so ties go to the lowest index
		var d float64
		for k, v := range x[i*dim : (i+1)*dim] {
			d += float64(v) * sum[k]
		}
		if d > bestDot {
			best, bestDot = i, d
		}
	}
	return best
}
