package detector_test

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"testing"

	"github.com/facebatch/facebatch/detector"
)

// coordImage returns an image whose pixel (x, y) is RGBA(x-Min.X, y-Min.Y, 7, 255),
// so a crop's pixels say where they came from.
func coordImage(r image.Rectangle) *image.RGBA {
	m := image.NewRGBA(r)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			m.SetRGBA(x, y, color.RGBA{uint8(x - r.Min.X), uint8(y - r.Min.Y), 7, 255})
		}
	}
	return m
}

func clampInt(v, lo, hi int) int { return max(lo, min(v, hi)) }

func TestCrop(t *testing.T) {
	img := coordImage(image.Rect(0, 0, 200, 150))
	offset := coordImage(image.Rect(-30, 20, 170, 170)) // same pixels, bounds moved
	nrgba := image.NewNRGBA(img.Bounds())
	draw.Draw(nrgba, nrgba.Bounds(), img, image.Point{}, draw.Src)
	tests := []struct {
		name   string
		img    image.Image
		box    image.Rectangle
		margin float64
		side   int
		origin image.Point // where the crop's (0,0) lies, in image coordinates
	}{
		{"inside, no margin", img, image.Rect(50, 40, 110, 100), 0, 60, image.Pt(50, 40)},
		{"inside, margin 0.2", img, image.Rect(50, 40, 110, 100), 0.2, 72, image.Pt(44, 34)},
		{"wide box becomes square", img, image.Rect(50, 40, 130, 100), 0, 80, image.Pt(50, 30)},
		{"tall box becomes square", img, image.Rect(50, 40, 90, 100), 0.5, 90, image.Pt(25, 25)},
		{"odd rounding", img, image.Rect(10, 10, 21, 21), 0.1, 12, image.Pt(9, 9)}, // 12.1 -> 12, centre 15.5 -> 15
		{"top-left corner", img, image.Rect(0, 0, 40, 40), 1, 80, image.Pt(-20, -20)},
		{"bottom-right corner", img, image.Rect(170, 120, 200, 150), 1, 60, image.Pt(155, 105)},
		{"box partly outside", img, image.Rect(-10, 100, 30, 160), 0, 60, image.Pt(-20, 100)},
		{"box wholly outside", img, image.Rect(300, 300, 310, 310), 0, 10, image.Pt(300, 300)},
		{"bigger than the image", img, image.Rect(0, 0, 200, 150), 0.5, 300, image.Pt(-50, -75)},
		{"offset bounds", offset, image.Rect(-30, 20, 10, 60), 0.5, 60, image.Pt(-40, 10)},
		{"nrgba (generic path)", nrgba, image.Rect(0, 0, 40, 40), 1, 80, image.Pt(-20, -20)},
		{"sub-image", img.SubImage(image.Rect(100, 50, 200, 150)), image.Rect(110, 60, 150, 100), 0.5, 60, image.Pt(100, 50)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := detector.Crop(tt.img, tt.box, tt.margin)
			if want := image.Rect(0, 0, tt.side, tt.side); got.Bounds() != want {
				t.Fatalf("bounds %v, want %v", got.Bounds(), want)
			}
			b := tt.img.Bounds()
			for y := 0; y < tt.side; y++ {
				for x := 0; x < tt.side; x++ {
					sx := clampInt(tt.origin.X+x, b.Min.X, b.Max.X-1)
					sy := clampInt(tt.origin.Y+y, b.Min.Y, b.Max.Y-1)
					want := color.RGBAModel.Convert(tt.img.At(sx, sy)).(color.RGBA)
					if g := got.RGBAAt(x, y); g != want {
						t.Fatalf("pixel (%d,%d) = %v, want %v (image pixel %d,%d)", x, y, g, want, sx, sy)
					}
				}
			}
		})
	}
}

// TestCropEdges checks edge replication directly: outside the image, rows and
// columns repeat the border pixels, and the face stays in the middle.
func TestCropEdges(t *testing.T) {
	img := coordImage(image.Rect(0, 0, 100, 100))
	got := detector.Crop(img, image.Rect(0, 0, 20, 20), 1) // 40x40 from (-10,-10)
	tests := []struct {
		name string
		x, y int
		want color.RGBA
	}{
		{"corner replicates (0,0)", 0, 0, color.RGBA{0, 0, 7, 255}},
		{"left margin replicates column 0", 3, 25, color.RGBA{0, 15, 7, 255}},
		{"top margin replicates row 0", 25, 9, color.RGBA{15, 0, 7, 255}},
		{"first image pixel", 10, 10, color.RGBA{0, 0, 7, 255}},
		{"box centre at crop centre", 20, 20, color.RGBA{10, 10, 7, 255}},
		{"inside on the right", 39, 39, color.RGBA{29, 29, 7, 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if g := got.RGBAAt(tt.x, tt.y); g != tt.want {
				t.Fatalf("pixel (%d,%d) = %v, want %v", tt.x, tt.y, g, tt.want)
			}
		})
	}
}

func TestCropDegenerate(t *testing.T) {
	img := coordImage(image.Rect(0, 0, 50, 50))
	tests := []struct {
		name   string
		img    image.Image
		box    image.Rectangle
		margin float64
		side   int
	}{
		{"empty box", img, image.Rectangle{}, 0.2, 0},
		{"margin -1", img, image.Rect(0, 0, 20, 20), -1, 0},
		{"shrinking margin", img, image.Rect(0, 0, 20, 20), -0.5, 10},
		{"empty image", image.NewRGBA(image.Rectangle{}), image.Rect(0, 0, 20, 20), 0, 20},
		{"NaN margin", img, image.Rect(0, 0, 20, 20), math.NaN(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := detector.Crop(tt.img, tt.box, tt.margin)
			if want := image.Rect(0, 0, tt.side, tt.side); got.Bounds() != want {
				t.Fatalf("bounds %v, want %v", got.Bounds(), want)
			}
			if tt.img.Bounds().Empty() {
				for _, p := range got.Pix {
					if p != 0 {
						t.Fatal("crop of an empty image is not all zero")
					}
				}
			}
		})
	}
}
