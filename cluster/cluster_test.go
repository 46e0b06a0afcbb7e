package cluster

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/matcher/matchertest"
)

// blobs returns sizes[c] faces around a random centre per class c, each at
// distance about spread from it, in a shuffled order, and their classes.
func blobs(rng *rand.Rand, dim int, sizes []int, spread float64) ([][]float32, []int) {
	var encs [][]float32
	var classes []int
	for c, n := range sizes {
		centre := matchertest.RandomUnit(rng, dim)
		for range n {
			noise := matchertest.RandomUnit(rng, dim)
			v := make([]float32, dim)
			var s float64
			for k := range v {
				v[k] = centre[k] + float32(spread)*noise[k]
				s += float64(v[k]) * float64(v[k])
			}
			for k := range v {
				v[k] /= float32(math.Sqrt(s))
			}
			encs, classes = append(encs, v), append(classes, c)
		}
	}
	rng.Shuffle(len(encs), func(i, j int) {
		encs[i], encs[j] = encs[j], encs[i]
		classes[i], classes[j] = classes[j], classes[i]
	})
	return encs, classes
}

func TestGroupSeparatedPeople(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	// Faces of one person lie about 0.5 apart; two people about 1.4.
	encs, classes := blobs(rng, 128, []int{40, 25, 10, 3, 1, 1}, 0.35)
	res, err := Group(context.Background(), encs, Options{Threshold: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	p, r := Pairwise(classes, res.Labels)
	t.Logf("pairwise precision %.4f recall %.4f, %d clusters", p, r, len(res.Clusters))
	if p != 1 || r != 1 {
		t.Errorf("precision %v recall %v, want 1 and 1", p, r)
	}
	wantSizes := []int{40, 25, 10, 3, 1, 1}
	for c, cl := range res.Clusters {
		if len(cl.Members) != wantSizes[c] {
			t.Errorf("cluster %d has %d members, want %d (largest first)", c, len(cl.Members), wantSizes[c])
		}
		if !slices.IsSorted(cl.Members) || !slices.Contains(cl.Members, cl.Medoid) {
			t.Errorf("cluster %d: members %v unsorted or without medoid %d", c, cl.Members, cl.Medoid)
		}
		for _, m := range cl.Members {
			if res.Labels[m] != c {
				t.Errorf("face %d is in cluster %d but labelled %d", m, c, res.Labels[m])
			}
		}
	}
	// The two singletons are ordered by medoid, that is by index.
	if a, b := res.Clusters[4].Medoid, res.Clusters[5].Medoid; a > b {
		t.Errorf("singletons in order %d, %d; want ascending", a, b)
	}
}

func TestGroupDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	// Overlapping people, so that the label propagation has real choices.
	encs, _ := blobs(rng, 64, []int{300, 200, 200, 100, 50, 50, 20, 20, 10, 5}, 0.9)
	var first *Result
	for _, workers := range []int{1, 2, 3, 8} {
		res, err := Group(context.Background(), encs, Options{Threshold: 1.0, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = res
			t.Logf("%d faces, %d clusters", len(encs), len(res.Clusters))
			continue
		}
		if !slices.Equal(res.Labels, first.Labels) {
			t.Fatalf("workers %d: labels differ from workers 1", workers)
		}
		for c := range res.Clusters {
			if res.Clusters[c].Medoid != first.Clusters[c].Medoid || !slices.Equal(res.Clusters[c].Members, first.Clusters[c].Members) {
				t.Fatalf("workers %d: cluster %d differs", workers, c)
			}
		}
	}
}

func TestGroupEdgeCases(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	a := matchertest.RandomUnit(rng, 8)
	for _, tc := range []struct {
		name     string
		encs     [][]float32
		clusters int
	}{
		{"empty", nil, 0},
		{"one", [][]float32{a}, 1},
		{"duplicates", [][]float32{a, a, a}, 1},
		{"strangers", [][]float32{matchertest.RandomUnit(rng, 8), matchertest.RandomUnit(rng, 8), matchertest.RandomUnit(rng, 8)}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Group(context.Background(), tc.encs, Options{Threshold: 0.1})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Clusters) != tc.clusters || len(res.Labels) != len(tc.encs) {
				t.Errorf("%d clusters, %d labels; want %d clusters, %d labels", len(res.Clusters), len(res.Labels), tc.clusters, len(tc.encs))
			}
		})
	}
}

func TestGroupRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	a := matchertest.RandomUnit(rng, 8)
	for _, tc := range []struct {
		name string
		encs [][]float32
		opt  Options
	}{
		{"zero threshold", [][]float32{a}, Options{}},
		{"threshold above 2", [][]float32{a}, Options{Threshold: 2.5}},
		{"negative k", [][]float32{a}, Options{Threshold: 1, MaxNeighbors: -1}},
		{"dimensions differ", [][]float32{a, matchertest.RandomUnit(rng, 9)}, Options{Threshold: 1}},
		{"not unit", [][]float32{a, make([]float32, 8)}, Options{Threshold: 1}},
		{"NaN", [][]float32{a, {float32(math.NaN()), 0, 0, 0, 0, 0, 0, 1}}, Options{Threshold: 1}},
		{"empty encoding", [][]float32{{}}, Options{Threshold: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Group(context.Background(), tc.encs, tc.opt); !errors.Is(err, ErrInvalid) {
				t.Errorf("err %v, want ErrInvalid", err)
			}
		})
	}
}

func TestGroupCancelled(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	encs, _ := blobs(rng, 16, []int{600}, 0.5)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Group(ctx, encs, Options{Threshold: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

// TestNeighborsMatchBruteForce checks the tiled search against every pair
// computed one by one, on sizes that leave partial tiles and sub-tiles.
func TestNeighborsMatchBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, n := range []int{1, 7, 257, 600} {
		encs, _ := blobs(rng, 13, []int{n / 2, n - n/2}, 0.8)
		dim := 13
		var x []float32
		for _, e := range encs {
			x = append(x, e...)
		}
		const k = 5
		minDot := float32(0.2)
		got, err := neighbors(context.Background(), x, dim, k, minDot, 3)
		if err != nil {
			t.Fatal(err)
		}
		for i := range encs {
			var want []edge
			for j := range encs {
				if j != i {
					if d := pairDot(encs[i], encs[j]); d > minDot {
						want = append(want, edge{int32(j), d})
					}
				}
			}
			sortEdges(want)
			want = want[:min(k, len(want))]
			if !slices.Equal(got[i], want) {
				t.Fatalf("n=%d face %d: neighbours %v, want %v", n, i, got[i], want)
			}
		}
	}
}

func TestMedoid(t *testing.T) {
	// Three points on a line through the sphere: the middle one is the medoid.
	x := []float32{
		1, 0,
		float32(math.Cos(0.3)), float32(math.Sin(0.3)),
		float32(math.Cos(0.6)), float32(math.Sin(0.6)),
	}
	if m := medoid([]int{0, 1, 2}, x, 2); m != 1 {
		t.Errorf("medoid %d, want 1", m)
	}
	tie := []float32{0, 1, 1, 0}
	if m := medoid([]int{0, 1}, tie, 2); m != 0 {
		t.Errorf("medoid of a tie %d, want the lower index 0", m)
	}
}

func TestPairwise(t *testing.T) {
	for _, tc := range []struct {
		name              string
		truth, got        []int
		precision, recall float64
	}{
		{"perfect", []int{0, 0, 1, 1}, []int{5, 5, 7, 7}, 1, 1},
		{"all apart", []int{0, 0, 1, 1}, []int{0, 1, 2, 3}, 1, 0},
		{"all together", []int{0, 0, 1, 1}, []int{0, 0, 0, 0}, 2.0 / 6, 1},
		{"one wrong", []int{0, 0, 0, 1}, []int{0, 0, 1, 1}, 0.5, 1.0 / 3},
		{"no pairs", []int{0, 1}, []int{0, 1}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, r := Pairwise(tc.truth, tc.got)
			if math.Abs(p-tc.precision) > 1e-12 || math.Abs(r-tc.recall) > 1e-12 {
				t.Errorf("precision %v recall %v, want %v %v", p, r, tc.precision, tc.recall)
			}
		})
	}
}

func BenchmarkGroup10k(b *testing.B) {
	rng := rand.New(rand.NewPCG(8, 8))
	sizes := make([]int, 1000)
	for i := range sizes {
		sizes[i] = 1 + rng.IntN(19)
	}
	encs, _ := blobs(rng, 128, sizes, 0.5)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Group(context.Background(), encs, Options{Threshold: 0.75}); err != nil {
			b.Fatal(err)
		}
	}
}

// pairDot is one dot product by the kernel neighbors uses, so that the
// expected neighbours compare equal to the bit.
func pairDot(a, b []float32) float32 {
	var d [1]float32
	matcher.Dots(d[:], a, b, len(a))
	return d[0]
}
