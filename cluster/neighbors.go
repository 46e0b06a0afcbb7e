package cluster

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/facebatch/facebatch/matcher"
)

// blockRows is the side of the square tiles the distance computation walks:
// two 256x128 float32 blocks and their 256x256 dot products stay in a core's
// L2 cache.
const blockRows = 256

// edge is one neighbour of a face: its index and the dot product of the two
// unit encodings (d² = 2 - 2·dot).
type edge struct {
	to  int32
	dot float32
}

// better is the total order on a face's neighbours: nearer first, and the
// lower index on equal distances, so the kept set never depends on the
// order in which the workers found them.
func better(a, b edge) bool {
	return a.dot > b.dot || (a.dot == b.dot && a.to < b.to)
}

// nearest keeps up to k best edges as a heap whose root is the worst kept.
type nearest struct {
	k     int
	edges []edge
}

func (h *nearest) add(e edge) {
	if len(h.edges) < h.k {
		h.edges = append(h.edges, e)
		h.up(len(h.edges) - 1)
		return
	}
	if !better(e, h.edges[0]) {
		return
	}
	h.edges[0] = e
	h.down(0)
}

func (h *nearest) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !better(h.edges[p], h.edges[i]) {
			return
		}
		h.edges[p], h.edges[i] = h.edges[i], h.edges[p]
		i = p
	}
}

func (h *nearest) down(i int) {
	n := len(h.edges)
	for {
		worst, l, r := i, 2*i+1, 2*i+2
		if l < n && better(h.edges[worst], h.edges[l]) {
			worst = l
		}
		if r < n && better(h.edges[worst], h.edges[r]) {
			worst = r
		}
		if worst == i {
			return
		}
		h.edges[i], h.edges[worst] = h.edges[worst], h.edges[i]
		i = worst
	}
}

// neighbors returns, for each of the n encodings stored back to back in x
// (dim values each), its at most k nearest other encodings with a dot
// product above minDot, best first. It computes every pair once, tile by
// tile, on workers goroutines; memory is O(n·k) beyond the input.
func neighbors(ctx context.Context, x []float32, dim, k int, minDot float32, workers int) ([][]edge, error) {
	n := len(x) / dim
	heaps := make([]nearest, n)
	for i := range heaps {
		heaps[i].k = k
	}
	blocks := (n + blockRows - 1) / blockRows
	locks := make([]sync.Mutex, blocks)
	// Tiles (I, J) with J >= I, numbered row by row.
	type tile struct{ i, j int }
	tiles := make([]tile, 0, blocks*(blocks+1)/2)
	for i := 0; i < blocks; i++ {
		for j := i; j < blocks; j++ {
			tiles = append(tiles, tile{i, j})
		}
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(workers, len(tiles)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dots := make([]float32, blockRows*blockRows)
			var rowHits, colHits []hit
			for {
				t := next.Add(1) - 1
				if int(t) >= len(tiles) || ctx.Err() != nil {
					return
				}
				i0, j0 := tiles[t].i*blockRows, tiles[t].j*blockRows
				i1, j1 := min(i0+blockRows, n), min(j0+blockRows, n)
				matcher.Dots(dots[:(i1-i0)*(j1-j0)], x[i0*dim:i1*dim], x[j0*dim:j1*dim], dim)
				rowHits, colHits = rowHits[:0], colHits[:0]
				cols := j1 - j0
				for i := i0; i < i1; i++ {
					row := dots[(i-i0)*cols : (i-i0+1)*cols]
					start := j0
					if i0 == j0 { // a diagonal tile: each pair once, no self pairs
						start = i + 1
					}
					for j := start; j < j1; j++ {
						if d := row[j-j0]; d > minDot {
							rowHits = append(rowHits, hit{i, edge{int32(j), d}})
							colHits = append(colHits, hit{j, edge{int32(i), d}})
						}
					}
				}
				apply(heaps, &locks[tiles[t].i], rowHits)
				apply(heaps, &locks[tiles[t].j], colHits)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]edge, n)
	for i := range heaps {
		e := heaps[i].edges
		sortEdges(e)
		out[i] = e
	}
	return out, nil
}

// hit is an edge found for face at.
type hit struct {
	at int
	e  edge
}

func apply(heaps []nearest, mu *sync.Mutex, hits []hit) {
	if len(hits) == 0 {
		return
	}
	mu.Lock()
	for _, h := range hits {
		heaps[h.at].add(h.e)
	}
	mu.Unlock()
}

// sortEdges orders edges best first (insertion sort: k is small).
func sortEdges(e []edge) {
	for i := 1; i < len(e); i++ {
		for j := i; j > 0 && better(e[j], e[j-1]); j-- {
			e[j], e[j-1] = e[j-1], e[j]
		}
	}
}
