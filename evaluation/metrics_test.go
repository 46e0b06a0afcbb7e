package evaluation

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

const eps = 1e-12

func near(a, b float64) bool { return math.Abs(a-b) <= eps }

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		d    []float64
		same []bool
		want string
	}{
		{"ok", []float64{0.1, 1.9}, []bool{true, false}, ""},
		{"empty", nil, nil, "no pairs"},
		{"length", []float64{0.1}, []bool{true, false}, "1 distances but 2 labels"},
		{"nan", []float64{0.1, math.NaN()}, []bool{true, false}, "distance 1 is NaN"},
		{"inf", []float64{math.Inf(1)}, []bool{true}, "distance 0 is +Inf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.d, tc.same)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if !errors.Is(Validate(nil, nil), ErrNoPairs) {
		t.Error("empty input does not report ErrNoPairs")
	}
}

// Hand-computed cases shared by the threshold, ROC and AUC tests.
var handCases = []struct {
	name    string
	d       []float64
	same    []bool
	thr     float64 // BestThreshold
	acc     float64
	roc     []Point // nil when a class is missing
	auc     float64
	tarFAR0 [2]float64 // TARAtFAR(far=0): tar, threshold
}{
	{
		name: "perfect separation",
		d:    []float64{1.0, 0.2, 1.2, 0.4},
		same: []bool{false, true, false, true},
		thr:  0.7, acc: 1,
		roc: []Point{{0.2, 0, 0}, {0.3, 0.5, 0}, {0.7, 1, 0}, {1.1, 1, 0.5}, {math.Nextafter(1.2, 2), 1, 1}},
		auc: 1, tarFAR0: [2]float64{1, 0.7},
	},
	{
		// Every threshold is at most as good as rejecting everything; the
		// tie between the two extremes goes to the smaller threshold.
		name: "fully inverted",
		d:    []float64{0.2, 0.4, 1.0, 1.2},
		same: []bool{false, false, true, true},
		thr:  0.2, acc: 0.5,
		roc: []Point{{0.2, 0, 0}, {0.3, 0, 0.5}, {0.7, 0, 1}, {1.1, 0.5, 1}, {math.Nextafter(1.2, 2), 1, 1}},
		auc: 0, tarFAR0: [2]float64{0, 0.2},
	},
	{
		name: "all tied",
		d:    []float64{0.5, 0.5, 0.5, 0.5},
		same: []bool{true, false, true, false},
		thr:  0.5, acc: 0.5,
		roc: []Point{{0.5, 0, 0}, {math.Nextafter(0.5, 1), 1, 1}},
		auc: 0.5, tarFAR0: [2]float64{0, 0.5},
	},
	{
		// 0.3 and 0.7 both reach 3/4; the smaller wins. The tie at 0.5
		// makes the ROC step diagonally and counts half in the AUC:
		// Mann-Whitney (1 + 1 + 0.5 + 1) / 4 = 0.875.
		name: "partial tie",
		d:    []float64{0.1, 0.5, 0.5, 0.9},
		same: []bool{true, true, false, false},
		thr:  0.3, acc: 0.75,
		roc: []Point{{0.1, 0, 0}, {0.3, 0.5, 0}, {0.7, 1, 0.5}, {math.Nextafter(0.9, 1), 1, 1}},
		auc: 0.875, tarFAR0: [2]float64{0.5, 0.3},
	},
	{
		// With one class only, accepting everything is best.
		name: "single class",
		d:    []float64{0.6, 0.3},
		same: []bool{true, true},
		thr:  math.Nextafter(0.6, 1), acc: 1,
	},
	{
		name: "single pair",
		d:    []float64{1.5},
		same: []bool{false},
		thr:  1.5, acc: 1,
	},
}

func TestBestThresholdHand(t *testing.T) {
	for _, tc := range handCases {
		t.Run(tc.name, func(t *testing.T) {
			thr, acc := BestThreshold(tc.d, tc.same)
			if !near(thr, tc.thr) || !near(acc, tc.acc) {
				t.Errorf("BestThreshold = (%v, %v), want (%v, %v)", thr, acc, tc.thr, tc.acc)
			}
			if got := Accuracy(tc.d, tc.same, thr); !near(got, acc) {
				t.Errorf("Accuracy at best threshold = %v, want %v", got, acc)
			}
		})
	}
}

