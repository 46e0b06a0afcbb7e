package evaluation

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Accuracy returns the fraction of pairs classified correctly when a pair is
// predicted to show the same person exactly when its distance is strictly
// below threshold. It returns 0 if Validate rejects the input.
func Accuracy(d []float64, same []bool, threshold float64) float64 {
	if Validate(d, same) != nil {
		return 0
	}
	correct := 0
	for i, v := range d {
		if (v < threshold) == same[i] {
			correct++
		}
	}
	return float64(correct) / float64(len(d))
}

// group is one distinct distance value with the number of same-person and
// different-person pairs at that distance.
type group struct {
	v          float64
	same, diff int
}

// groups returns the distinct distances in ascending order with their label
// counts. Sorting once and sweeping makes threshold searches O(n log n)
// instead of O(n²).
func groups(d []float64, same []bool) []group {
	idx := make([]int, len(d))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(d[a], d[b]) })
	var gs []group
	for _, i := range idx {
		if len(gs) == 0 || gs[len(gs)-1].v != d[i] {
			gs = append(gs, group{v: d[i]})
		}
		if same[i] {
			gs[len(gs)-1].same++
		} else {
			gs[len(gs)-1].diff++
		}
	}
	return gs
}

// thresholds returns the candidate thresholds for gs: the smallest distance
// (nothing predicted same), the midpoints between consecutive distinct
// distances, and the float just above the largest distance (everything
// predicted same). Candidate k predicts exactly groups 0..k-1 as same, so
// the candidates cover every distinct classification a threshold can make,
// while staying finite so results serialise to JSON.
func thresholds(gs []group) []float64 {
	t := make([]float64, len(gs)+1)
	t[0] = gs[0].v
	for k := 1; k < len(gs); k++ {
		t[k] = midpoint(gs[k-1].v, gs[k].v)
	}
	t[len(gs)] = math.Nextafter(gs[len(gs)-1].v, math.Inf(1))
	return t
}

// midpoint returns a value m with a < m <= b, as close to (a+b)/2 as
// floating point allows. Rounding can push the naive midpoint of adjacent
// floats down onto a, which would wrongly exclude a from "d < m".
func midpoint(a, b float64) float64 {
	m := a/2 + b/2
	if !(m > a && m <= b) {
		m = b
	}
	return m
}

// BestThreshold returns the threshold that maximises Accuracy on the given
// pairs, and that accuracy. The search covers the midpoints between sorted
// distinct distances plus one threshold below and one above all distances
// (so data with a single class is handled), which is every distinct
// classification a threshold can produce. When several thresholds reach the
// best accuracy the smallest is returned, making the result deterministic
// and biased towards fewer false accepts. It returns (0, 0) if Validate
// rejects the input.
func BestThreshold(d []float64, same []bool) (threshold, accuracy float64) {
	if Validate(d, same) != nil {
		return 0, 0
	}
	gs := groups(d, same)
	ts := thresholds(gs)
	diffTotal := 0
	for _, g := range gs {
		diffTotal += g.diff
	}
	// At candidate k the correct pairs are the same-person pairs below it
	// plus the different-person pairs at or above it.
	correct := diffTotal
	best, bestK := correct, 0
	for k, g := range gs {
		correct += g.same - g.diff
		if correct > best {
			best, bestK = correct, k+1
		}
	}
	return ts[bestK], float64(best) / float64(len(d))
}

// FoldResult is the outcome of one fold of KFold.
type FoldResult struct {
	// Fold is the fold label as given to KFold.
	Fold int `json:"fold"`
	// Pairs is the number of pairs in the fold.
	Pairs int `json:"pairs"`
	// Threshold is the best threshold on all the other folds.
	Threshold float64 `json:"threshold"`
	// Accuracy is the accuracy on this fold at Threshold.
	Accuracy float64 `json:"accuracy"`
	// FixedAccuracy is the accuracy on this fold at the fixed threshold.
	FixedAccuracy float64 `json:"fixed_accuracy"`
}

