// Package matchertest makes encodings for the tests and benchmarks of
// matching and clustering.
package matchertest

import "math"

// RandomUnit returns a random dim-dimensional unit vector, uniform on the
// sphere: dim normal samples, normalised. r is a *rand.Rand of math/rand
// or math/rand/v2.
func RandomUnit(r interface{ NormFloat64() float64 }, dim int) []float32 {
	v := make([]float32, dim)
	var sum float64
	for i := range v {
		x := r.NormFloat64()
		v[i], sum = float32(x), sum+x*x
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / math.Sqrt(sum))
	}
	return v
}
