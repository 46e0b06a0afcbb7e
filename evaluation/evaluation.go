// Package evaluation implements the arithmetic behind face-verification
// benchmarks such as the LFW view-2 protocol: parsing the pairs file,
// choosing a distance threshold, k-fold accuracy, ROC curves and
// histograms; and of 1:N identification (rank-k rates and the unknown-person
// false accept rate, see Identification).
//
// The package works on plain per-pair distances and labels so that it can
// be tested without a model: callers embed the images (FaceNet encodings
// are unit vectors, so distances lie in [0, 2]), compute one distance per
// pair and pass the distances together with the ground-truth labels. A pair
// is predicted to show the same person when its distance is strictly below
// the threshold.
//
// Functions whose results have no error return (Accuracy, BestThreshold,
// ROC, TARAtFAR, Histogram) return documented zero values on invalid input
// rather than panicking; callers that want a reason should call Validate
// first. KFold, which has more ways to fail, returns an error.
package evaluation

import (
	"errors"
	"fmt"
	"math"
)

// ErrNoPairs is returned by Validate and KFold when there is nothing to
// evaluate.
var ErrNoPairs = errors.New("evaluation: no pairs")

// Validate reports whether d and same describe a usable set of pairs: the
// slices must be non-empty, of equal length, and every distance must be
// finite. Non-finite distances are rejected because NaN cannot be ordered,
// which would make thresholds and ROC curves meaningless, and because an
// infinite distance signals a broken encoding rather than a real
// measurement.
func Validate(d []float64, same []bool) error {
	if len(d) != len(same) {
		return fmt.Errorf("evaluation: %d distances but %d labels", len(d), len(same))
	}
	if len(d) == 0 {
		return ErrNoPairs
	}
	for i, v := range d {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("evaluation: distance %d is %v, want a finite value", i, v)
		}
	}
	return nil
}
