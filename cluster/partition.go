package cluster

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/facebatch/facebatch/matcher"
)

// Partitioned search: the faces are split into cells by their nearest
// coarse centroid (spherical k-means on a sample), and each face looks for
// its neighbours only among the faces of its few nearest cells. A pair
// under the threshold is found when either face probes the other's cell,
// which for faces that close is nearly always: the cost falls from n² dot
// products to about n·Probes·n/Partitions, and the cells are independent
// units of work (what the Beam job spreads over workers).
const (
	// DefaultCellFaces is the faces per cell PartitionsFor aims at: small
	// enough that a face probes a few thousand others, large enough that
	// a person's faces rarely straddle more cells than are probed.
	DefaultCellFaces = 2000
	// ExactMaxFaces is the most faces PartitionsFor leaves to the exact
	// all-pairs search: 50k faces take about a minute on two cores.
	ExactMaxFaces = 50_000
	// DefaultProbes is how many nearest cells a face searches.
	DefaultProbes = 8
	// SamplePerCell is how many sample faces train each centroid.
	SamplePerCell = 32
	// kmeansPasses bounds Lloyd's iterations; the cells only need to be
	// compact, not converged.
	kmeansPasses = 8
)

// PartitionsFor is the default number of cells for n faces: 1 (the exact
// search) up to ExactMaxFaces, then one per DefaultCellFaces.
func PartitionsFor(n int) int {
	if n <= ExactMaxFaces {
		return 1
	}
	return (n + DefaultCellFaces - 1) / DefaultCellFaces
}

// An Index holds the coarse centroids faces are partitioned by.
type Index struct {
	centroids []float32 // unit rows, back to back
	dim       int
}

// Train fits k centroids to sample (unit encodings, dim values each, back
// to back) by spherical k-means: Lloyd's iterations, each centroid the
// normalised mean of its faces. The start is k sample faces drawn with a
// fixed seed, so the same sample gives the same index.
func Train(ctx context.Context, sample []float32, dim, k int) (*Index, error) {
	if dim <= 0 || len(sample)%dim != 0 {
		return nil, fmt.Errorf("%w: sample of %d values is not rows of %d", ErrInvalid, len(sample), dim)
	}
	n := len(sample) / dim
	if k < 1 || k > n {
		return nil, fmt.Errorf("%w: %d centroids from %d sample faces", ErrInvalid, k, n)
	}
	rng := rand.New(rand.NewPCG(0x63656c6c73, uint64(n)))
	c := make([]float32, 0, k*dim)
	for _, i := range rng.Perm(n)[:k] {
		c = append(c, sample[i*dim:(i+1)*dim]...)
	}
	ix := &Index{centroids: c, dim: dim}
	assign := make([]int32, n)
	sums := make([]float64, k*dim)
	for pass := 0; pass < kmeansPasses; pass++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ix.nearestAll(sample, assign)
		clear(sums)
		for i, a := range assign {
			s := sums[int(a)*dim : (int(a)+1)*dim]
			for j, v := range sample[i*dim : (i+1)*dim] {
				s[j] += float64(v)
			}
		}
		for a := range k {
			s := sums[a*dim : (a+1)*dim]
			var norm float64
			for _, v := range s {
				norm += v * v
			}
			if norm == 0 { // an empty cell keeps its centroid
				continue
			}
			norm = math.Sqrt(norm)
			for j, v := range s {
				c[a*dim+j] = float32(v / norm)
			}
		}
	}
	return ix, nil
}

// Cells is the number of centroids.
func (ix *Index) Cells() int { return len(ix.centroids) / ix.dim }

// Centroids returns the centroids, back to back (not to be modified).
func (ix *Index) Centroids() []float32 { return ix.centroids }

// NewIndex wraps centroids made by Train (say, passed to Beam workers).
func NewIndex(centroids []float32, dim int) (*Index, error) {
	if dim <= 0 || len(centroids) == 0 || len(centroids)%dim != 0 {
		return nil, fmt.Errorf("%w: %d centroid values are not rows of %d", ErrInvalid, len(centroids), dim)
	}
	return &Index{centroids: centroids, dim: dim}, nil
}

// nearestAll sets assign[i] to the cell nearest row i of x.
func (ix *Index) nearestAll(x []float32, assign []int32) {
	k := ix.Cells()
	n := len(x) / ix.dim
	parallel(n, blockRows, func(lo, hi int) {
		dots := make([]float32, (hi-lo)*k)
		matcher.Dots(dots, x[lo*ix.dim:hi*ix.dim], ix.centroids, ix.dim)
		for i := lo; i < hi; i++ {
			row := dots[(i-lo)*k : (i-lo+1)*k]
			best := 0
			for c, d := range row {
				if d > row[best] {
					best = c
				}
			}
			assign[i] = int32(best)
		}
	})
}