func TestROCAndAUCHand(t *testing.T) {
	for _, tc := range handCases {
		t.Run(tc.name, func(t *testing.T) {
			roc := ROC(tc.d, tc.same)
			if len(roc) != len(tc.roc) {
				t.Fatalf("ROC = %v, want %v", roc, tc.roc)
			}
			for i := range roc {
				g, w := roc[i], tc.roc[i]
				if !near(g.Threshold, w.Threshold) || !near(g.TAR, w.TAR) || !near(g.FAR, w.FAR) {
					t.Fatalf("ROC = %v, want %v", roc, tc.roc)
				}
			}
			if roc == nil {
				return
			}
			if got := AUC(roc); !near(got, tc.auc) {
				t.Errorf("AUC = %v, want %v", got, tc.auc)
			}
			// Order must not matter to AUC.
			rev := slices.Clone(roc)
			slices.Reverse(rev)
			if got := AUC(rev); !near(got, tc.auc) {
				t.Errorf("AUC of reversed points = %v, want %v", got, tc.auc)
			}
			tar, thr := TARAtFAR(tc.d, tc.same, 0)
			if !near(tar, tc.tarFAR0[0]) || !near(thr, tc.tarFAR0[1]) {
				t.Errorf("TARAtFAR(0) = (%v, %v), want %v", tar, thr, tc.tarFAR0)
			}
		})
	}
}

func TestAccuracy(t *testing.T) {
	d := []float64{0.5, 1.0}
	same := []bool{true, false}
	tests := []struct {
		thr, want float64
	}{
		{0.5, 0.5}, // strict: 0.5 is not below 0.5
		{0.50001, 1},
		{1.0, 1},
		{1.00001, 0.5},
		{0, 0.5},
		{math.NaN(), 0.5}, // nothing is below NaN
	}
	for _, tc := range tests {
		if got := Accuracy(d, same, tc.thr); got != tc.want {
			t.Errorf("Accuracy(threshold %v) = %v, want %v", tc.thr, got, tc.want)
		}
	}
}

func TestInvalidInputZeroValues(t *testing.T) {
	inputs := []struct {
		name string
		d    []float64
		same []bool
	}{
		{"empty", nil, nil},
		{"mismatch", []float64{0.1, 0.2}, []bool{true}},
		{"nan", []float64{math.NaN(), 0.2}, []bool{true, false}},
	}
	for _, in := range inputs {
		if got := Accuracy(in.d, in.same, 1); got != 0 {
			t.Errorf("%s: Accuracy = %v, want 0", in.name, got)
		}
		if thr, acc := BestThreshold(in.d, in.same); thr != 0 || acc != 0 {
			t.Errorf("%s: BestThreshold = (%v, %v), want (0, 0)", in.name, thr, acc)
		}
		if got := ROC(in.d, in.same); got != nil {
			t.Errorf("%s: ROC = %v, want nil", in.name, got)
		}
		if tar, thr := TARAtFAR(in.d, in.same, 1); tar != 0 || thr != 0 {
			t.Errorf("%s: TARAtFAR = (%v, %v), want (0, 0)", in.name, tar, thr)
		}
		if _, err := KFold(in.d, in.same, make([]int, len(in.d)), 1); err == nil {
			t.Errorf("%s: KFold succeeded", in.name)
		}
	}
	if got := AUC(nil); got != 0 {
		t.Errorf("AUC(nil) = %v", got)
	}
	if got := AUC([]Point{{1, 1, 1}}); got != 0 {
		t.Errorf("AUC(one point) = %v", got)
	}
}

