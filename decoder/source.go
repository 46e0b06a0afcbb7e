package decoder

import (
	"bytes"
	"fmt"
	"image"
	"math"

	tf "github.com/galeone/tensorflow/tensorflow/go"
)

// Source is a photo whose header Open has read and checked. Its pixels are
// decoded as they are asked for, so a 12-megapixel camera photo need not be
// decoded whole at full size: a small preview to find the faces on, then
// the regions around them at the resolution they need. A JPEG is decoded
// by libjpeg straight to 1/2, 1/4 or 1/8 scale in the DCT domain, and a
// crop window decodes only its own rows and columns (the entropy-coded data
// before it is still read); other formats are decoded whole once and kept.
// Every coordinate is in upright pixels, after the EXIF orientation.
// A Source is not safe for concurrent use.
type Source struct {
	d      *Decoder
	data   []byte
	format string
	stored image.Point // the size as stored, before orientation
	orient int
	full   *image.RGBA // upright, once decoded whole
}

// Format names the format from the header ("jpeg", "png", ...), or "".
func (s *Source) Format() string { return s.format }

// Bounds is the upright image's rectangle, at (0, 0).
func (s *Source) Bounds() image.Rectangle {
	w, h := s.stored.X, s.stored.Y
	if s.orient >= OrientTranspose {
		w, h = h, w
	}
	return image.Rect(0, 0, w, h)
}

// Full returns the whole image at full size, upright, decoding it the
// first time.
func (s *Source) Full() (*image.RGBA, error) {
	if s.full != nil {
		return s.full, nil
	}
	if s.format != "jpeg" {
		img, err := s.decodeGo()
		if err != nil {
			return nil, err
		}
		s.full = img
		return img, nil
	}
	img, err := s.d.run(s.feeds(), s.d.pixels[0], s.stored.X, s.stored.Y)
	if err != nil {
		return nil, err
	}
	s.full = Orient(img, s.orient)
	return s.full, nil
}

func (s *Source) decodeGo() (img *image.RGBA, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("%w: decoder panic: %v", ErrCorrupt, r)
		}
	}()
	m, _, err := image.Decode(bytes.NewReader(s.data))
	if err != nil {
		return nil, refusal(s.format, err)
	}
	return toRGB(m), nil
}

func (s *Source) feeds() map[tf.Output]*tf.Tensor {
	in, err := tf.NewTensor(string(s.data))
	if err != nil {
		panic(err) // a string always makes a tensor
	}
	return map[tf.Output]*tf.Tensor{s.d.input: in}
}

// Preview returns the image shrunk so its long side is at most maxSide,
// upright, by area averaging, and the scale from image to preview pixels
// along each axis. An image that fits (or maxSide <= 0) is its Full self
// at scale 1, so small photos take exactly the path they always took.
// A JPEG is decoded at the smallest DCT scale still at least maxSide long,
// then averaged down the rest of the way.
func (s *Source) Preview(maxSide int) (img *image.RGBA, sx, sy float64, err error) {
	b := s.Bounds()
	long := max(b.Dx(), b.Dy())
	if maxSide <= 0 || long <= maxSide {
		img, err = s.Full()
		return img, 1, 1, err
	}
	k := float64(maxSide) / float64(long)
	w, h := max(1, int(math.Round(float64(b.Dx())*k))), max(1, int(math.Round(float64(b.Dy())*k)))
	var pixels *tf.Tensor
	if s.full == nil && s.format == "jpeg" {
		r := len(ratios) - 1
		for r > 0 && scaled(long, ratios[r]) < maxSide {
			r--
		}
		out, err := s.d.session.Run(s.feeds(), []tf.Output{s.d.pixels[r]}, nil)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("%w: jpeg: %v", ErrCorrupt, err)
		}
		pixels = out[0]
	} else {
		full, err := s.Full()
		if err != nil {
			return nil, 0, 0, err
		}
		if pixels, err = rgbTensor(full); err != nil {
			return nil, 0, 0, err
		}
	}
	// The resize runs on the stored layout; orienting the small result
	// after it is cheaper than orienting the whole photo before.
	rw, rh := w, h
	if s.full == nil && s.orient >= OrientTranspose {
		rw, rh = h, w
	}
	size, _ := tf.NewTensor([]int32{int32(rh), int32(rw)})
	img, err = s.d.run(map[tf.Output]*tf.Tensor{s.d.raw: pixels, s.d.size: size}, s.d.resized, rw, rh)
	if err != nil {
		return nil, 0, 0, err
	}
	if s.full == nil {
		img = Orient(img, s.orient)
	}
	return img, float64(w) / float64(b.Dx()), float64(h) / float64(b.Dy()), nil
}

