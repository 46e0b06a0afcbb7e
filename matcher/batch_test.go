package matcher_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"testing"

	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/matcher/matchertest"
)

func TestDots(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, tt := range []struct{ na, nb, dim int }{{1, 1, 1}, {3, 5, 7}, {4, 4, 128}, {9, 13, 128}} {
		a := make([]float32, tt.na*tt.dim)
		b := make([]float32, tt.nb*tt.dim)
		for i := range a {
			a[i] = float32(r.NormFloat64())
		}
		for i := range b {
			b[i] = float32(r.NormFloat64())
		}
		got := make([]float32, tt.na*tt.nb)
		matcher.Dots(got, a, b, tt.dim)
		for i := range tt.na {
			for j := range tt.nb {
				var want float64
				for k := range tt.dim {
					want += float64(a[i*tt.dim+k]) * float64(b[j*tt.dim+k])
				}
				if d := math.Abs(float64(got[i*tt.nb+j]) - want); d > 1e-4*math.Sqrt(float64(tt.dim)) {
					t.Errorf("%dx%dx%d: dot(%d,%d) = %v, want %v", tt.na, tt.nb, tt.dim, i, j, got[i*tt.nb+j], want)
				}
			}
		}
	}
}

func TestScorerTopDots(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	const dim = 16
	for _, tt := range []struct{ nbase, nq, m int }{{1, 1, 1}, {5, 3, 8}, {300, 17, 5}, {1000, 40, 16}} {
		t.Run(fmt.Sprintf("base=%d/q=%d/m=%d", tt.nbase, tt.nq, tt.m), func(t *testing.T) {
			var base, queries []float32
			for range tt.nbase {
				base = append(base, matchertest.RandomUnit(r, dim)...)
			}
			for range tt.nq {
				queries = append(queries, matchertest.RandomUnit(r, dim)...)
			}
			s, err := matcher.NewScorer(base, dim)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			dots, rows, err := s.TopDots(queries, tt.m)
			if err != nil {
				t.Fatal(err)
			}
			all := make([]float32, tt.nq*tt.nbase)
			matcher.Dots(all, queries, base, dim)
			for q := range tt.nq {
				order := make([]int, tt.nbase)
				for i := range order {
					order[i] = i
				}
				row := all[q*tt.nbase : (q+1)*tt.nbase]
				sort.SliceStable(order, func(a, b int) bool { return row[order[a]] > row[order[b]] })
				for j := range tt.m {
					gotRow, gotDot := rows[q*tt.m+j], dots[q*tt.m+j]
					if j >= tt.nbase {
						if gotRow != -1 {
							t.Errorf("query %d rank %d: row %d, want -1 padding", q, j, gotRow)
						}
						continue
					}
					if int(gotRow) != order[j] || gotDot != row[order[j]] {
						t.Errorf("query %d rank %d: row %d (%v), want %d (%v)", q, j, gotRow, gotDot, order[j], row[order[j]])
					}
				}
			}
		})
	}
}

func TestScorerErrors(t *testing.T) {
	if _, err := matcher.NewScorer(make([]float32, 5), 2); !errors.Is(err, matcher.ErrDimension) {
		t.Errorf("ragged base: %v", err)
	}
	s, err := matcher.NewScorer(make([]float32, 4), 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.TopDots(make([]float32, 3), 1); !errors.Is(err, matcher.ErrDimension) {
		t.Errorf("ragged queries: %v", err)
	}
	if _, _, err := s.TopDots(make([]float32, 2), 0); !errors.Is(err, matcher.ErrInvalid) {
		t.Errorf("m = 0: %v", err)
	}
}

// TestIdentifyBatchAgrees checks the batched, matrix-product path against
// the per-pair Identify on galleries where identities have several
// encodings, for every k.
func TestIdentifyBatchAgrees(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	const dim = 32
	for _, tt := range []struct{ ids, per int }{{1, 1}, {2, 3}, {7, 1}, {50, 4}, {400, 2}} {
		g := mustGallery(t, 1.1)
		for id := range tt.ids {
			center := matchertest.RandomUnit(r, dim)
			for range 1 + r.Intn(tt.per) {
				v := make([]float32, dim)
				noise := matchertest.RandomUnit(r, dim)
				for i := range v {
					v[i] = center[i] + 0.5*noise[i]
				}
				mustAdd(t, g, fmt.Sprint("id", id), unitOf(v))
			}
		}
		var queries [][]float32
		for range 25 {
			queries = append(queries, matchertest.RandomUnit(r, dim))
		}
		for _, k := range []int{0, 1, 3, 10} {
			got, err := g.IdentifyBatch(queries, k)
			if err != nil {
				t.Fatal(err)
			}
			for q, enc := range queries {
				want, err := g.Identify(enc, k)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got[q]) != fmt.Sprint(want) {
					t.Errorf("ids=%d k=%d query %d:\n got %+v\nwant %+v", tt.ids, k, q, got[q], want)
				}
			}
		}
	}
}

