package detector

import (
	"image"
	"image/color"
	"math"
)

// maxCropSide bounds the square Crop allocates (a hostile box or margin must
// not exhaust memory): 16384² RGBA is 1 GiB.
const maxCropSide = 1 << 14

// Crop cuts a square around box enlarged by margin (fraction of the box side,
// e.g. 0.2 adds 10% each side), filling any part outside the image by
// replicating edge pixels (so the face stays centred), and returns it as
// *image.RGBA with Bounds starting at (0,0).
//
// The square's side is the box's longer side times 1+margin, rounded, and
// its centre is the box's centre (rounded down when the parity differs). An
// empty box, a margin at or below -1 or an empty image give an empty or
// all-zero result; the side is capped at 16384.
func Crop(img image.Image, box image.Rectangle, margin float64) *image.RGBA {
	box = box.Canon()
	side := 0
	if s := float64(max(box.Dx(), box.Dy())) * (1 + margin); s > 0 && !math.IsNaN(s) {
		side = int(min(math.Round(s), maxCropSide))
	}
	dst := image.NewRGBA(image.Rect(0, 0, side, side))
	b := img.Bounds()
	if side == 0 || b.Empty() {
		return dst
	}
	// Top-left corner: centre minus half the side, in doubled coordinates to
	// stay in integers; floorDiv keeps the rounding the same left of 0.
	x0 := floorDiv(box.Min.X+box.Max.X-side, 2)
	y0 := floorDiv(box.Min.Y+box.Max.Y-side, 2)

	// Source column of every destination column, clamped to the image.
	cols := make([]int, side)
	for x := range cols {
		cols[x] = clamp(x0+x, b.Min.X, b.Max.X-1)
	}
	src, fast := img.(*image.RGBA)
	for y := 0; y < side; y++ {
		sy := clamp(y0+y, b.Min.Y, b.Max.Y-1)
		row := dst.Pix[y*dst.Stride : y*dst.Stride+4*side]
		if fast {
			line := src.Pix[src.PixOffset(b.Min.X, sy):][:4*b.Dx()]
			for x, sx := range cols {
				i := 4 * (sx - b.Min.X)
				copy(row[4*x:4*x+4], line[i:i+4])
			}
			continue
		}
		for x, sx := range cols {
			c := color.RGBAModel.Convert(img.At(sx, sy)).(color.RGBA)
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = c.R, c.G, c.B, c.A
		}
	}
	return dst
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }

// floorDiv is a/b rounded towards minus infinity, for b > 0.
func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
