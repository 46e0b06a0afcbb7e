// Package thumbnail makes the small pictures of the HTML reports: an image
// scaled down and encoded as a JPEG data URI, so one HTML file holds its
// pictures, and a photo with a face's box drawn on it.
package thumbnail

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/jpeg"

	"golang.org/x/image/draw"
)

// quality trades file size for detail; faces stay recognisable at 85 and a
// 128-pixel thumbnail is about 5 KB.
const quality = 85

// ErrEmpty means the image has no pixels.
var ErrEmpty = errors.New("thumbnail: empty image")

// Scale returns img shrunk (never enlarged) so that its longer side is at
// most maxSide pixels.
func Scale(img image.Image, maxSide int) image.Image {
	b := img.Bounds()
	long := max(b.Dx(), b.Dy())
	if maxSide <= 0 || long <= maxSide {
		return img
	}
	w := max(1, b.Dx()*maxSide/long)
	h := max(1, b.Dy()*maxSide/long)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

// DataURI returns img, scaled to at most maxSide pixels, as a JPEG data URI.
// The template.URL type tells html/template the URI is safe in a src
// attribute (it would otherwise replace "data:" URIs with "#ZgotmplZ").
func DataURI(img image.Image, maxSide int) (template.URL, error) {
	if img == nil || img.Bounds().Empty() {
		return "", ErrEmpty
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, Scale(img, maxSide), &jpeg.Options{Quality: quality}); err != nil {
		return "", fmt.Errorf("thumbnail: %w", err)
	}
	return template.URL("data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}

// BoxColor outlines faces: a green that stands out on skin and most
// backgrounds.
var BoxColor = color.RGBA{0, 220, 90, 255}

// WithBox returns a copy of img, scaled to at most maxSide pixels, with box
// (in img's coordinates) outlined. The line is about 1/100 of the longer
// side thick, so it stays visible once scaled.
func WithBox(img image.Image, box image.Rectangle, maxSide int) image.Image {
	b := img.Bounds()
	scaled := Scale(img, maxSide)
	sb := scaled.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, sb.Dx(), sb.Dy()))
	draw.Draw(out, out.Bounds(), scaled, sb.Min, draw.Src)
	if box.Empty() || b.Empty() {
		return out
	}
	sx := float64(sb.Dx()) / float64(b.Dx())
	sy := float64(sb.Dy()) / float64(b.Dy())
	r := image.Rect(
		int(float64(box.Min.X-b.Min.X)*sx), int(float64(box.Min.Y-b.Min.Y)*sy),
		int(float64(box.Max.X-b.Min.X)*sx), int(float64(box.Max.Y-b.Min.Y)*sy),
	).Intersect(out.Bounds())
	if r.Empty() {
		return out
	}
	t := max(1, max(sb.Dx(), sb.Dy())/100)
	src := image.NewUniform(BoxColor)
	for _, edge := range []image.Rectangle{
		image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+t),
		image.Rect(r.Min.X, r.Max.Y-t, r.Max.X, r.Max.Y),
		image.Rect(r.Min.X, r.Min.Y, r.Min.X+t, r.Max.Y),
		image.Rect(r.Max.X-t, r.Min.Y, r.Max.X, r.Max.Y),
	} {
		draw.Draw(out, edge.Intersect(r), src, image.Point{}, draw.Src)
	}
	return out
}