func TestTARAtFAR(t *testing.T) {
	d := []float64{0.1, 0.5, 0.5, 0.9} // the "partial tie" case
	same := []bool{true, true, false, false}
	tests := []struct {
		far, tar, thr float64
	}{
		{0, 0.5, 0.3},
		{0.4, 0.5, 0.3},
		{0.5, 1, 0.7},
		{1, 1, 0.7}, // smallest threshold reaching TAR 1
		{-0.1, 0, 0},
		{math.NaN(), 0, 0},
	}
	for _, tc := range tests {
		tar, thr := TARAtFAR(d, same, tc.far)
		if !near(tar, tc.tar) || !near(thr, tc.thr) {
			t.Errorf("TARAtFAR(%v) = (%v, %v), want (%v, %v)", tc.far, tar, thr, tc.tar, tc.thr)
		}
	}
}

func TestKFoldHand(t *testing.T) {
	// Fold 7 holds 0.2 (same) and 0.8 (different); fold 3 holds 0.6 (same)
	// and 1.0 (different). Trained on fold 7 the threshold is 0.5, which
	// misclassifies 0.6 in fold 3; trained on fold 3 it is 0.8, which is
	// perfect on fold 7 because 0.8 is not strictly below 0.8.
	d := []float64{0.2, 0.6, 0.8, 1.0}
	same := []bool{true, true, false, false}
	folds := []int{7, 3, 7, 3}
	res, err := KFold(d, same, folds, 0.7)
	if err != nil {
		t.Fatalf("KFold: %v", err)
	}
	want := Result{
		Folds: []FoldResult{
			{Fold: 3, Pairs: 2, Threshold: 0.5, Accuracy: 0.5, FixedAccuracy: 1},
			{Fold: 7, Pairs: 2, Threshold: 0.8, Accuracy: 1, FixedAccuracy: 1},
		},
		Mean: 0.75, Std: 0.25, BestThreshold: 0.65,
		Fixed: 0.7, FixedMean: 1, FixedStd: 0,
	}
	if len(res.Folds) != len(want.Folds) {
		t.Fatalf("KFold = %+v, want %+v", res, want)
	}
	for i, f := range res.Folds {
		w := want.Folds[i]
		if f.Fold != w.Fold || f.Pairs != w.Pairs || !near(f.Threshold, w.Threshold) ||
			!near(f.Accuracy, w.Accuracy) || !near(f.FixedAccuracy, w.FixedAccuracy) {
			t.Errorf("fold %d = %+v, want %+v", i, f, w)
		}
	}
	if !near(res.Mean, want.Mean) || !near(res.Std, want.Std) || !near(res.BestThreshold, want.BestThreshold) ||
		res.Fixed != want.Fixed || !near(res.FixedMean, want.FixedMean) || !near(res.FixedStd, want.FixedStd) {
		t.Errorf("KFold = %+v, want %+v", res, want)
	}
}