// Result summarises a k-fold evaluation.
type Result struct {
	// Folds holds one entry per fold in ascending order of fold label.
	Folds []FoldResult
	// Mean and Std are the mean and population standard deviation
	// (numpy's default, ddof=0, as LFW results are usually reported) of the
	// per-fold accuracies at the thresholds chosen on the other folds.
	Mean, Std float64
	// BestThreshold is the mean of the per-fold chosen thresholds, a single
	// number suitable as a deployment threshold.
	BestThreshold float64
	// Fixed is the fixed threshold that was also evaluated.
	Fixed float64
	// FixedMean and FixedStd are the mean and population standard deviation
	// of the per-fold accuracies at Fixed.
	FixedMean, FixedStd float64
}

// KFold runs the standard LFW view-2 protocol: for each fold, the threshold
// is chosen with BestThreshold on the pairs of all other folds and the
// accuracy is measured on this fold, so that no fold is scored with a
// threshold fitted to it. folds[i] is the fold label of pair i (any
// integers; see Pairs.Labels). Accuracies are also reported at the
// threshold fixed, to compare against a threshold chosen in advance.
//
// Mean is the unweighted mean of the fold accuracies, as in the LFW
// protocol whose folds have equal size. KFold returns an error if Validate
// rejects d and same, if folds has the wrong length, or if there are fewer
// than two folds, since then no fold has data to choose a threshold on.
func KFold(d []float64, same []bool, folds []int, fixed float64) (Result, error) {
	if err := Validate(d, same); err != nil {
		return Result{}, fmt.Errorf("k-fold: %w", err)
	}
	if len(folds) != len(d) {
		return Result{}, fmt.Errorf("k-fold: %d fold labels for %d pairs", len(folds), len(d))
	}
	labels := slices.Clone(folds)
	slices.Sort(labels)
	labels = slices.Compact(labels)
	if len(labels) < 2 {
		return Result{}, fmt.Errorf("k-fold: need at least 2 folds, got %d", len(labels))
	}

	res := Result{Fixed: fixed, Folds: make([]FoldResult, 0, len(labels))}
	var trainD, testD []float64
	var trainS, testS []bool
	for _, f := range labels {
		trainD, testD, trainS, testS = trainD[:0], testD[:0], trainS[:0], testS[:0]
		for i, fi := range folds {
			if fi == f {
				testD, testS = append(testD, d[i]), append(testS, same[i])
			} else {
				trainD, trainS = append(trainD, d[i]), append(trainS, same[i])
			}
		}
		thr, _ := BestThreshold(trainD, trainS)
		res.Folds = append(res.Folds, FoldResult{
			Fold:          f,
			Pairs:         len(testD),
			Threshold:     thr,
			Accuracy:      Accuracy(testD, testS, thr),
			FixedAccuracy: Accuracy(testD, testS, fixed),
		})
	}

	acc := make([]float64, len(res.Folds))
	thr := make([]float64, len(res.Folds))
	fixedAcc := make([]float64, len(res.Folds))
	for i, fr := range res.Folds {
		acc[i], thr[i], fixedAcc[i] = fr.Accuracy, fr.Threshold, fr.FixedAccuracy
	}
	res.Mean, res.Std = meanStd(acc)
	res.BestThreshold, _ = meanStd(thr)
	res.FixedMean, res.FixedStd = meanStd(fixedAcc)
	return res, nil
}

// meanStd returns the mean and population (ddof=0) standard deviation of a
// non-empty slice.
func meanStd(x []float64) (mean, std float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)))
}

// Point is one operating point of a ROC curve.
type Point struct {
	// Threshold is the distance threshold; pairs with distance strictly
	// below it are accepted as the same person.
	Threshold float64
	// TAR is the true accept rate: accepted same-person pairs divided by
	// all same-person pairs.
	TAR float64
	// FAR is the false accept rate: accepted different-person pairs divided
	// by all different-person pairs.
	FAR float64
}

