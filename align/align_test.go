package align_test

import (
	"errors"
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/facebatch/facebatch/align"
	"github.com/facebatch/facebatch/detector"
)

func near(a, b detector.Point, tol float64) bool {
	return math.Abs(a.X-b.X) <= tol && math.Abs(a.Y-b.Y) <= tol
}

var template = detector.Landmarks{{X: 54, Y: 65}, {X: 106, Y: 65}, {X: 80, Y: 90}, {X: 58, Y: 112}, {X: 102, Y: 112}}

func TestEstimate(t *testing.T) {
	tests := []struct {
		name string
		want align.Similarity
	}{
		{"identity", align.Similarity{A: 1}},
		{"shift", align.Similarity{A: 1, TX: -30.5, TY: 12}},
		{"scale", align.Similarity{A: 2.5}},
		{"rotate 30 and shrink", align.Similarity{A: 0.4 * math.Cos(math.Pi/6), B: 0.4 * math.Sin(math.Pi/6), TX: 7, TY: -3}},
		{"upside down", align.Similarity{A: -1.2, TX: 200, TY: 150}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := template[:]
			dst := make([]detector.Point, len(src))
			for i, p := range src {
				dst[i] = tt.want.Apply(p)
			}
			got, err := align.Estimate(src, dst)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.A-tt.want.A) > 1e-9 || math.Abs(got.B-tt.want.B) > 1e-9 || math.Abs(got.TX-tt.want.TX) > 1e-7 || math.Abs(got.TY-tt.want.TY) > 1e-7 {
				t.Fatalf("Estimate = %+v, want %+v", got, tt.want)
			}
			for _, p := range src {
				if back := got.Inverse().Apply(got.Apply(p)); !near(back, p, 1e-9) {
					t.Fatalf("Inverse(Apply(%v)) = %v", p, back)
				}
			}
		})
	}
}

// TestEstimateLeastSquares: with noisy points the fit is the least-squares
// one: moving any parameter a little makes the error grow.
func TestEstimateLeastSquares(t *testing.T) {
	src := template[:]
	dst := []detector.Point{{X: 10, Y: 20}, {X: 61, Y: 18}, {X: 40, Y: 47}, {X: 15, Y: 70}, {X: 58, Y: 66}}
	s, err := align.Estimate(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	cost := func(s align.Similarity) float64 {
		var c float64
		for i, p := range src {
			q := s.Apply(p)
			c += (q.X-dst[i].X)*(q.X-dst[i].X) + (q.Y-dst[i].Y)*(q.Y-dst[i].Y)
		}
		return c
	}
	best := cost(s)
	for _, d := range []align.Similarity{{A: 1e-3}, {A: -1e-3}, {B: 1e-3}, {B: -1e-3}, {TX: 0.01}, {TX: -0.01}, {TY: 0.01}, {TY: -0.01}} {
		moved := align.Similarity{A: s.A + d.A, B: s.B + d.B, TX: s.TX + d.TX, TY: s.TY + d.TY}
		if c := cost(moved); c < best {
			t.Errorf("moving by %+v lowers the error from %v to %v", d, best, c)
		}
	}
}

func TestEstimateAffine(t *testing.T) {
	want := align.Affine{XX: 1.3, XY: -0.2, X0: 12, YX: 0.15, YY: 0.8, Y0: -40}
	dst := make([]detector.Point, len(template))
	for i, p := range template {
		dst[i] = want.Apply(p)
	}
	got, err := align.EstimateAffine(template[:], dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range template {
		if q := got.Apply(p); !near(q, want.Apply(p), 1e-6) {
			t.Fatalf("EstimateAffine = %+v, want %+v", got, want)
		}
		if back := got.Inverse().Apply(got.Apply(p)); !near(back, p, 1e-6) {
			t.Fatalf("Inverse(Apply(%v)) = %v", p, back)
		}
	}
	line := []detector.Point{{X: 0, Y: 0}, {X: 1, Y: 1}, {X: 2, Y: 2}, {X: 3, Y: 3}}
	if _, err := align.EstimateAffine(line, line); !errors.Is(err, align.ErrDegenerate) {
		t.Errorf("points on a line: %v, want ErrDegenerate", err)
	}
}

func TestEstimateDegenerate(t *testing.T) {
	same := []detector.Point{{X: 5, Y: 5}, {X: 5, Y: 5}, {X: 5, Y: 5}}
	nan := []detector.Point{{X: math.NaN(), Y: 1}, {X: 2, Y: 3}, {X: 4, Y: 5}}
	tests := []struct {
		name     string
		src, dst []detector.Point
	}{
		{"one point", template[:1], template[:1]},
		{"lengths differ", template[:3], template[:4]},
		{"all in one place", same, template[:3]},
		{"NaN", nan, template[:3]},
		{"collapse", template[:], []detector.Point{{X: 1, Y: 1}, {X: 1, Y: 1}, {X: 1, Y: 1}, {X: 1, Y: 1}, {X: 1, Y: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := align.Estimate(tt.src, tt.dst); !errors.Is(err, align.ErrDegenerate) {
				t.Fatalf("err %v, want ErrDegenerate", err)
			}
		})
	}
}

// dots is a grey image with a coloured 3x3 dot at each point; pixel
// (x, y) off the dots encodes nothing.
func dots(r image.Rectangle, pts []detector.Point) *image.RGBA {
	m := image.NewRGBA(r)
	for i := range m.Pix {
		m.Pix[i] = 128
	}
	for i, p := range pts {
		c := color.RGBA{uint8(40 * (i + 1)), 255, 0, 255}
		for dy := -1; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				m.SetRGBA(int(math.Round(p.X))+dx, int(math.Round(p.Y))+dy, c)
			}
		}
	}
	return m
}

// TestFace: a face rotated, shifted and scaled in a photo comes out with
// its landmarks at the template's positions, at the template's size when
// enlarged and at the photo's resolution when shrunk.
func TestFace(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		place    align.Affine // template → photo
		bounds   image.Rectangle
		wantSide int
	}{
		{"upright, same size", "similarity", align.Similarity{A: 1, TX: 100, TY: 50}.Affine(), image.Rect(0, 0, 400, 300), 160},
		{"rotated 25°, small", "similarity", align.Similarity{A: 0.5 * math.Cos(0.436), B: 0.5 * math.Sin(0.436), TX: 210, TY: 40}.Affine(), image.Rect(0, 0, 400, 300), 160},
		{"rotated -30°, large", "similarity", align.Similarity{A: 2 * math.Cos(-0.52), B: 2 * math.Sin(-0.52), TX: 20, TY: 250}.Affine(), image.Rect(0, 0, 600, 600), 320},
		{"offset bounds", "similarity", align.Similarity{A: 1.2, TX: -50, TY: 30}.Affine(), image.Rect(-100, 0, 300, 300), 192},
		{"stretched, affine", "affine", align.Affine{XX: 0.6, XY: 0.1, X0: 150, YX: -0.05, YY: 0.9, Y0: 60}, image.Rect(0, 0, 400, 300), 160},
		{"shrunk, affine", "affine", align.Affine{XX: 1.5, XY: 0.3, X0: 20, YX: 0.1, YY: 1.8, Y0: 10}, image.Rect(0, 0, 500, 500), 262}, // ceil(160·sqrt(1.5·1.8 - 0.3·0.1))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lm detector.Landmarks
			for i, p := range template {
				lm[i] = tt.place.Apply(p)
			}
			photo := dots(tt.bounds, lm[:])
			got, err := align.Face(photo, &lm, &template, 160, tt.method)
			if err != nil {
				t.Fatal(err)
			}
			if want := image.Rect(0, 0, tt.wantSide, tt.wantSide); got.Bounds() != want {
				t.Fatalf("crop %v, want %v", got.Bounds(), want)
			}
			zoom := float64(tt.wantSide) / 160
			for i, p := range template {
				x, y := int(math.Round(p.X*zoom)), int(math.Round(p.Y*zoom))
				c := got.RGBAAt(x, y)
				if c.G != 255 || c.R != uint8(40*(i+1)) {
					t.Errorf("landmark %d: crop pixel (%d,%d) is %v, want its dot", i, x, y, c)
				}
			}
		})
	}
}

