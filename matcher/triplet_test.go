package matcher_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/facebatch/facebatch/matcher"
)

type vecs = [][]float32

func TestDefaultAlpha(t *testing.T) {
	if matcher.DefaultAlpha != 0.2 {
		t.Errorf("DefaultAlpha = %v, want 0.2", matcher.DefaultAlpha)
	}
}

func TestTripletLoss(t *testing.T) {
	// Every value below is a short binary fraction, so squared distances are
	// exact and the expectations are exact up to the rounding of alpha.
	tests := []struct {
		name    string
		a, p, n vecs
		alpha   float64
		want    float64
	}{
		{
			name:  "empty batch",
			alpha: matcher.DefaultAlpha,
			want:  0,
		},
		{
			name:  "negatives far away",
			a:     vecs{{0, 0}, {1, 1}, {-1, 0.5}},
			p:     vecs{{0.5, 0}, {1, 1}, {-1, 0}},
			n:     vecs{{2, 0}, {-1, -1}, {1, 0.5}},
			alpha: matcher.DefaultAlpha,
			// 0.25-4+0.2, 0-8+0.2, 0.25-4+0.2: all negative.
			want: 0,
		},
		{
			name:  "boundary is inactive",
			a:     vecs{{0}},
			p:     vecs{{0.5}},
			n:     vecs{{1}},
			alpha: 0.75,
			// 0.25 - 1 + 0.75 = 0 exactly.
			want: 0,
		},
		{
			name:  "positive equals negative gives alpha",
			a:     vecs{{0.5, -0.5}},
			p:     vecs{{1, 1}},
			n:     vecs{{1, 1}},
			alpha: matcher.DefaultAlpha,
			want:  0.2,
		},
		{
			name:  "identical triplet gives alpha",
			a:     vecs{{1, 2, 3}},
			p:     vecs{{1, 2, 3}},
			n:     vecs{{1, 2, 3}},
			alpha: matcher.DefaultAlpha,
			want:  0.2,
		},
		{
			name:  "zero alpha, equal distances",
			a:     vecs{{0, 0}},
			p:     vecs{{1, 0}},
			n:     vecs{{0, -1}},
			alpha: 0,
			want:  0,
		},
		{
			name:  "one active triplet",
			a:     vecs{{0, 0}, {1, 1}, {3, 3}},
			p:     vecs{{0.5, 0}, {1, 0}, {3, 3}},
			n:     vecs{{2, 0}, {1, 1.5}, {0, 0}},
			alpha: matcher.DefaultAlpha,
			// 0.25-4+0.2 < 0; 1-0.25+0.2 = 0.95; 0-18+0.2 < 0.
			want: 0.95,
		},
		{
			name:  "only the last triplet active",
			a:     vecs{{0}, {0}, {0}, {0}},
			p:     vecs{{0.5}, {0.5}, {0.5}, {2}},
			n:     vecs{{1}, {-1}, {4}, {1}},
			alpha: matcher.DefaultAlpha,
			// 0.25-1+0.2 < 0 twice; 0.25-16+0.2 < 0; 4-1+0.2 = 3.2.
			want: 3.2,
		},
		{
			name: "several active",
			a:    vecs{{0, 0, 0}, {1, 2, 3}, {-1, 0, 1}, {0.25, 0.25, 0.25}},
			p:    vecs{{1, 0, 0}, {1, 2, 3.5}, {0, 0, 0}, {-0.25, 0.25, 0.25}},
			n:    vecs{{0, 0, 0}, {1, 2, 3.25}, {-1, 0, 2.5}, {0.25, 0.25, 0.25}},
			// 1-0+0.2 = 1.2; 0.25-0.0625+0.2 = 0.3875;
			// 2-2.25+0.2 = -0.05 (inactive); 0.25-0+0.2 = 0.45.
			alpha: matcher.DefaultAlpha,
			want:  2.0375,
		},
		{
			name:  "several active, zero alpha",
			a:     vecs{{0, 0, 0}, {1, 2, 3}, {-1, 0, 1}, {0.25, 0.25, 0.25}},
			p:     vecs{{1, 0, 0}, {1, 2, 3.5}, {0, 0, 0}, {-0.25, 0.25, 0.25}},
			n:     vecs{{0, 0, 0}, {1, 2, 3.25}, {-1, 0, 2.5}, {0.25, 0.25, 0.25}},
			alpha: 0,
			// 1 + 0.1875 + 0 + 0.25.
			want: 1.4375,
		},
		{
			name:  "several active, alpha one",
			a:     vecs{{0, 0, 0}, {1, 2, 3}, {-1, 0, 1}, {0.25, 0.25, 0.25}},
			p:     vecs{{1, 0, 0}, {1, 2, 3.5}, {0, 0, 0}, {-0.25, 0.25, 0.25}},
			n:     vecs{{0, 0, 0}, {1, 2, 3.25}, {-1, 0, 2.5}, {0.25, 0.25, 0.25}},
			alpha: 1,
			// 2 + 1.1875 + 0.75 + 1.25.
			want: 5.1875,
		},
		{
			name:  "all active, unit encodings",
			a:     vecs{{1, 0}, {0, 1}},
			p:     vecs{{-1, 0}, {0, -1}},
			n:     vecs{{0, 1}, {1, 0}},
			alpha: matcher.DefaultAlpha,
			// (4-2+0.2) twice.
			want: 4.4,
		},
		{
			name:  "empty encodings",
			a:     vecs{{}, {}},
			p:     vecs{{}, {}},
			n:     vecs{{}, {}},
			alpha: matcher.DefaultAlpha,
			// Both squared distances are 0, so each triplet contributes alpha.
			want: 0.4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := matcher.TripletLoss(tt.a, tt.p, tt.n, tt.alpha)
			if err != nil {
				t.Fatalf("TripletLoss(%v, %v, %v, %v): %v", tt.a, tt.p, tt.n, tt.alpha, err)
			}
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("TripletLoss(%v, %v, %v, %v) = %v, want %v", tt.a, tt.p, tt.n, tt.alpha, got, tt.want)
			}
			if tt.want == 0 && got != 0 {
				t.Errorf("TripletLoss(%v, %v, %v, %v) = %v, want exactly 0", tt.a, tt.p, tt.n, tt.alpha, got)
			}
		})
	}
}