// ROC returns the receiver operating characteristic at every distinct
// threshold (the same candidates as BestThreshold), in ascending order of
// threshold, so TAR and FAR never decrease along the slice. The first point
// is (0, 0) and the last (1, 1), so the curve spans the whole FAR axis.
// Pairs with equal distances are accepted together, which makes the curve
// step diagonally across ties. ROC returns nil if Validate rejects the input
// or if either class is absent, since TAR or FAR would then be undefined.
func ROC(d []float64, same []bool) []Point {
	if Validate(d, same) != nil {
		return nil
	}
	gs := groups(d, same)
	var sameTotal, diffTotal int
	for _, g := range gs {
		sameTotal += g.same
		diffTotal += g.diff
	}
	if sameTotal == 0 || diffTotal == 0 {
		return nil
	}
	ts := thresholds(gs)
	pts := make([]Point, len(ts))
	var sameBelow, diffBelow int
	for k, t := range ts {
		if k > 0 {
			sameBelow += gs[k-1].same
			diffBelow += gs[k-1].diff
		}
		pts[k] = Point{
			Threshold: t,
			TAR:       float64(sameBelow) / float64(sameTotal),
			FAR:       float64(diffBelow) / float64(diffTotal),
		}
	}
	return pts
}

// AUC returns the area under the TAR-versus-FAR curve by the trapezoid
// rule: 1 for perfect separation, 0.5 for uninformative distances, 0 when
// every different-person pair is closer than every same-person pair. For
// the output of ROC it equals the Mann-Whitney probability that a random
// different-person pair is farther apart than a random same-person pair,
// counting ties as one half. The points are sorted by FAR (then TAR) first,
// so their order does not matter; only the FAR range they cover is
// integrated, which is all of [0, 1] for ROC's output. AUC returns 0 for
// fewer than two points.
func AUC(points []Point) float64 {
	if len(points) < 2 {
		return 0
	}
	p := slices.Clone(points)
	slices.SortStableFunc(p, func(a, b Point) int {
		if c := cmp.Compare(a.FAR, b.FAR); c != 0 {
			return c
		}
		return cmp.Compare(a.TAR, b.TAR)
	})
	area := 0.0
	for i := 1; i < len(p); i++ {
		area += (p[i].FAR - p[i-1].FAR) * (p[i].TAR + p[i-1].TAR) / 2
	}
	return area
}

// TARAtFAR returns the highest true accept rate among the ROC operating
// points whose false accept rate is at most far, with the smallest
// threshold that achieves it; this is how verification systems are
// compared at a fixed security level such as FAR = 0.001. It returns
// (0, 0) if ROC would return nil or if far is negative or NaN, since then
// no operating point qualifies.
func TARAtFAR(d []float64, same []bool, far float64) (tar, threshold float64) {
	pts := ROC(d, same)
	if pts == nil || !(far >= 0) {
		return 0, 0
	}
	best := pts[0] // FAR 0 always qualifies.
	for _, p := range pts[1:] {
		if p.FAR > far {
			break // FAR never decreases along the curve.
		}
		if p.TAR > best.TAR {
			best = p
		}
	}
	return best.TAR, best.Threshold
}

// Histogram counts values into bins of equal width over [lo, hi]. As in
// numpy.histogram, every bin is half-open except the last, which also
// includes hi. Values outside [lo, hi] and NaNs are not counted, so
// callers can pick a plotting range without clipping. It returns nil if
// bins is not positive, lo or hi is not finite, or lo >= hi.
func Histogram(values []float64, lo, hi float64, bins int) []int {
	width := hi - lo
	if bins <= 0 || !(lo < hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) || math.IsInf(width, 0) {
		return nil
	}
	counts := make([]int, bins)
	for _, v := range values {
		if !(v >= lo && v <= hi) {
			continue
		}
		k := int((v - lo) / width * float64(bins))
		// Rounding, or v == hi, can land one past the end.
		counts[min(k, bins-1)]++
	}
	return counts
}
