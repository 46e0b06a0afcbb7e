package decoder_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/decoder/decodertest"
)

// photoJPEG is a w x h JPEG of decodertest.Pattern (4:2:0, as cameras
// write), stored with EXIF orientation o.
func photoJPEG(t testing.TB, w, h, o int) []byte {
	t.Helper()
	return orientedJPEG(t, decodertest.Pattern(w, h), o)
}

// gradient is a w x h image without edges: red grows to the right, green
// downwards.
func gradient(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(x * 255 / w), G: uint8(y * 255 / h), B: 128, A: 255})
		}
	}
	return img
}

func orientedJPEG(t testing.TB, img image.Image, o int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	if o == decoder.OrientNormal {
		return buf.Bytes()
	}
	return decodertest.WithOrientation(buf.Bytes(), o)
}

// regionDiff is the largest channel difference between a and b over a's
// bounds, which b must contain.
func regionDiff(t testing.TB, a, b *image.RGBA) int {
	t.Helper()
	if !a.Bounds().In(b.Bounds()) {
		t.Fatalf("bounds %v not inside %v", a.Bounds(), b.Bounds())
	}
	worst := 0
	for y := a.Rect.Min.Y; y < a.Rect.Max.Y; y++ {
		for x := a.Rect.Min.X; x < a.Rect.Max.X; x++ {
			p, q := a.Pix[a.PixOffset(x, y):], b.Pix[b.PixOffset(x, y):]
			for c := range 3 {
				worst = max(worst, int(p[c])-int(q[c]), int(q[c])-int(p[c]))
			}
		}
	}
	return worst
}

// A region decoded from its crop window is the full decode's pixels, in
// every orientation: the window is mapped to the stored pixels and back.
func TestRegionMatchesFull(t *testing.T) {
	d := newDecoder(t)
	rects := []image.Rectangle{
		image.Rect(37, 21, 201, 150),   // off the 8 and 16 pixel grid
		image.Rect(0, 0, 64, 64),       // a corner
		image.Rect(150, 200, 400, 400), // clipped at the right and bottom
	}
	for o := decoder.OrientNormal; o <= decoder.OrientRotate270; o++ {
		data := photoJPEG(t, 320, 240, o)
		full, _, err := d.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rects {
			t.Run(fmt.Sprintf("orientation %d %v", o, r), func(t *testing.T) {
				src, err := d.Open(data)
				if err != nil {
					t.Fatal(err)
				}
				if src.Bounds() != full.Bounds() {
					t.Fatalf("Bounds %v, the decode is %v", src.Bounds(), full.Bounds())
				}
				got, ratio, err := src.Region(r, 1)
				if err != nil {
					t.Fatal(err)
				}
				if want := r.Intersect(full.Bounds()); ratio != 1 || got.Bounds() != want {
					t.Fatalf("Region: bounds %v ratio %d, want %v ratio 1", got.Bounds(), ratio, want)
				}
				// libjpeg upsamples chroma across the window's edge from
				// fewer neighbours: a level or two at most.
				if diff := regionDiff(t, got, full); diff > 2 {
					t.Errorf("region differs from the full decode by %d levels", diff)
				}
			})
		}
	}
}

// At 1/2 and 1/4 scale a region covers the same part of the photo: its
// pixels are the full decode's averaged.
func TestRegionScaled(t *testing.T) {
	d := newDecoder(t)
	for _, o := range []int{decoder.OrientNormal, decoder.OrientRotate90} {
		data := orientedJPEG(t, gradient(320, 256), o)
		full, _, err := d.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		r := image.Rect(40, 32, 200, 160)
		for _, maxRatio := range []int{2, 3, 4} {
			src, _ := d.Open(data)
			got, ratio, err := src.Region(r, maxRatio)
			if err != nil {
				t.Fatal(err)
			}
			want := map[int]int{2: 2, 3: 2, 4: 4}[maxRatio]
			if ratio != want || got.Bounds() != image.Rect(r.Min.X/want, r.Min.Y/want, r.Max.X/want, r.Max.Y/want) {
				t.Fatalf("orientation %d maxRatio %d: ratio %d bounds %v", o, maxRatio, ratio, got.Bounds())
			}
			for _, p := range []image.Point{{60, 50}, {120, 100}, {180, 140}} {
				var sum [3]int
				for dy := range ratio {
					for dx := range ratio {
						c := full.RGBAAt(p.X+dx, p.Y+dy)
						sum[0], sum[1], sum[2] = sum[0]+int(c.R), sum[1]+int(c.G), sum[2]+int(c.B)
					}
				}
				c := got.RGBAAt(p.X/ratio, p.Y/ratio)
				for i, v := range []uint8{c.R, c.G, c.B} {
					if mean := sum[i] / (ratio * ratio); abs(int(v)-mean) > 3 {
						t.Errorf("orientation %d ratio %d at %v channel %d: %d, full decode's mean %d", o, ratio, p, i, v, mean)
					}
				}
			}
		}
	}
}

func abs(v int) int { return max(v, -v) }

// A preview is the photo shrunk to the long side asked for, upright, by
// area averaging; a photo that fits is its full decode.
func TestPreview(t *testing.T) {
	d := newDecoder(t)
	var pngData bytes.Buffer
	if err := png.Encode(&pngData, decodertest.Pattern(400, 300)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		maxSide int
		w, h    int
	}{
		{"jpeg fits", photoJPEG(t, 400, 300, 1), 400, 400, 300},
		{"jpeg via 1/2", photoJPEG(t, 400, 300, 1), 160, 160, 120},
		{"jpeg via 1/1", photoJPEG(t, 400, 300, 1), 300, 300, 225},
		{"jpeg rotated", photoJPEG(t, 400, 300, decoder.OrientRotate90), 100, 75, 100},
		{"jpeg transverse", photoJPEG(t, 400, 300, decoder.OrientTransverse), 200, 150, 200},
		{"png", pngData.Bytes(), 100, 100, 75},
		{"no limit", pngData.Bytes(), 0, 400, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			full, _, err := d.Decode(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			src, err := d.Open(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			img, sx, sy, err := src.Preview(tt.maxSide)
			if err != nil {
				t.Fatal(err)
			}
			if img.Bounds() != image.Rect(0, 0, tt.w, tt.h) {
				t.Fatalf("preview %v, want %dx%d", img.Bounds(), tt.w, tt.h)
			}
			if fx, fy := float64(tt.w)/float64(full.Bounds().Dx()), float64(tt.h)/float64(full.Bounds().Dy()); sx != fx || sy != fy {
				t.Errorf("scales %v, %v; want %v, %v", sx, sy, fx, fy)
			}
			// Each preview pixel is near the full decode's pixel it
			// covers: the pattern is smooth within 4 pixels away from
			// its wrap-around lines, which a few samples may straddle.
			bad := 0
			for y := 2; y < tt.h-2; y += 7 {
				for x := 2; x < tt.w-2; x += 7 {
					c := img.RGBAAt(x, y)
					f := full.RGBAAt(int((float64(x)+0.5)/sx), int((float64(y)+0.5)/sy))
					if abs(int(c.R)-int(f.R)) > 24 || abs(int(c.G)-int(f.G)) > 24 {
						bad++
					}
				}
			}
			if n := (tt.w / 7) * (tt.h / 7); bad > n/10 {
				t.Errorf("%d of about %d samples far from the full decode", bad, n)
			}
		})
	}
}