// Probe returns the m cells nearest enc, nearest first (ties to the lower
// cell): the first is enc's own cell.
func (ix *Index) Probe(enc []float32, m int) []int {
	k := ix.Cells()
	dots := make([]float32, k)
	matcher.Dots(dots, enc, ix.centroids, ix.dim)
	cells := make([]int, k)
	for i := range cells {
		cells[i] = i
	}
	slices.SortStableFunc(cells, func(a, b int) int {
		switch {
		case dots[a] > dots[b]:
			return -1
		case dots[a] < dots[b]:
			return 1
		}
		return 0
	})
	return cells[:min(m, k)]
}

// Neighbor is a base row found by Search and its dot product with the query.
type Neighbor struct {
	Row int
	Dot float32
}

// Search finds, for each query row, its at most k nearest base rows with a
// dot product above minDot, best first (ties to the lower row); skip(q, b)
// leaves a pair out (a face is in the base of its own cell).
func Search(ctx context.Context, queries, base []float32, dim, k int, minDot float32, skip func(q, b int) bool) ([][]Neighbor, error) {
	found, err := search(ctx, queries, base, dim, k, minDot, skip)
	if err != nil {
		return nil, err
	}
	out := make([][]Neighbor, len(found))
	for q, es := range found {
		out[q] = make([]Neighbor, len(es))
		for i, e := range es {
			out[q][i] = Neighbor{int(e.to), e.dot}
		}
	}
	return out, nil
}

// search is Search in edges. Each worker takes whole blocks of queries, so
// no heap is shared.
func search(ctx context.Context, queries, base []float32, dim, k int, minDot float32, skip func(q, b int) bool) ([][]edge, error) {
	nq, nb := len(queries)/dim, len(base)/dim
	out := make([][]edge, nq)
	parallel(nq, blockRows, func(lo, hi int) {
		if ctx.Err() != nil {
			return
		}
		heaps := make([]nearest, hi-lo)
		for i := range heaps {
			heaps[i].k = k
		}
		dots := make([]float32, (hi-lo)*blockRows)
		for b0 := 0; b0 < nb; b0 += blockRows {
			b1 := min(b0+blockRows, nb)
			cols := b1 - b0
			matcher.Dots(dots[:(hi-lo)*cols], queries[lo*dim:hi*dim], base[b0*dim:b1*dim], dim)
			for q := lo; q < hi; q++ {
				row := dots[(q-lo)*cols : (q-lo+1)*cols]
				for j, d := range row {
					if d > minDot && !skip(q, b0+j) {
						heaps[q-lo].add(edge{int32(b0 + j), d})
					}
				}
			}
		}
		for q := lo; q < hi; q++ {
			e := heaps[q-lo].edges
			sortEdges(e)
			out[q] = e
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// parallel runs f over [0, n) in blocks of size on GOMAXPROCS goroutines.
func parallel(n, size int, f func(lo, hi int)) {
	blocks := (n + size - 1) / size
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), blocks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= blocks {
					return
				}
				f(b*size, min((b+1)*size, n))
			}
		}()
	}
	wg.Wait()
}

// partitionedNeighbors is neighbors by cells: it trains the index on an
// even sample of x, puts each face in the base of its nearest cell and
// among the queries of its probes nearest, and merges each face's edges
// over its probes. With one cell it is the exact search.
func partitionedNeighbors(ctx context.Context, x []float32, dim, k int, minDot float32, cells, probes int) ([][]edge, error) {
	n := len(x) / dim
	cells = min(cells, n)
	stride := max(1, n/(cells*SamplePerCell))
	var sample []float32
	for i := 0; i < n; i += stride {
		sample = append(sample, x[i*dim:(i+1)*dim]...)
	}
	ix, err := Train(ctx, sample, dim, cells)
	if err != nil {
		return nil, err
	}
	base := make([][]int32, cells)   // faces whose own cell it is
	probed := make([][]int32, cells) // faces searching it
	for i := range n {
		for j, c := range ix.Probe(x[i*dim:(i+1)*dim], probes) {
			if j == 0 {
				base[c] = append(base[c], int32(i))
			}
			probed[c] = append(probed[c], int32(i))
		}
	}
	heaps := make([]nearest, n)
	for i := range heaps {
		heaps[i].k = k
	}
	for c := range cells {
		if len(base[c]) == 0 {
			continue
		}
		q, b := gather(x, dim, probed[c]), gather(x, dim, base[c])
		found, err := search(ctx, q, b, dim, k, minDot, func(qi, bi int) bool { return probed[c][qi] == base[c][bi] })
		if err != nil {
			return nil, err
		}
		for qi, es := range found {
			h := &heaps[probed[c][qi]]
			for _, e := range es {
				h.add(edge{base[c][e.to], e.dot})
			}
		}
	}
	out := make([][]edge, n)
	for i := range heaps {
		sortEdges(heaps[i].edges)
		out[i] = heaps[i].edges
	}
	return out, nil
}

// gather copies the rows of x at idx back to back.
func gather(x []float32, dim int, idx []int32) []float32 {
	out := make([]float32, 0, len(idx)*dim)
	for _, i := range idx {
		out = append(out, x[int(i)*dim:(int(i)+1)*dim]...)
	}
	return out
}
