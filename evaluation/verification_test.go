package evaluation

import (
	"reflect"
	"testing"
)

func TestPairsLimit(t *testing.T) {
	ref := func(name string, i int) ImageRef { return ImageRef{Name: name, Index: i} }
	// Two folds of three same and three different pairs.
	p := &Pairs{Folds: 2, PerClass: 3}
	for fold := range 2 {
		for i := 1; i <= 3; i++ {
			p.Pairs = append(p.Pairs, Pair{Fold: fold, Same: true, A: ref("ann", i), B: ref("ann", 10*i)})
		}
		for i := 1; i <= 3; i++ {
			p.Pairs = append(p.Pairs, Pair{Fold: fold, A: ref("ann", i), B: ref("bob", i)})
		}
	}
	tests := []struct {
		name     string
		n        int
		perClass int
		want     []int // indices into p.Pairs
	}{
		{"zero keeps all", 0, 3, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"negative keeps all", -1, 3, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"the header's count keeps all", 3, 3, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"one of each class and fold", 1, 1, []int{0, 3, 6, 9}},
		{"the first two", 2, 2, []int{0, 1, 3, 4, 6, 7, 9, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Limit(tt.n)
			var want []Pair
			for _, i := range tt.want {
				want = append(want, p.Pairs[i])
			}
			if !reflect.DeepEqual(got.Pairs, want) || got.Folds != 2 || got.PerClass != tt.perClass {
				t.Errorf("Limit(%d) = %d folds of %d: %v, want %v", tt.n, got.Folds, got.PerClass, got.Pairs, want)
			}
			if len(tt.want) == len(p.Pairs) && got != p {
				t.Errorf("Limit(%d) copied the pairs it keeps whole", tt.n)
			}
		})
	}
}

func TestHardest(t *testing.T) {
	d := []float64{0.9, 1.2, 0.4, 1.5, 0.4, 0.3, 1.1}
	same := []bool{true, false, true, false, false, true, false}
	tests := []struct {
		name             string
		n                int
		accepts, rejects []int
	}{
		// Different pairs closest first (ties in input order); same pairs
		// farthest first.
		{"two of each", 2, []int{4, 6}, []int{0, 2}},
		{"more than there are", 10, []int{4, 6, 1, 3}, []int{0, 2, 5}},
		{"none", 0, []int{}, []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			accepts, rejects := Hardest(d, same, tt.n)
			if !reflect.DeepEqual(accepts, tt.accepts) || !reflect.DeepEqual(rejects, tt.rejects) {
				t.Errorf("Hardest(%d) = %v, %v; want %v, %v", tt.n, accepts, rejects, tt.accepts, tt.rejects)
			}
		})
	}
}

func TestRates(t *testing.T) {
	tests := []struct {
		name      string
		d         []float64
		same      []bool
		threshold float64
		tar, far  float64
	}{
		{"strictly below is accepted", []float64{0.5, 0.7, 0.6, 1.2}, []bool{true, true, false, false}, 0.7, 0.5, 0.5},
		{"everything accepted", []float64{0.5, 0.7, 0.6, 1.2}, []bool{true, true, false, false}, 2, 1, 1},
		{"no different pairs", []float64{0.5, 0.9}, []bool{true, true}, 0.7, 0.5, 0},
		{"no same pairs", []float64{0.5, 0.9}, []bool{false, false}, 0.7, 0, 0.5},
		{"no pairs", nil, nil, 0.7, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tar, far := Rates(tt.d, tt.same, tt.threshold); tar != tt.tar || far != tt.far {
				t.Errorf("Rates = %v, %v; want %v, %v", tar, far, tt.tar, tt.far)
			}
		})
	}
}
