package matcher

import (
	"container/heap"
	"fmt"
	"runtime"
	"sync"
)

// A Scorer holds a base matrix of unit vectors and finds, for a block of
// query vectors, the base rows with the largest dot products. For unit
// vectors that is the nearest rows, since |a-b|² = 2 - 2·a·b: a whole
// gallery scan becomes one matrix product, which is what CPUs and GPUs do
// fastest.
type Scorer interface {
	// TopDots returns, for each of the len(queries)/dim query rows, the m
	// base rows with the largest dot products, largest first: dots[i*m+j]
	// and rows[i*m+j]. Rows past the base's length are -1.
	TopDots(queries []float32, m int) (dots []float32, rows []int32, err error)
	// Close releases what the scorer holds (a TensorFlow session, say).
	Close() error
}

// NewScorerFunc makes a Scorer over base, a row-major matrix of dim columns.
// base must not change while the scorer is in use.
type NewScorerFunc func(base []float32, dim int) (Scorer, error)

// NewScorer is the pure-Go scorer: a blocked product over base on all
// cores, keeping each query's best rows in a heap. It needs nothing outside
// Go; package gemm offers one on TensorFlow's matrix kernels, many times
// faster on a large base.
func NewScorer(base []float32, dim int) (Scorer, error) {
	if dim <= 0 || len(base)%dim != 0 {
		return nil, fmt.Errorf("%w: base of %d values is not a matrix of %d columns", ErrDimension, len(base), dim)
	}
	return &goScorer{base: base, dim: dim}, nil
}

type goScorer struct {
	base []float32
	dim  int
}

func (s *goScorer) Close() error { return nil }

// blockRows is how many base rows are scored against a query block at a
// time: 256 rows of 128 floats (128 KB) stay in L2 while every query of
// the block passes over them.
const (
	blockRows    = 256
	queryBlock   = 4
	minParallels = 8 // queries per goroutine, at least
)

func (s *goScorer) TopDots(queries []float32, m int) ([]float32, []int32, error) {
	if len(queries)%s.dim != 0 {
		return nil, nil, fmt.Errorf("%w: queries of %d values are not rows of %d", ErrDimension, len(queries), s.dim)
	}
	if m < 1 {
		return nil, nil, fmt.Errorf("%w: m = %d", ErrInvalid, m)
	}
	nq := len(queries) / s.dim
	dots := make([]float32, nq*m)
	rows := make([]int32, nq*m)
	workers := min(runtime.GOMAXPROCS(0), max(1, nq/minParallels))
	per := (nq + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < nq; lo += per {
		hi := min(lo+per, nq)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.topDots(queries[lo*s.dim:hi*s.dim], m, dots[lo*m:hi*m], rows[lo*m:hi*m])
		}()
	}
	wg.Wait()
	return dots, rows, nil
}

// topDots scores a share of the queries, queryBlock at a time.
func (s *goScorer) topDots(queries []float32, m int, dots []float32, rows []int32) {
	dim := s.dim
	nq := len(queries) / dim
	nb := len(s.base) / dim
	heaps := make([]topHeap, queryBlock)
	scores := make([]float32, queryBlock*blockRows)
	for q0 := 0; q0 < nq; q0 += queryBlock {
		qn := min(queryBlock, nq-q0)
		for i := range qn {
			heaps[i] = heaps[i][:0]
		}
		for b0 := 0; b0 < nb; b0 += blockRows {
			bn := min(blockRows, nb-b0)
			Dots(scores[:qn*bn], queries[q0*dim:(q0+qn)*dim], s.base[b0*dim:(b0+bn)*dim], dim)
			for i := range qn {
				h := &heaps[i]
				for j, v := range scores[i*bn : (i+1)*bn] {
					if len(*h) < m {
						heap.Push(h, scored{v, int32(b0 + j)})
					} else if v > (*h)[0].dot {
						(*h)[0] = scored{v, int32(b0 + j)}
						heap.Fix(h, 0)
					}
				}
			}
		}
		for i := range qn {
			out := (q0 + i) * m
			h := &heaps[i]
			for j := m - 1; j >= 0; j-- {
				if len(*h) == 0 {
					dots[out+j], rows[out+j] = 0, -1
					continue
				}
				top := heap.Pop(h).(scored)
				dots[out+j], rows[out+j] = top.dot, top.row
			}
			// Pop gives the smallest first, so the kept rows landed at the
			// end; move the -1 padding behind them.
			compact(dots[out:out+m], rows[out:out+m])
		}
	}
}

// compact moves rows of -1 to the end, keeping the others' order.
func compact(dots []float32, rows []int32) {
	k := 0
	for i, r := range rows {
		if r >= 0 {
			dots[k], rows[k] = dots[i], r
			k++
		}
	}
	for ; k < len(rows); k++ {
		dots[k], rows[k] = 0, -1
	}
}

// Dots sets dst[i*nb+j] to the dot product of row i of a and row j of b,
// both row-major with dim columns (nb = len(b)/dim). Four rows of a are
// taken against each row of b at once, so each value of b loaded from
// memory serves four products.
func Dots(dst, a, b []float32, dim int) {
	na, nb := len(a)/dim, len(b)/dim
	i := 0
	for ; i+4 <= na; i += 4 {
		a0, a1, a2, a3 := a[i*dim:(i+1)*dim], a[(i+1)*dim:(i+2)*dim], a[(i+2)*dim:(i+3)*dim], a[(i+3)*dim:(i+4)*dim]
		for j := range nb {
			bj := b[j*dim : (j+1)*dim]
			bj = bj[:len(a0)]
			var s0, s1, s2, s3 float32
			for k, v := range bj {
				s0 += a0[k] * v
				s1 += a1[k] * v
				s2 += a2[k] * v
				s3 += a3[k] * v
			}
			dst[i*nb+j], dst[(i+1)*nb+j], dst[(i+2)*nb+j], dst[(i+3)*nb+j] = s0, s1, s2, s3
		}
	}
	for ; i < na; i++ {
		ai := a[i*dim : (i+1)*dim]
		for j := range nb {
			bj := b[j*dim : (j+1)*dim]
			bj = bj[:len(ai)]
			var s float32
			for k, v := range bj {
				s += ai[k] * v
			}
			dst[i*nb+j] = s
		}
	}
}

type scored struct {
	dot float32
	row int32
}

// topHeap is a min-heap on dot: its root is the weakest of the best so far.
type topHeap []scored

func (h topHeap) Len() int { return len(h) }
func (h topHeap) Less(i, j int) bool {
	if h[i].dot != h[j].dot {
		return h[i].dot < h[j].dot
	}
	return h[i].row > h[j].row // on ties, keep the earlier row
}
func (h topHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *topHeap) Push(x any)   { *h = append(*h, x.(scored)) }
func (h *topHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