func TestIdentifyBatchAfterAdd(t *testing.T) {
	g := identifyGallery(t)
	q := unit2(100)
	before, err := g.IdentifyBatch([][]float32{q}, 1)
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, g, "newcomer", unit2(100))
	after, err := g.IdentifyBatch([][]float32{q}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if after[0].Identity != "newcomer" || after[0].Distance > chordTol || before[0].Identity == "newcomer" {
		t.Errorf("before %+v, after %+v: the scorer did not see the new encoding", before[0], after[0])
	}
	if err := g.Close(); err != nil {
		t.Error(err)
	}
}

func TestIdentifyBatchErrors(t *testing.T) {
	g := mustGallery(t, 1)
	if _, err := g.IdentifyBatch([][]float32{unit2(0)}, 1); !errors.Is(err, matcher.ErrEmptyGallery) {
		t.Errorf("empty gallery: %v", err)
	}
	mustAdd(t, g, "a", unit2(0))
	if _, err := g.IdentifyBatch([][]float32{unit2(0), {1, 0, 0}}, 1); !errors.Is(err, matcher.ErrDimension) {
		t.Errorf("bad dimension: %v", err)
	}
	if got, err := g.IdentifyBatch(nil, 1); got != nil || err != nil {
		t.Errorf("no queries: %v, %v", got, err)
	}
	broken := errors.New("no scorer today")
	g.SetScorer(func([]float32, int) (matcher.Scorer, error) { return nil, broken })
	if _, err := g.IdentifyBatch([][]float32{unit2(0)}, 1); !errors.Is(err, broken) {
		t.Errorf("failing scorer: %v", err)
	}
}

func unitOf(v []float32) []float32 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	n := math.Sqrt(sum)
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
	return v
}

// BenchmarkIdentifyBatch measures the pure-Go scorer (package gemm has the
// TensorFlow one; `make bench` compares both with the machine's sgemm peak).
func BenchmarkIdentifyBatch(b *testing.B) {
	r := rand.New(rand.NewSource(4))
	for _, n := range []int{1000, 100000} {
		g, err := matcher.NewGallery(1.1)
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			if err := g.Add(fmt.Sprint(i), matchertest.RandomUnit(r, 128)); err != nil {
				b.Fatal(err)
			}
		}
		queries := make([][]float32, 64)
		for i := range queries {
			queries[i] = matchertest.RandomUnit(r, 128)
		}
		b.Run(fmt.Sprintf("gallery=%d", n), func(b *testing.B) {
			for range b.N {
				if _, err := g.IdentifyBatch(queries, 3); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(queries))/b.Elapsed().Seconds(), "queries/s")
		})
	}
}

// BenchmarkDots measures the dot-product kernel on one 256x256 tile of
// 128-value rows, the shape both the matcher and the clustering use.
func BenchmarkDots(b *testing.B) {
	r := rand.New(rand.NewSource(3))
	x := make([]float32, 512*128)
	for i := range x {
		x[i] = r.Float32()
	}
	out := make([]float32, 256*256)
	for b.Loop() {
		matcher.Dots(out, x[:256*128], x[256*128:], 128)
	}
	b.ReportMetric(float64(256*256*128)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gmadd/s")
}
