package report

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBounded keeps the k least of values given in any order: the same as
// sorting them all and taking the first k.
func TestBounded(t *testing.T) {
	type v struct{ key, seq int }
	less := func(a, b v) bool { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.seq, b.seq)) < 0 }
	var all []v
	for i := range 50 {
		all = append(all, v{key: i % 7, seq: i}) // keys tie; seq breaks the ties
	}
	sorted := slices.Clone(all)
	slices.SortFunc(sorted, func(a, b v) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.seq, b.seq)) })
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range []int{0, 1, 3, 49, 50, 100} {
		for try := range 5 {
			in := slices.Clone(all)
			if try > 0 {
				rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
			}
			b := newBounded(k, less)
			for _, x := range in {
				if b.wants(x) {
					b.add(x)
				}
			}
			if got, want := b.sorted(), sorted[:min(k, len(sorted))]; !slices.Equal(got, want) {
				t.Errorf("k %d, order %d: kept %v, want %v", k, try, got, want)
			}
		}
	}
}
