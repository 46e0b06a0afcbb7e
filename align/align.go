// Package align turns a detected face into an upright, standard crop: a
// transform that takes the face's five landmarks as close as possible, in
// least squares, to a template's (a similarity: rotation, uniform scale and
// shift; or a general affine map, which may also stretch), and a bilinear
// warp of the photo through it.
package align

import (
	"errors"
	"fmt"
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

// Affine is s as an affine map.
func (s Similarity) Affine() Affine {
	return Affine{XX: s.A, XY: -s.B, X0: s.TX, YX: s.B, YY: s.A, Y0: s.TY}
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

// Methods lists the transforms Face knows.
var Methods = []string{"similarity", "affine"}

// Face returns the face whose landmarks are lm, mapped by method
// ("similarity" or "affine") so the landmarks sit as near as they can to
// template, points in a size x size crop. When that means shrinking the
// photo, the square crop comes back larger than size, at the photo's own
// resolution, with the template scaled to match, so that the caller's
// resize to size x size filters it down without aliasing.
func Face(img image.Image, lm, template *detector.Landmarks, size int, method string) (*image.RGBA, error) {
	if img == nil {
		return nil, errors.New("align: Face needs an image")
	}
	t, side, err := transform(lm, template, size, method)
	if err != nil {
		return nil, err
	}
	return Warp(img, t, side, side), nil
}

// Footprint is what Face would read of the photo: the rectangle of photo
// pixels its crop samples (bilinear neighbours included, not clipped to
// any image), and the crop's scale, crop pixels per photo pixel, before
// Face enlarges a shrinking crop. A caller that decodes only part of a
// large photo, or decodes it at a lower resolution, needs both.
func Footprint(lm, template *detector.Landmarks, size int, method string) (image.Rectangle, float64, error) {
	t, side, err := transform(lm, template, size, method)
	if err != nil {
		return image.Rectangle{}, 0, err
	}
	inv := t.Inverse()
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	last := float64(side - 1)
	for _, c := range []detector.Point{{X: 0, Y: 0}, {X: last, Y: 0}, {X: 0, Y: last}, {X: last, Y: last}} {
		p := inv.Apply(c)
		minX, minY = math.Min(minX, p.X), math.Min(minY, p.Y)
		maxX, maxY = math.Max(maxX, p.X), math.Max(maxY, p.Y)
	}
	r := image.Rect(int(math.Floor(minX))-1, int(math.Floor(minY))-1, int(math.Ceil(maxX))+2, int(math.Ceil(maxY))+2)
	return r, t.Scale() * float64(size) / float64(side), nil
}

// transform is the map Face warps through and the side of its crop.
func transform(lm, template *detector.Landmarks, size int, method string) (Affine, int, error) {
	if lm == nil || template == nil || size <= 0 {
		return Affine{}, 0, errors.New("align: Face needs landmarks, a template and a size")
	}
	var t Affine
	switch method {
	case "similarity":
		s, err := Estimate(lm[:], template[:])
		if err != nil {
			return Affine{}, 0, err
		}
		t = s.Affine()
	case "affine":
		var err error
		if t, err = EstimateAffine(lm[:], template[:]); err != nil {
			return Affine{}, 0, err
		}
	default:
		return Affine{}, 0, fmt.Errorf("align: unknown method %q (known: %v)", method, Methods)
	}
	side := size
	// The tolerance keeps float noise from adding a pixel at scale 1.
	if k := t.Scale(); k < 1-1e-9 {
		side = int(math.Min(math.Ceil(float64(size)/k-1e-6), maxSide))
		zoom := float64(side) / float64(size)
		t = Affine{t.XX * zoom, t.XY * zoom, t.X0 * zoom, t.YX * zoom, t.YY * zoom, t.Y0 * zoom}
	}
	return t, side, nil
}

// Affine maps p to (XX·x + XY·y + X0, YX·x + YY·y + Y0).
type Affine struct{ XX, XY, X0, YX, YY, Y0 float64 }

// EstimateAffine returns the affine map that takes src closest to dst in
// least squares; it needs three points not on one line.
func EstimateAffine(src, dst []detector.Point) (Affine, error) {
	if len(src) != len(dst) || len(src) < 3 {
		return Affine{}, ErrDegenerate
	}
	// Normal equations for each output coordinate over the basis (x, y, 1).
	var m [3][3]float64
	var bx, by [3]float64
	for i, p := range src {
		v := [3]float64{p.X, p.Y, 1}
		for r := range 3 {
			for c := range 3 {
				m[r][c] += v[r] * v[c]
			}
			bx[r] += v[r] * dst[i].X
			by[r] += v[r] * dst[i].Y
		}
	}
	x, okX := solve3(m, bx)
	y, okY := solve3(m, by)
	t := Affine{x[0], x[1], x[2], y[0], y[1], y[2]}
	if !okX || !okY || t.Scale() == 0 || math.IsNaN(t.Scale()) {
		return Affine{}, ErrDegenerate
	}
	return t, nil
}

// solve3 solves m·x = b by Cramer's rule; false when m is (nearly) singular.
func solve3(m [3][3]float64, b [3]float64) ([3]float64, bool) {
	det := func(a [3][3]float64) float64 {
		return a[0][0]*(a[1][1]*a[2][2]-a[1][2]*a[2][1]) -
			a[0][1]*(a[1][0]*a[2][2]-a[1][2]*a[2][0]) +
			a[0][2]*(a[1][0]*a[2][1]-a[1][1]*a[2][0])
	}
	d := det(m)
	scale := 0.0
	for _, row := range m {
		for _, v := range row {
			scale = math.Max(scale, math.Abs(v))
		}
	}
	if !(math.Abs(d) > 1e-12*scale*scale*scale) {
		return [3]float64{}, false
	}
	var x [3]float64
	for c := range 3 {
		a := m
		for r := range 3 {
			a[r][c] = b[r]
		}
		x[c] = det(a) / d
	}
	return x, true
}

// Apply maps p.
func (t Affine) Apply(p detector.Point) detector.Point {
	return detector.Point{X: t.XX*p.X + t.XY*p.Y + t.X0, Y: t.YX*p.X + t.YY*p.Y + t.Y0}
}

// Scale is the geometric mean of the factors lengths are multiplied by
// (the square root of the area factor).
func (t Affine) Scale() float64 { return math.Sqrt(math.Abs(t.XX*t.YY - t.XY*t.YX)) }

// Inverse is the map that undoes t (t must have a non-zero scale).
func (t Affine) Inverse() Affine {
	d := t.XX*t.YY - t.XY*t.YX
	inv := Affine{XX: t.YY / d, XY: -t.XY / d, YX: -t.YX / d, YY: t.XX / d}
	inv.X0 = -(inv.XX*t.X0 + inv.XY*t.Y0)
	inv.Y0 = -(inv.YX*t.X0 + inv.YY*t.Y0)
	return inv
}

// Warp returns the w x h image whose pixel (u, v) is img sampled
// bilinearly at t⁻¹(u, v), pixel centres at integer coordinates; samples
// past the border repeat the edge pixels, as detector.Crop does.
func Warp(img image.Image, t Affine, w, h int) *image.RGBA {
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