// scaled is libjpeg's size of a side of n pixels decoded at 1/ratio.
func scaled(n, ratio int) int { return (n + ratio - 1) / ratio }

// Region returns the pixels of r (upright, full-size coordinates, clipped
// to the image) at 1/ratio scale, where ratio is the largest of 1, 2, 4
// and 8 not over maxRatio that the source can decode at directly (always
// 1 but for JPEG). The image's bounds are r's at that scale (r.Min/ratio
// rounded down, r.Max/ratio rounded up), not at (0, 0), so a point p of
// the photo is at p/ratio in it.
func (s *Source) Region(r image.Rectangle, maxRatio int) (img *image.RGBA, ratio int, err error) {
	r = r.Intersect(s.Bounds())
	if r.Empty() {
		return nil, 0, fmt.Errorf("decoder: region %v is outside the %v image", r, s.Bounds())
	}
	if s.full != nil || s.format != "jpeg" {
		full, err := s.Full()
		if err != nil {
			return nil, 0, err
		}
		return full.SubImage(r).(*image.RGBA), 1, nil
	}
	k := 0
	for k+1 < len(ratios) && ratios[k+1] <= maxRatio {
		k++
	}
	ratio = ratios[k]
	// The window in scaled upright pixels, then in scaled stored pixels.
	up := image.Rect(r.Min.X/ratio, r.Min.Y/ratio, scaled(r.Max.X, ratio), scaled(r.Max.Y, ratio))
	sw, sh := scaled(s.stored.X, ratio), scaled(s.stored.Y, ratio)
	// libjpeg upsamples chroma at a window's edge as at the image's edge;
	// a window one MCU (at most 16 pixels) wider keeps that off the region.
	grown := up.Inset(-16).Intersect(image.Rect(0, 0, sw, sh))
	if s.orient >= OrientTranspose {
		grown = up.Inset(-16).Intersect(image.Rect(0, 0, sh, sw))
	}
	win := storedRect(grown, s.orient, sw, sh)
	window, _ := tf.NewTensor([]int32{int32(win.Min.Y), int32(win.Min.X), int32(win.Dy()), int32(win.Dx())})
	feeds := s.feeds()
	feeds[s.d.window] = window
	crop, err := s.d.run(feeds, s.d.crops[k], win.Dx(), win.Dy())
	if err != nil {
		return nil, 0, err
	}
	crop = Orient(crop, s.orient)
	crop.Rect = grown
	return crop.SubImage(up).(*image.RGBA), ratio, nil
}

// storedRect maps r, a rectangle of the upright image, to the stored
// image it was turned from, w x h as stored (see Orient).
func storedRect(r image.Rectangle, orientation, w, h int) image.Rectangle {
	x0, x1, y0, y1 := r.Min.X, r.Max.X, r.Min.Y, r.Max.Y
	switch orientation {
	case OrientMirrorH:
		return image.Rect(w-x1, y0, w-x0, y1)
	case OrientRotate180:
		return image.Rect(w-x1, h-y1, w-x0, h-y0)
	case OrientMirrorV:
		return image.Rect(x0, h-y1, x1, h-y0)
	case OrientTranspose:
		return image.Rect(y0, x0, y1, x1)
	case OrientRotate90:
		return image.Rect(y0, h-x1, y1, h-x0)
	case OrientTransverse:
		return image.Rect(w-y1, h-x1, w-y0, h-x0)
	case OrientRotate270:
		return image.Rect(w-y1, x0, w-y0, x1)
	}
	return r
}

// rgbTensor packs img's pixels into a uint8 [h, w, 3] tensor.
func rgbTensor(img *image.RGBA) (*tf.Tensor, error) {
	b := img.Bounds()
	rgb := make([]byte, 0, 3*b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, y):img.PixOffset(b.Max.X, y)]
		for i := 0; i < len(row); i += 4 {
			rgb = append(rgb, row[i], row[i+1], row[i+2])
		}
	}
	return tf.ReadTensor(tf.Uint8, []int64{int64(b.Dy()), int64(b.Dx()), 3}, bytes.NewReader(rgb))
}
