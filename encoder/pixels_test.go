package encoder

import (
	"image"
	"math"
	"testing"
)

func TestAppendPixels(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7 % 256)
	}
	flat := image.NewRGBA(image.Rect(0, 0, 4, 3))
	for i := range flat.Pix {
		flat.Pix[i] = 90
	}
	t.Run("div255", func(t *testing.T) {
		got := appendPixels([]float32{-1}, img, "div255")
		if len(got) != 1+4*3*3 || got[0] != -1 {
			t.Fatalf("appended %d values after the existing one (%v)", len(got)-1, got[0])
		}
		// Pixel (1,0) is Pix[4:7] = 28, 35, 42.
		if got[4] != float32(28)/255 || got[6] != float32(42)/255 {
			t.Errorf("values %v, %v", got[4], got[6])
		}
	})
	t.Run("standardize", func(t *testing.T) {
		got := appendPixels([]float32{-1}, img, "standardize")[1:]
		var sum, sq float64
		for _, v := range got {
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
		n := float64(len(got))
		if mean, std := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n)); math.Abs(mean) > 1e-6 || math.Abs(std-1) > 1e-5 {
			t.Errorf("mean %v std %v, want 0 and 1", mean, std)
		}
	})
	t.Run("standardize flat", func(t *testing.T) {
		for _, v := range appendPixels(nil, flat, "standardize") {
			if v != 0 {
				t.Fatalf("a flat image standardised to %v, want 0 (std floored, not divided by 0)", v)
			}
		}
	})
}

func TestResize(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 300, 200))
	for i := range src.Pix {
		src.Pix[i] = 77
		if i%4 == 3 {
			src.Pix[i] = 0xff // opaque
		}
	}
	for x := 0; x < 300; x += 2 { // a one-pixel stripe pattern NEAREST would alias
		for y := 0; y < 200; y++ {
			src.Pix[src.PixOffset(x, y)] = 255
		}
	}
	near := Resize(src, 160, 160, "nearest")
	if want := ResizeNearest(src, 160, 160); string(near.Pix) != string(want.Pix) {
		t.Error(`Resize "nearest" differs from ResizeNearest`)
	}
	cubic := Resize(src, 160, 160, "catmullrom")
	if cubic.Bounds() != image.Rect(0, 0, 160, 160) {
		t.Fatalf("bounds %v", cubic.Bounds())
	}
	// Shrinking the stripes averages them: red stays near (255+77)/2 and
	// green is untouched; NEAREST keeps only 77s and 255s.
	lo, hi := uint8(255), uint8(0)
	for y := 10; y < 150; y++ {
		for x := 10; x < 150; x++ {
			r := cubic.Pix[cubic.PixOffset(x, y)]
			lo, hi = min(lo, r), max(hi, r)
			if g := cubic.Pix[cubic.PixOffset(x, y)+1]; g != 77 {
				t.Fatalf("green %d at (%d,%d), want 77", g, x, y)
			}
		}
	}
	if lo < 120 || hi > 210 {
		t.Errorf("red spans %d..%d after averaging, want about 166", lo, hi)
	}
}