// TestWarpEdges: samples past the photo repeat its edge pixels.
func TestWarpEdges(t *testing.T) {
	m := image.NewRGBA(image.Rect(0, 0, 10, 10))
	for y := 0; y < 10; y++ {
		for x := 0; x < 10; x++ {
			m.SetRGBA(x, y, color.RGBA{uint8(10 * x), uint8(10 * y), 0, 255})
		}
	}
	got := align.Warp(m, align.Similarity{A: 1, TX: 5, TY: 5}.Affine(), 20, 20) // the photo sits at (5,5)-(15,15)
	tests := []struct {
		x, y int
		want color.RGBA
	}{
		{0, 0, color.RGBA{0, 0, 0, 255}},
		{19, 0, color.RGBA{90, 0, 0, 255}},
		{7, 19, color.RGBA{20, 90, 0, 255}},
		{9, 12, color.RGBA{40, 70, 0, 255}},
	}
	for _, tt := range tests {
		if c := got.RGBAAt(tt.x, tt.y); c != tt.want {
			t.Errorf("pixel (%d,%d) = %v, want %v", tt.x, tt.y, c, tt.want)
		}
	}
	if _, err := align.Face(m, nil, &template, 160, "similarity"); err == nil {
		t.Error("Face without landmarks gave no error")
	}
	lm := template
	if _, err := align.Face(m, &lm, &template, 160, "perspective"); err == nil {
		t.Error("Face with an unknown method gave no error")
	}
}

func BenchmarkFace(b *testing.B) {
	photo := dots(image.Rect(0, 0, 250, 250), nil)
	lm := detector.Landmarks{{X: 100, Y: 110}, {X: 145, Y: 108}, {X: 120, Y: 135}, {X: 105, Y: 155}, {X: 143, Y: 153}}
	for b.Loop() {
		if _, err := align.Face(photo, &lm, &template, 160, "similarity"); err != nil {
			b.Fatal(err)
		}
	}
}