func TestTripletLossErrors(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	ok := vecs{{0, 1}, {1, 0}}
	tests := []struct {
		name    string
		a, p, n vecs
		alpha   float64
		want    error
	}{
		{"fewer positives", ok, vecs{{0, 1}}, ok, matcher.DefaultAlpha, matcher.ErrDimension},
		{"fewer negatives", ok, ok, vecs{{0, 1}}, matcher.DefaultAlpha, matcher.ErrDimension},
		{"fewer anchors", vecs{{0, 1}}, ok, ok, matcher.DefaultAlpha, matcher.ErrDimension},
		{"nil positives", ok, nil, ok, matcher.DefaultAlpha, matcher.ErrDimension},
		{"more negatives", ok, ok, vecs{{0, 1}, {1, 0}, {1, 1}}, matcher.DefaultAlpha, matcher.ErrDimension},
		{"short positive", ok, vecs{{0}, {1, 0}}, ok, matcher.DefaultAlpha, matcher.ErrDimension},
		{"long negative", ok, ok, vecs{{0, 1}, {1, 0, 0}}, matcher.DefaultAlpha, matcher.ErrDimension},
		{"empty anchor", vecs{{}, {1, 0}}, ok, ok, matcher.DefaultAlpha, matcher.ErrDimension},
		{
			"triplets of different lengths",
			vecs{{0, 1}, {1, 0, 0}},
			vecs{{0, 1}, {1, 0, 0}},
			vecs{{0, 1}, {1, 0, 0}},
			matcher.DefaultAlpha, matcher.ErrDimension,
		},
		{
			"empty then non-empty triplet",
			vecs{{}, {1}},
			vecs{{}, {1}},
			vecs{{}, {1}},
			matcher.DefaultAlpha, matcher.ErrDimension,
		},
		{"NaN anchor", vecs{{0, 1}, {nan, 0}}, ok, ok, matcher.DefaultAlpha, matcher.ErrInvalid},
		{"NaN positive", ok, vecs{{0, nan}, {1, 0}}, ok, matcher.DefaultAlpha, matcher.ErrInvalid},
		{"NaN negative", ok, ok, vecs{{0, 1}, {1, nan}}, matcher.DefaultAlpha, matcher.ErrInvalid},
		{"+Inf anchor", vecs{{inf, 1}, {1, 0}}, ok, ok, matcher.DefaultAlpha, matcher.ErrInvalid},
		{"-Inf negative", ok, ok, vecs{{0, -inf}, {1, 0}}, matcher.DefaultAlpha, matcher.ErrInvalid},
		// NaN in an otherwise inactive triplet must not vanish inside max(·, 0).
		{"NaN in far negative", vecs{{0}}, vecs{{0}}, vecs{{nan}}, matcher.DefaultAlpha, matcher.ErrInvalid},
		{"NaN alpha", ok, ok, ok, math.NaN(), matcher.ErrInvalid},
		{"+Inf alpha", ok, ok, ok, math.Inf(1), matcher.ErrInvalid},
		{"-Inf alpha", ok, ok, ok, math.Inf(-1), matcher.ErrInvalid},
		{"NaN alpha, empty batch", nil, nil, nil, math.NaN(), matcher.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := matcher.TripletLoss(tt.a, tt.p, tt.n, tt.alpha)
			if !errors.Is(err, tt.want) {
				t.Fatalf("TripletLoss(%v, %v, %v, %v) error = %v, want %v", tt.a, tt.p, tt.n, tt.alpha, err, tt.want)
			}
			if got != 0 {
				t.Errorf("TripletLoss(%v, %v, %v, %v) = %v with error, want 0", tt.a, tt.p, tt.n, tt.alpha, got)
			}
		})
	}
}

// sqDist is the squared Euclidean distance, accumulated in float64 as
// TripletLoss does.
func sqDist(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}

