// Package align turns a detected face into an upright, standard crop: a
// similarity transform (rotation, uniform scale, shift) that takes the
// face's five landmarks as close as possible, in least squares, to a
// template's, and a bilinear warp of the photo through it.
package align

import (
	"errors"
	"image"
	"image/color"
	"image/draw"
	"math"

	"github.com/facebatch/facebatch/detector"
)

// ErrDegenerate means the landmarks do not fix a transform (all in one
// place, or not finite).
var ErrDegenerate = errors.New("align: degenerate landmarks")

// maxSide bounds the crop Face allocates: 4096² RGBA is 64 MiB.
const maxSide = 4096

// Similarity maps p to (A·x - B·y + TX, B·x + A·y + TY): a rotation by
// atan2(B, A) and a scale by hypot(A, B), then a shift.
type Similarity struct{ A, B, TX, TY float64 }

// Estimate returns the similarity that takes src closest to dst in least
// squares (Umeyama's solution, which in 2-D has a closed form).
func Estimate(src, dst []detector.Point) (Similarity, error) {
	if len(src) != len(dst) || len(src) < 2 {
		return Similarity{}, ErrDegenerate
	}
	var sc, dc detector.Point
	for i := range src {
		sc.X, sc.Y = sc.X+src[i].X, sc.Y+src[i].Y
		dc.X, dc.Y = dc.X+dst[i].X, dc.Y+dst[i].Y
	}
	n := float64(len(src))
	sc.X, sc.Y, dc.X, dc.Y = sc.X/n, sc.Y/n, dc.X/n, dc.Y/n
	var norm, dot, cross float64
	for i := range src {
		sx, sy := src[i].X-sc.X, src[i].Y-sc.Y
		dx, dy := dst[i].X-dc.X, dst[i].Y-dc.Y
		norm += sx*sx + sy*sy
		dot += sx*dx + sy*dy
		cross += sx*dy - sy*dx
	}
	if !(norm > 1e-9) || math.IsInf(norm, 0) || math.IsNaN(dot+cross) {
		return Similarity{}, ErrDegenerate
	}
	s := Similarity{A: dot / norm, B: cross / norm}
	s.TX = dc.X - (s.A*sc.X - s.B*sc.Y)
	s.TY = dc.Y - (s.B*sc.X + s.A*sc.Y)
	if s.Scale() == 0 {
		return Similarity{}, ErrDegenerate
	}
	return s, nil
}

// Apply maps p.
func (s Similarity) Apply(p detector.Point) detector.Point {
	return detector.Point{X: s.A*p.X - s.B*p.Y + s.TX, Y: s.B*p.X + s.A*p.Y + s.TY}
}

// Scale is the factor lengths are multiplied by.
func (s Similarity) Scale() float64 { return math.Hypot(s.A, s.B) }

// Inverse is the similarity that undoes s (s must have a non-zero scale).
func (s Similarity) Inverse() Similarity {
	k := s.A*s.A + s.B*s.B
	inv := Similarity{A: s.A / k, B: -s.B / k}
	inv.TX = -(inv.A*s.TX - inv.B*s.TY)
	inv.TY = -(inv.B*s.TX + inv.A*s.TY)
	return inv
}

// Face returns the face whose landmarks are lm, turned and scaled so the
// landmarks sit as near as they can to template, points in a size x size
// crop. When that means shrinking the photo, the square crop comes back
// larger than size, at the photo's own resolution, with the template
// scaled to match, so that the caller's resize to size x size filters it
// down without aliasing.
func Face(img image.Image, lm, template *detector.Landmarks, size int) (*image.RGBA, error) {
	if img == nil || lm == nil || template == nil || size <= 0 {
		return nil, errors.New("align: Face needs an image, landmarks, a template and a size")
	}
	s, err := Estimate(lm[:], template[:])
	if err != nil {
		return nil, err
	}
	side := size
	// The tolerance keeps float noise from adding a pixel at scale 1.
	if k := s.Scale(); k < 1-1e-9 {
		side = int(math.Min(math.Ceil(float64(size)/k-1e-6), maxSide))
		zoom := float64(side) / float64(size)
		s = Similarity{A: s.A * zoom, B: s.B * zoom, TX: s.TX * zoom, TY: s.TY * zoom}
	}
	return Warp(img, s, side, side), nil
}

// Warp returns the w x h image whose pixel (u, v) is img sampled
// bilinearly at t⁻¹(u, v), pixel centres at integer coordinates; samples
// past the border repeat the edge pixels, as detector.Crop does.
func Warp(img image.Image, t Similarity, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	b := img.Bounds()
	if b.Empty() || t.Scale() == 0 {
		return dst
	}
	src, ok := img.(*image.RGBA)
	if !ok {
		src = image.NewRGBA(b)
		draw.Draw(src, b, img, b.Min, draw.Src)
	}
	inv := t.Inverse()
	maxX, maxY := float64(b.Dx()-1), float64(b.Dy()-1)
	for v := 0; v < h; v++ {
		row := dst.Pix[v*dst.Stride : v*dst.Stride+4*w]
		for u := 0; u < w; u++ {
			p := inv.Apply(detector.Point{X: float64(u), Y: float64(v)})
			x := clamp(p.X-float64(b.Min.X), maxX)
			y := clamp(p.Y-float64(b.Min.Y), maxY)
			c := bilinear(src, b.Min, x, y)
			row[4*u], row[4*u+1], row[4*u+2], row[4*u+3] = c.R, c.G, c.B, c.A
		}
	}
	return dst
}

// clamp keeps v in [0, hi]; NaN becomes 0.
func clamp(v, hi float64) float64 {
	if !(v > 0) {
		return 0
	}
	return math.Min(v, hi)
}

// bilinear samples src at (x, y) relative to its origin, both in range.
func bilinear(src *image.RGBA, origin image.Point, x, y float64) color.RGBA {
	x0, y0 := int(x), int(y)
	x1, y1 := x0, y0
	if float64(x0) < x {
		x1++
	}
	if float64(y0) < y {
		y1++
	}
	fx, fy := x-float64(x0), y-float64(y0)
	p00 := src.Pix[src.PixOffset(origin.X+x0, origin.Y+y0):]
	p10 := src.Pix[src.PixOffset(origin.X+x1, origin.Y+y0):]
	p01 := src.Pix[src.PixOffset(origin.X+x0, origin.Y+y1):]
	p11 := src.Pix[src.PixOffset(origin.X+x1, origin.Y+y1):]
	var out [4]uint8
	for i := range out {
		top := float64(p00[i]) + (float64(p10[i])-float64(p00[i]))*fx
		bot := float64(p01[i]) + (float64(p11[i])-float64(p01[i]))*fx
		out[i] = uint8(math.Round(top + (bot-top)*fy))
	}
	return color.RGBA{out[0], out[1], out[2], out[3]}
}
