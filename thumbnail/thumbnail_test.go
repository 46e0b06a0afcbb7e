package thumbnail

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"strings"
	"testing"
)

func gray(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	return img
}

func TestScale(t *testing.T) {
	tests := []struct {
		w, h, maxSide int
		want          image.Point
	}{
		{400, 200, 100, image.Pt(100, 50)},
		{200, 400, 100, image.Pt(50, 100)},
		{80, 60, 100, image.Pt(80, 60)}, // never enlarged
		{1000, 1, 100, image.Pt(100, 1)},
		{300, 300, 0, image.Pt(300, 300)},
	}
	for _, tt := range tests {
		got := Scale(gray(tt.w, tt.h), tt.maxSide).Bounds().Size()
		if got != tt.want {
			t.Errorf("Scale(%dx%d, %d) = %v, want %v", tt.w, tt.h, tt.maxSide, got, tt.want)
		}
	}
}

func TestDataURI(t *testing.T) {
	uri, err := DataURI(gray(300, 150), 120)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "data:image/jpeg;base64,"
	if !strings.HasPrefix(string(uri), prefix) {
		t.Fatalf("DataURI = %.40q..., want a JPEG data URI", uri)
	}
	data, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(uri), prefix))
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Size(); got != image.Pt(120, 60) {
		t.Errorf("decoded thumbnail %v, want 120x60", got)
	}
	for _, empty := range []image.Image{nil, image.NewRGBA(image.Rect(0, 0, 0, 5))} {
		if _, err := DataURI(empty, 10); err != ErrEmpty {
			t.Errorf("DataURI(empty) error %v, want ErrEmpty", err)
		}
	}
}

func TestWithBox(t *testing.T) {
	img := gray(200, 100)
	out := WithBox(img, image.Rect(50, 20, 150, 80), 100)
	if got := out.Bounds().Size(); got != image.Pt(100, 50) {
		t.Fatalf("size %v, want 100x50", got)
	}
	at := func(x, y int) color.RGBA { return color.RGBAModel.Convert(out.At(x, y)).(color.RGBA) }
	// The box scales to (25,10)-(75,40): its edges are drawn, inside and
	// outside are left alone, and the input is not modified.
	for _, p := range []image.Point{{25, 20}, {74, 20}, {50, 10}, {50, 39}} {
		if at(p.X, p.Y) != BoxColor {
			t.Errorf("pixel %v = %v, want the box colour", p, at(p.X, p.Y))
		}
	}
	for _, p := range []image.Point{{50, 25}, {5, 5}, {90, 45}} {
		if at(p.X, p.Y) == BoxColor {
			t.Errorf("pixel %v is box-coloured", p)
		}
	}
	if img.Pix[4*(20*200+50)] != 128 {
		t.Error("WithBox drew on its input")
	}
	// A box outside the image draws nothing.
	out = WithBox(img, image.Rect(500, 500, 600, 600), 100)
	for _, p := range []image.Point{{0, 0}, {99, 49}} {
		if at(p.X, p.Y) == BoxColor {
			t.Errorf("outside box: pixel %v is box-coloured", p)
		}
	}
}