func randVec(r *rand.Rand, dim int, scale float64) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

// randDir is a random float64 unit vector.
func randDir(r *rand.Rand, dim int) []float64 {
	for {
		v := make([]float64, dim)
		var s float64
		for i := range v {
			v[i] = r.NormFloat64()
			s += v[i] * v[i]
		}
		if s < 1e-12 {
			continue
		}
		s = math.Sqrt(s)
		for i := range v {
			v[i] /= s
		}
		return v
	}
}

// singleSum is the sum over the batch of TripletLoss on each triplet alone.
func singleSum(t *testing.T, a, p, n vecs, alpha float64) float64 {
	t.Helper()
	var sum float64
	for i := range a {
		l, err := matcher.TripletLoss(a[i:i+1], p[i:i+1], n[i:i+1], alpha)
		if err != nil {
			t.Fatalf("TripletLoss on triplet %d alone: %v", i, err)
		}
		if l < 0 {
			t.Fatalf("TripletLoss on triplet %d alone = %v, want >= 0", i, l)
		}
		sum += l
	}
	return sum
}

func TestTripletLossProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const iterations = 400
	for iter := range iterations {
		dim := 1 + r.IntN(16)
		batch := 1 + r.IntN(8)
		alpha := matcher.DefaultAlpha
		if iter%2 == 1 {
			alpha = r.Float64()
		}
		scale := []float64{0.01, 0.3, 1, 10}[r.IntN(4)]

		// Unconstrained triplets: the loss is non-negative, is the sum of the
		// per-triplet losses, and agrees with the formula.
		a, p, n := make(vecs, batch), make(vecs, batch), make(vecs, batch)
		var want float64
		for i := range batch {
			a[i], p[i], n[i] = randVec(r, dim, scale), randVec(r, dim, scale), randVec(r, dim, scale)
			want += math.Max(sqDist(a[i], p[i])-sqDist(a[i], n[i])+alpha, 0)
		}
		got, err := matcher.TripletLoss(a, p, n, alpha)
		if err != nil {
			t.Fatalf("iteration %d (batch %d, dim %d): random batch: %v", iter, batch, dim, err)
		}
		if got < 0 {
			t.Errorf("iteration %d (batch %d, dim %d): random batch loss = %v, want >= 0", iter, batch, dim, got)
		}
		if s := singleSum(t, a, p, n, alpha); got != s {
			t.Errorf("iteration %d (batch %d, dim %d): batch loss %v != sum of per-triplet losses %v", iter, batch, dim, got, s)
		}
		if math.Abs(got-want) > 1e-9*math.Max(1, want) {
			t.Errorf("iteration %d (batch %d, dim %d): batch loss %v, want %v", iter, batch, dim, got, want)
		}

		// Separated triplets: each negative is farther from its anchor than
		// the positive by more than alpha in squared distance, so the loss is
		// exactly 0.
		for i := range batch {
			a[i] = randVec(r, dim, scale)
			p[i] = make([]float32, dim)
			noise := randVec(r, dim, 0.5*scale)
			for j := range dim {
				p[i][j] = a[i][j] + noise[j]
			}
			pos := sqDist(a[i], p[i])
			// Radius whose square exceeds pos+alpha by a comfortable margin.
			radius := math.Sqrt(pos+alpha) + 0.1 + r.Float64()
			dir := randDir(r, dim)
			n[i] = make([]float32, dim)
			for j := range dim {
				n[i][j] = float32(float64(a[i][j]) + radius*dir[j])
			}
			if neg := sqDist(a[i], n[i]); !(neg-pos > alpha) {
				t.Fatalf("iteration %d: construction failed: triplet %d has ‖a−p‖² = %v, ‖a−n‖² = %v, alpha %v", iter, i, pos, neg, alpha)
			}
		}
		got, err = matcher.TripletLoss(a, p, n, alpha)
		if err != nil {
			t.Fatalf("iteration %d (batch %d, dim %d): separated batch: %v", iter, batch, dim, err)
		}
		if got != 0 {
			t.Errorf("iteration %d (batch %d, dim %d): separated batch loss = %v, want exactly 0", iter, batch, dim, got)
		}
		if s := singleSum(t, a, p, n, alpha); s != 0 {
			t.Errorf("iteration %d (batch %d, dim %d): separated per-triplet losses sum to %v, want 0", iter, batch, dim, s)
		}

		// Swapping positives and negatives makes every triplet active.
		got, err = matcher.TripletLoss(a, n, p, alpha)
		if err != nil {
			t.Fatalf("iteration %d (batch %d, dim %d): swapped batch: %v", iter, batch, dim, err)
		}
		if got <= 0 {
			t.Errorf("iteration %d (batch %d, dim %d): swapped batch loss = %v, want > 0", iter, batch, dim, got)
		}
		if s := singleSum(t, a, n, p, alpha); got != s {
			t.Errorf("iteration %d (batch %d, dim %d): swapped batch loss %v != sum of per-triplet losses %v", iter, batch, dim, got, s)
		}
	}
}
