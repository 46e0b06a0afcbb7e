package cluster

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/facebatch/facebatch/matcher/matchertest"
)

// TestPartitionedMatchesExact clusters one fixture both ways: people of 1
// to 30 faces with a realistic spread, plus faces of nobody else.
func TestPartitionedMatchesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	sizes := make([]int, 600)
	for i := range sizes {
		sizes[i] = 1 + rng.IntN(30)
	}
	encs, truth := blobs(rng, 128, sizes, 0.5)
	ctx := context.Background()
	exact, err := Group(ctx, encs, Options{Threshold: 0.75, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		cells, probes int
		minF1         float64 // against the exact clustering
	}{
		{1, 1, 1},
		{8, 4, 0.99},
		{32, 4, 0.99},
		{32, 1, 0.9},
	} {
		got, err := Group(ctx, encs, Options{Threshold: 0.75, Partitions: tt.cells, Probes: tt.probes})
		if err != nil {
			t.Fatal(err)
		}
		p, r := Pairwise(exact.Labels, got.Labels)
		f1 := 2 * p * r / (p + r)
		tp, tr := Pairwise(truth, got.Labels)
		t.Logf("%d cells, %d probes: against exact p=%.4f r=%.4f F1=%.4f; against truth p=%.4f r=%.4f; %d clusters (exact %d)",
			tt.cells, tt.probes, p, r, f1, tp, tr, len(got.Clusters), len(exact.Clusters))
		if f1 < tt.minF1 {
			t.Errorf("%d cells, %d probes: F1 against exact %.4f, want at least %.2f", tt.cells, tt.probes, f1, tt.minF1)
		}
	}
}

func TestSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const dim, k = 16, 3
	var q, b []float32
	for range 300 {
		q = append(q, matchertest.RandomUnit(rng, dim)...)
	}
	for range 700 {
		b = append(b, matchertest.RandomUnit(rng, dim)...)
	}
	skip := func(qi, bi int) bool { return qi == bi }
	got, err := Search(context.Background(), q, b, dim, k, 0.2, skip)
	if err != nil {
		t.Fatal(err)
	}
	for qi := range 300 {
		h := nearest{k: k}
		for bi := range 700 {
			if d := pairDot(q[qi*dim:(qi+1)*dim], b[bi*dim:(bi+1)*dim]); d > 0.2 && !skip(qi, bi) {
				h.add(edge{int32(bi), d})
			}
		}
		sortEdges(h.edges)
		if len(got[qi]) != len(h.edges) {
			t.Fatalf("query %d: %d neighbours, want %d", qi, len(got[qi]), len(h.edges))
		}
		for i, e := range h.edges {
			if got[qi][i] != (Neighbor{int(e.to), e.dot}) {
				t.Errorf("query %d rank %d: %v, want %v", qi, i, got[qi][i], e)
			}
		}
	}
}

func TestTrainDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	encs, _ := blobs(rng, 32, []int{50, 50, 50, 50}, 0.3)
	var x []float32
	for _, e := range encs {
		x = append(x, e...)
	}
	a, err := Train(context.Background(), x, 32, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Train(context.Background(), x, 32, 4)
	for i, v := range a.Centroids() {
		if b.Centroids()[i] != v {
			t.Fatal("two trainings on one sample differ")
		}
	}
	if _, err := Train(context.Background(), x, 32, 201); err == nil {
		t.Error("more centroids than sample faces: no error")
	}
	if got := a.Probe(encs[0], 2); len(got) != 2 || got[0] == got[1] {
		t.Errorf("Probe = %v, want two distinct cells", got)
	}
}
