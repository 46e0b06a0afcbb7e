package matcher

import (
	"fmt"
	"math"
)

// DefaultAlpha is the notebook's triplet margin.
const DefaultAlpha = 0.2

// TripletLoss is the notebook's triplet_loss over a batch:
//
//	sum_i max(‖a_i − p_i‖² − ‖a_i − n_i‖² + alpha, 0)
//
// with squared distances summed over each encoding's values. The encodings
// need not be unit length (the loss is defined on raw outputs too), but all
// must have one length and hold finite values.
func TripletLoss(anchor, positive, negative [][]float32, alpha float64) (float64, error) {
	if len(anchor) != len(positive) || len(anchor) != len(negative) {
		return 0, fmt.Errorf("%w: batch sizes %d, %d, %d differ", ErrDimension, len(anchor), len(positive), len(negative))
	}
	if math.IsNaN(alpha) || math.IsInf(alpha, 0) {
		return 0, fmt.Errorf("%w: alpha %v", ErrInvalid, alpha)
	}
	var loss float64
	for i := range anchor {
		a, p, n := anchor[i], positive[i], negative[i]
		if len(p) != len(a) || len(n) != len(a) || (i > 0 && len(a) != len(anchor[0])) {
			return 0, fmt.Errorf("%w: triplet %d has lengths %d, %d, %d", ErrDimension, i, len(a), len(p), len(n))
		}
		var pos, neg float64
		for j := range a {
			for _, v := range [...]float32{a[j], p[j], n[j]} {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return 0, fmt.Errorf("%w: triplet %d holds %v", ErrInvalid, i, v)
				}
			}
			dp := float64(a[j]) - float64(p[j])
			dn := float64(a[j]) - float64(n[j])
			pos += dp * dp
			neg += dn * dn
		}
		loss += math.Max(pos-neg+alpha, 0)
	}
	return loss, nil
}
