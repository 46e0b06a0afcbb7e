// Package groupphoto makes synthetic camera photos for tests and
// benchmarks: faces cut from source photos, scaled to chosen widths and
// pasted side by side onto a large textured background, saved as a JPEG
// stored sideways with the EXIF orientation that turns it upright, as
// phones do. It records where each face landed, so detection can be
// scored against the truth.
package groupphoto

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand"

	xdraw "golang.org/x/image/draw"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/decoder/decodertest"
)

// Face is a source photo and where its face is.
type Face struct {
	Identity string
	Image    image.Image
	Box      image.Rectangle
}

// Placed is where a face landed, in upright photo pixels.
type Placed struct {
	Identity string
	Box      image.Rectangle
}

// Options shape a photo; zero fields take the defaults of a 12-megapixel
// phone photo.
type Options struct {
	Width, Height int // upright size (default 4032x3024)
	// Orientation is the EXIF orientation stored (1-8, default 1): the
	// pixels are stored turned so that it displays them upright.
	Orientation int
	Quality     int // JPEG quality (default 90)
}

func (o Options) withDefaults() Options {
	if o.Width == 0 || o.Height == 0 {
		o.Width, o.Height = 4032, 3024
	}
	if o.Orientation == 0 {
		o.Orientation = decoder.OrientNormal
	}
	if o.Quality == 0 {
		o.Quality = 90
	}
	return o
}

// Compose pastes faces[i] at widths[i] pixels wide (the face box's width)
// onto a background drawn from rng, in slots from left to right at random
// heights, and returns the upright photo with where each face went. Each
// face brings some of its photo around it (up to 60% of its box on each
// side, less where its slot is narrow), as a face in a photo has a head
// and shoulders around it.
func Compose(faces []Face, widths []int, opt Options, rng *rand.Rand) (*image.RGBA, []Placed, error) {
	opt = opt.withDefaults()
	if len(faces) != len(widths) || len(faces) == 0 {
		return nil, nil, errors.New("groupphoto: want one width for each face, and a face")
	}
	img := background(opt.Width, opt.Height, rng)
	slot := opt.Width / len(faces)
	var placed []Placed
	for i, f := range faces {
		b := f.Box.Intersect(f.Image.Bounds())
		if b.Empty() || widths[i] <= 0 {
			return nil, nil, fmt.Errorf("groupphoto: face %d: box %v, width %d", i, f.Box, widths[i])
		}
		k := float64(widths[i]) / float64(b.Dx())
		// Context around the face: at most 60% of the box, and what the
		// slot and the photo's height leave room for.
		side := max(b.Dx(), b.Dy())
		margin := int(0.6 * float64(side))
		for margin > 0 && (float64(b.Dx()+2*margin)*k > float64(slot) || float64(b.Dy()+2*margin)*k > float64(opt.Height)) {
			margin -= max(1, margin/10)
		}
		src := b.Inset(-margin).Intersect(f.Image.Bounds())
		w, h := int(float64(src.Dx())*k), int(float64(src.Dy())*k)
		if w > slot || h > opt.Height || w < 1 || h < 1 {
			return nil, nil, fmt.Errorf("groupphoto: face %d at %d px does not fit a %dx%d slot", i, widths[i], slot, opt.Height)
		}
		x := i*slot + rng.Intn(slot-w+1)
		y := opt.Height/5 + rng.Intn(max(1, opt.Height*3/5-h+1))
		y = min(y, opt.Height-h)
		dst := image.Rect(x, y, x+w, y+h)
		xdraw.CatmullRom.Scale(img, dst, f.Image, src, xdraw.Src, nil)
		at := func(px, py int) image.Point {
			return image.Pt(x+int(float64(px-src.Min.X)*k+0.5), y+int(float64(py-src.Min.Y)*k+0.5))
		}
		placed = append(placed, Placed{Identity: f.Identity, Box: image.Rectangle{Min: at(b.Min.X, b.Min.Y), Max: at(b.Max.X, b.Max.Y)}})
	}
	return img, placed, nil
}

// background is a smooth random field of colour with fine noise, like an
// out-of-focus room: a JPEG of it is about as large as a phone photo.
func background(w, h int, rng *rand.Rand) *image.RGBA {
	coarse := image.NewRGBA(image.Rect(0, 0, 12, 9))
	for i := 0; i < len(coarse.Pix); i += 4 {
		coarse.Pix[i], coarse.Pix[i+1], coarse.Pix[i+2], coarse.Pix[i+3] =
			uint8(60+rng.Intn(160)), uint8(60+rng.Intn(160)), uint8(60+rng.Intn(160)), 255
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.BiLinear.Scale(img, img.Bounds(), coarse, coarse.Bounds(), xdraw.Src, nil)
	noise := rand.New(rand.NewSource(rng.Int63()))
	for i := 0; i < len(img.Pix); i += 4 {
		n := noise.Intn(17) - 8
		for c := range 3 {
			img.Pix[i+c] = uint8(max(0, min(255, int(img.Pix[i+c])+n)))
		}
	}
	return img
}

// JPEG encodes an upright photo as opt says: stored turned so that its
// EXIF orientation displays it upright.
func JPEG(upright *image.RGBA, opt Options) ([]byte, error) {
	opt = opt.withDefaults()
	stored := decoder.Orient(upright, decodertest.UndoOrientation[opt.Orientation])
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, stored, &jpeg.Options{Quality: opt.Quality}); err != nil {
		return nil, fmt.Errorf("groupphoto: %w", err)
	}
	if opt.Orientation == decoder.OrientNormal {
		return buf.Bytes(), nil
	}
	return decodertest.WithOrientation(buf.Bytes(), opt.Orientation), nil
}

// IoU is the intersection over union of two boxes.
func IoU(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	ia := in.Dx() * in.Dy()
	u := a.Dx()*a.Dy() + b.Dx()*b.Dy() - ia
	if u <= 0 {
		return 0
	}
	return float64(ia) / float64(u)
}

// Recall matches each placed face to the found box it overlaps most (IoU
// at least minIoU, each found box used once) and returns which were found.
func Recall(placed []Placed, found []image.Rectangle, minIoU float64) []bool {
	used := make([]bool, len(found))
	hit := make([]bool, len(placed))
	for i, p := range placed {
		best, bestIoU := -1, minIoU
		for j, f := range found {
			if v := IoU(p.Box, f); !used[j] && v >= bestIoU {
				best, bestIoU = j, v
			}
		}
		if best >= 0 {
			used[best], hit[i] = true, true
		}
	}
	return hit
}