func TestKFoldErrors(t *testing.T) {
	d := []float64{0.1, 0.9}
	same := []bool{true, false}
	tests := []struct {
		name  string
		folds []int
		want  string
	}{
		{"length", []int{0}, "1 fold labels for 2 pairs"},
		{"one fold", []int{4, 4}, "need at least 2 folds, got 1"},
	}
	for _, tc := range tests {
		_, err := KFold(d, same, tc.folds, 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := KFold(nil, nil, nil, 1); !errors.Is(err, ErrNoPairs) {
		t.Errorf("empty: error %v does not wrap ErrNoPairs", err)
	}
}

func TestHistogram(t *testing.T) {
	values := []float64{0, 0.5, 1, 1.5, 2, -0.1, 2.1, math.NaN(), 0.49}
	tests := []struct {
		name   string
		values []float64
		lo, hi float64
		bins   int
		want   []int
	}{
		{"numpy edges", values, 0, 2, 4, []int{2, 1, 1, 2}},
		{"one bin", values, 0, 2, 1, []int{6}},
		{"no values", nil, 0, 1, 3, []int{0, 0, 0}},
		{"zero bins", values, 0, 2, 0, nil},
		{"empty range", values, 1, 1, 2, nil},
		{"reversed range", values, 2, 0, 2, nil},
		{"infinite range", values, 0, math.Inf(1), 2, nil},
		{"nan range", values, math.NaN(), 1, 2, nil},
		{"overflowing width", values, -math.MaxFloat64, math.MaxFloat64, 2, nil},
	}
	for _, tc := range tests {
		if got := Histogram(tc.values, tc.lo, tc.hi, tc.bins); !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("%s: Histogram = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMidpoint(t *testing.T) {
	tests := [][2]float64{
		{0.2, 0.4},
		{1, math.Nextafter(1, 2)},
		{0, math.SmallestNonzeroFloat64},
		{-1, 1},
		{math.MaxFloat64 / 2, math.MaxFloat64},
	}
	for _, tc := range tests {
		a, b := tc[0], tc[1]
		if m := midpoint(a, b); !(a < m && m <= b) {
			t.Errorf("midpoint(%v, %v) = %v, not in (a, b]", a, b, m)
		}
	}
}

// randomPairs returns n pairs. With coarse set, distances lie on a grid
// of quarter steps so that ties across classes are common.
func randomPairs(r *rand.Rand, n int, coarse bool) ([]float64, []bool) {
	d := make([]float64, n)
	same := make([]bool, n)
	for i := range d {
		if coarse {
			d[i] = float64(r.IntN(9)) / 4
		} else {
			d[i] = 2 * r.Float64()
		}
		same[i] = r.IntN(2) == 0
	}
	return d, same
}

// bruteThresholds returns thresholds realising every partition a threshold
// can make on d: just below and just above each value, plus the extremes.
func bruteThresholds(d []float64) []float64 {
	ts := []float64{-1, 3}
	for _, v := range d {
		ts = append(ts, v, math.Nextafter(v, math.Inf(1)))
	}
	return ts
}

// rates computes TAR and FAR at t directly from the definition.
func rates(d []float64, same []bool, t float64) (tar, far float64) {
	var s, df, sa, da int
	for i, v := range d {
		if same[i] {
			s++
			if v < t {
				sa++
			}
		} else {
			df++
			if v < t {
				da++
			}
		}
	}
	return float64(sa) / float64(s), float64(da) / float64(df)
}

func below(d []float64, t float64) int {
	n := 0
	for _, v := range d {
		if v < t {
			n++
		}
	}
	return n
}

func TestProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(2024, 11))
	for iter := range 2000 {
		n := 1 + r.IntN(14)
		d, same := randomPairs(r, n, iter%2 == 0)

		// BestThreshold is optimal over every partition, and ties go to the
		// smallest partition.
		thr, acc := BestThreshold(d, same)
		if got := Accuracy(d, same, thr); got != acc {
			t.Fatalf("iter %d: Accuracy(best %v) = %v, BestThreshold said %v (d=%v same=%v)", iter, thr, got, acc, d, same)
		}
		for _, bt := range bruteThresholds(d) {
			a := Accuracy(d, same, bt)
			if a > acc {
				t.Fatalf("iter %d: threshold %v beats best %v: %v > %v (d=%v same=%v)", iter, bt, thr, a, acc, d, same)
			}
			if a == acc && below(d, bt) < below(d, thr) {
				t.Fatalf("iter %d: smaller threshold %v also reaches %v (best %v)", iter, bt, acc, thr)
			}
		}

		var nSame, nDiff int
		for _, s := range same {
			if s {
				nSame++
			} else {
				nDiff++
			}
		}
		roc := ROC(d, same)
		if nSame == 0 || nDiff == 0 {
			if roc != nil {
				t.Fatalf("iter %d: ROC with one class = %v, want nil", iter, roc)
			}
			continue
		}

		// ROC: monotone, spans (0,0) to (1,1), and matches the definition.
		if first, last := roc[0], roc[len(roc)-1]; first.TAR != 0 || first.FAR != 0 || last.TAR != 1 || last.FAR != 1 {
			t.Fatalf("iter %d: ROC ends %v, %v", iter, first, last)
		}
		for i, p := range roc {
			if tar, far := rates(d, same, p.Threshold); tar != p.TAR || far != p.FAR {
				t.Fatalf("iter %d: ROC point %v, direct rates (%v, %v)", iter, p, tar, far)
			}
			if i > 0 && !(p.Threshold > roc[i-1].Threshold && p.TAR >= roc[i-1].TAR && p.FAR >= roc[i-1].FAR) {
				t.Fatalf("iter %d: ROC not monotone at %d: %v", iter, i, roc)
			}
		}

		// AUC is the Mann-Whitney statistic.
		auc := AUC(roc)
		mw := 0.0
		for i := range d {
			for j := range d {
				if !same[i] || same[j] {
					continue
				}
				switch { // i same-person, j different-person
				case d[j] > d[i]:
					mw++
				case d[j] == d[i]:
					mw += 0.5
				}
			}
		}
		mw /= float64(nSame * nDiff)
		if auc < 0 || auc > 1 || math.Abs(auc-mw) > 1e-9 {
			t.Fatalf("iter %d: AUC %v, Mann-Whitney %v (d=%v same=%v)", iter, auc, mw, d, same)
		}

		// TARAtFAR matches a brute-force search and respects the bound.
		for _, far := range []float64{0, 0.1, 0.25, 1.0 / 3, 0.5, 0.99, 1} {
			tar, at := TARAtFAR(d, same, far)
			if gotTAR, gotFAR := rates(d, same, at); gotTAR != tar || gotFAR > far {
				t.Fatalf("iter %d: TARAtFAR(%v) = (%v, %v) but rates there are (%v, %v)", iter, far, tar, at, gotTAR, gotFAR)
			}
			bruteTAR := 0.0
			for _, bt := range bruteThresholds(d) {
				if bTAR, bFAR := rates(d, same, bt); bFAR <= far && bTAR > bruteTAR {
					bruteTAR = bTAR
				}
			}
			if tar != bruteTAR {
				t.Fatalf("iter %d: TARAtFAR(%v) = %v, brute force %v", iter, far, tar, bruteTAR)
			}
		}

		// KFold: bookkeeping identities that hold for any data.
		folds := make([]int, n)
		for i := range folds {
			folds[i] = r.IntN(3)
		}
		fixed := 2 * r.Float64()
		res, err := KFold(d, same, folds, fixed)
		if distinct := len(slices.Compact(slices.Sorted(slices.Values(folds)))); distinct < 2 {
			if err == nil {
				t.Fatalf("iter %d: KFold with one fold succeeded", iter)
			}
			continue
		}
		if err != nil {
			t.Fatalf("iter %d: KFold: %v", iter, err)
		}
		total, fixedCorrect := 0, 0.0
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, f := range res.Folds {
			var fd []float64
			var fs []bool
			for i := range d {
				if folds[i] == f.Fold {
					fd, fs = append(fd, d[i]), append(fs, same[i])
				}
			}
			// A threshold fitted elsewhere cannot beat this fold's own best.
			if _, own := BestThreshold(fd, fs); f.Accuracy > own {
				t.Fatalf("iter %d: fold %d accuracy %v exceeds its own best %v", iter, f.Fold, f.Accuracy, own)
			}
			if got := Accuracy(fd, fs, f.Threshold); got != f.Accuracy {
				t.Fatalf("iter %d: fold %d accuracy %v, recomputed %v", iter, f.Fold, f.Accuracy, got)
			}
			total += f.Pairs
			fixedCorrect += f.FixedAccuracy * float64(f.Pairs)
			lo, hi = min(lo, f.Accuracy), max(hi, f.Accuracy)
		}
		if total != n {
			t.Fatalf("iter %d: folds cover %d of %d pairs", iter, total, n)
		}
		if got := Accuracy(d, same, fixed); math.Abs(fixedCorrect/float64(n)-got) > 1e-9 {
			t.Fatalf("iter %d: pooled fixed accuracy %v, direct %v", iter, fixedCorrect/float64(n), got)
		}
		if res.Mean < lo-eps || res.Mean > hi+eps || res.Std < 0 || res.Std > (hi-lo)/2+eps {
			t.Fatalf("iter %d: mean %v std %v outside fold range [%v, %v]", iter, res.Mean, res.Std, lo, hi)
		}
	}
}
