package gemm_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
	"time"

	"github.com/facebatch/facebatch/gemm"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/matcher/matchertest"
)

// TestScorerAgreesWithGo compares TensorFlow's top rows with the pure-Go
// scorer's, on a base that spans several chunks, so the merge across
// chunks is exercised.
func TestScorerAgreesWithGo(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	const dim = 8
	for _, tt := range []struct{ rows, queries, m int }{{3, 2, 5}, {1000, 7, 4}, {70000, 600, 6}} {
		t.Run(fmt.Sprintf("rows=%d", tt.rows), func(t *testing.T) {
			var base, queries []float32
			for range tt.rows {
				base = append(base, matchertest.RandomUnit(r, dim)...)
			}
			for range tt.queries {
				queries = append(queries, matchertest.RandomUnit(r, dim)...)
			}
			tfs, err := gemm.NewScorer(base, dim)
			if err != nil {
				t.Fatal(err)
			}
			defer tfs.Close()
			gos, err := matcher.NewScorer(base, dim)
			if err != nil {
				t.Fatal(err)
			}
			gotDots, gotRows, err := tfs.TopDots(queries, tt.m)
			if err != nil {
				t.Fatal(err)
			}
			wantDots, wantRows, err := gos.TopDots(queries, tt.m)
			if err != nil {
				t.Fatal(err)
			}
			bad := 0
			for i := range gotRows {
				// Summation order differs, so near-ties may swap; the dot
				// at each rank must agree regardless.
				if math.Abs(float64(gotDots[i]-wantDots[i])) > 1e-5 || (gotRows[i] < 0) != (wantRows[i] < 0) {
					bad++
					if bad <= 5 {
						t.Errorf("entry %d: row %d dot %v, want row %d dot %v", i, gotRows[i], gotDots[i], wantRows[i], wantDots[i])
					}
				}
			}
		})
	}
}

func TestGalleryWithScorer(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	g, err := matcher.NewGallery(1.1)
	if err != nil {
		t.Fatal(err)
	}
	g.SetScorer(gemm.NewScorer)
	defer g.Close()
	for i := range 500 {
		if err := g.Add(fmt.Sprint("id", i%200), matchertest.RandomUnit(r, 128)); err != nil {
			t.Fatal(err)
		}
	}
	var queries [][]float32
	for range 50 {
		queries = append(queries, matchertest.RandomUnit(r, 128))
	}
	got, err := g.IdentifyBatch(queries, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range queries {
		want, err := g.Identify(q, 3)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got[i]) != fmt.Sprint(want) {
			t.Errorf("query %d:\n got %+v\nwant %+v", i, got[i], want)
		}
	}
}

func TestScorerErrors(t *testing.T) {
	if _, err := gemm.NewScorer(make([]float32, 5), 2); err == nil {
		t.Error("ragged base accepted")
	}
	s, err := gemm.NewScorer(make([]float32, 4), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.TopDots(make([]float32, 3), 1); err == nil {
		t.Error("ragged queries accepted")
	}
	if _, _, err := s.TopDots(make([]float32, 2), 0); err == nil {
		t.Error("m = 0 accepted")
	}
}

func TestPeak(t *testing.T) {
	flops, err := gemm.Peak(256, 30*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// Any CPU this runs on does far more than 100 MFLOP/s, and none of ours
	// 100 TFLOP/s.
	if flops < 1e8 || flops > 1e14 {
		t.Errorf("Peak = %.3g FLOP/s", flops)
	}
}

// BenchmarkScorer reports the scan rate in GFLOP/s (2·rows·dim per query);
// `make bench` sets it against the sgemm peak.
func BenchmarkScorer(b *testing.B) {
	r := rand.New(rand.NewSource(3))
	for _, rows := range []int{100000, 1000000} {
		base := make([]float32, 0, rows*128)
		for range rows {
			base = append(base, matchertest.RandomUnit(r, 128)...)
		}
		var queries []float32
		for range 256 {
			queries = append(queries, matchertest.RandomUnit(r, 128)...)
		}
		s, err := gemm.NewScorer(base, 128)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprint("rows=", rows), func(b *testing.B) {
			for range b.N {
				if _, _, err := s.TopDots(queries, 16); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*256*2*float64(rows)*128/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		s.Close()
	}
}
