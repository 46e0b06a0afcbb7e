// Package faces turns one photo's bytes into the model inputs of the faces
// in it: decode (EXIF orientation applied), detect, align or crop, resize.
// It is the plain function behind the pipelines' face-finding step.
package faces

import (
	"errors"
	"image"
	"math"
	"slices"

	"github.com/facebatch/facebatch/align"
	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/models"
)

// DefaultMargin enlarges detected boxes by 20% of their side before
// cropping, so the crop holds the whole face as in the training crops.
const DefaultMargin = 0.2

// Template returns the profile's alignment template, or nil when the
// profile crops boxes instead ("align": "box").
func Template(p models.Profile) *detector.Landmarks {
	if !slices.Contains(align.Methods, p.Align) || len(p.Template) != len(detector.Landmarks{}) {
		return nil
	}
	var t detector.Landmarks
	for i, pt := range p.Template {
		t[i] = detector.Point{X: pt[0], Y: pt[1]}
	}
	return &t
}

// Finder finds faces. It is safe for concurrent use when its decoder and
// detector are.
type Finder struct {
	Decoder  *decoder.Decoder
	Detector detector.Detector
	// Size is the model's input size; every face comes out this size.
	Size image.Point
	// Margin enlarges detected boxes (fraction of the box side); the
	// "none" detector's whole-image box is never enlarged.
	Margin float64
	// Resize is the profile's resize method (see encoder.Resize).
	Resize string
	// Template, when set, aligns each face that has landmarks to these
	// points of the model input instead of cropping its box, with the
	// transform Align names ("similarity" or "affine", see align.Face).
	// Align "rect" crops boxes without squaring them (see models.Profile).
	Template *detector.Landmarks
	Align    string
	// Preview, when > 0, bounds the long side of the copy of a larger
	// photo that faces are looked for on (decoder.Source.Preview,
	// detector.View); the faces are then cut from the
	// photo itself, at the resolution they need. 0 detects on the photo.
	Preview int
}

// DefaultPreview is the long side of the preview detection runs on. At
// 1600, a 4032x3024 photo's faces from 50 pixels up are found (20 preview
// pixels, detector.PreviewMinSize); see docs/camera.md for the measurements
// behind it.
const DefaultPreview = 1600

// Face is one face, ready for the encoder.
type Face struct {
	// Box is in original-image pixels (after EXIF orientation).
	Box   image.Rectangle
	Score float32
	// Input is the face resized to Size.
	Input *image.RGBA
}

// Photo is what Find saw in one photo.
type Photo struct {
	Width, Height int
	Faces         []Face
}

// Find decodes data and returns its faces, possibly none. Errors come from
// decoding (decoder.ErrFormat, ErrCorrupt, ErrTooLarge) or detection.
func (f *Finder) Find(data []byte) (Photo, error) {
	photos, errs := f.FindAll([][]byte{data})
	return photos[0], errs[0]
}

// DefaultBatch is how many photos the pipelines hand FindAll at once:
// MTCNN took 3.5 ms of core time per LFW photo alone, 2.6 in fours and
// 2.4 in eights, no less in sixteens (docs/benchmarks.md).
const DefaultBatch = 8

// BatchPixels bounds the preview pixels FindAll detects on at once: about
// 60 LFW-sized photos or two 12 MP photos' previews, whose normalised
// pixels the detector holds until the batch is done.
const BatchPixels = 4 << 20

// FindAll is Find on each photo: photos[i] and errs[i] are data[i]'s. The
// photos are decoded one by one and their previews searched in batches of
// up to BatchPixels (detector.Detector.DetectBatch), which costs MTCNN much
// less per photo than one by one. A batch the detector fails on is
// searched again photo by photo, so a photo's error is its own.
func (f *Finder) FindAll(data [][]byte) (photos []Photo, errs []error) {
	photos, errs = make([]Photo, len(data)), make([]error, len(data))
	if f.Decoder == nil || f.Detector == nil || f.Size.X <= 0 || f.Size.Y <= 0 {
		for i := range errs {
			errs[i] = errors.New("faces: Finder needs a decoder, a detector and a size")
		}
		return photos, errs
	}
	var batch []*pending
	pixels := 0
	for i, d := range data {
		p := &pending{i: i}
		if p.src, errs[i] = f.Decoder.Open(d); errs[i] != nil {
			continue
		}
		b := p.src.Bounds()
		photos[i] = Photo{Width: b.Dx(), Height: b.Dy()}
		if p.view, p.sx, p.sy, errs[i] = p.src.Preview(f.Preview); errs[i] != nil {
			continue
		}
		n := p.view.Bounds().Dx() * p.view.Bounds().Dy()
		if len(batch) > 0 && pixels+n > BatchPixels {
			f.finish(batch, photos, errs)
			batch, pixels = batch[:0], 0
		}
		batch = append(batch, p)
		pixels += n
	}
	f.finish(batch, photos, errs)
	return photos, errs
}

// pending is a decoded photo waiting for its batch to be searched.
type pending struct {
	i      int // in FindAll's data
	src    *decoder.Source
	view   *image.RGBA
	sx, sy float64
}

// finish detects the faces of a batch and cuts them out of each photo.
func (f *Finder) finish(batch []*pending, photos []Photo, errs []error) {
	if len(batch) == 0 {
		return
	}
	views := make([]detector.View, len(batch))
	for k, p := range batch {
		views[k] = detector.View{Image: p.view, Scale: math.Min(p.sx, p.sy)}
	}
	found, err := f.Detector.DetectBatch(views)
	if err != nil {
		found = make([][]detector.Face, len(batch))
		for k, v := range views {
			one, err := f.Detector.DetectBatch([]detector.View{v})
			if err != nil {
				errs[batch[k].i] = err
				continue
			}
			found[k] = one[0]
		}
	}
	for k, p := range batch {
		if errs[p.i] == nil && len(found[k]) > 0 {
			photos[p.i].Faces, errs[p.i] = f.cutAll(p, found[k])
		}
	}
}

// cutAll turns a photo's detections into model inputs, cut from the
// photo's own pixels where the detector saw a preview.
func (f *Finder) cutAll(p *pending, found []detector.Face) ([]Face, error) {
	img, ratio := p.view, 1
	if p.sx != 1 || p.sy != 1 {
		// Boxes back in photo pixels, then the photo's pixels around them.
		b := p.src.Bounds()
		for i := range found {
			found[i] = rescale(found[i], 1/p.sx, 1/p.sy, b)
		}
		region, maxRatio := f.footprint(found)
		var err error
		if img, ratio, err = p.src.Region(region, maxRatio); err != nil {
			return nil, err
		}
	}
	out := make([]Face, 0, len(found))
	for _, d := range found {
		crop := f.cut(img, rescale(d, 1/float64(ratio), 1/float64(ratio), img.Bounds()))
		out = append(out, Face{
			Box:   d.Box,
			Score: d.Score,
			Input: encoder.Resize(crop, f.Size.X, f.Size.Y, f.Resize),
		})
	}
	return out, nil
}

// rescale maps a face to an image k times the size along each axis,
// its box clipped to bounds there. Landmarks are pixel centres: a point at
// the centre of a pixel stays at the centre of the pixels it covers.
func rescale(d detector.Face, kx, ky float64, bounds image.Rectangle) detector.Face {
	if kx == 1 && ky == 1 {
		return d
	}
	b := d.Box
	d.Box = image.Rect(
		int(math.Floor(float64(b.Min.X)*kx)), int(math.Floor(float64(b.Min.Y)*ky)),
		int(math.Ceil(float64(b.Max.X)*kx)), int(math.Ceil(float64(b.Max.Y)*ky)),
	).Intersect(bounds)
	if d.Landmarks != nil {
		lm := *d.Landmarks
		for i, p := range lm {
			lm[i] = detector.Point{X: (p.X+0.5)*kx - 0.5, Y: (p.Y+0.5)*ky - 0.5}
		}
		d.Landmarks = &lm
	}
	return d
}

// footprint is the part of the photo cut needs for all the faces, and
// the coarsest scale (1/maxRatio) that still gives each face at least the
// pixels the model's input has.
func (f *Finder) footprint(found []detector.Face) (image.Rectangle, int) {
	var r image.Rectangle
	maxRatio := 8
	for _, d := range found {
		// The box crops (the fallback of an alignment too) read the box
		// grown by the margin; more than that is cheap insurance.
		side := max(d.Box.Dx(), d.Box.Dy())
		grow := int(math.Ceil(float64(side) * (1 + f.Margin)))
		r = r.Union(d.Box.Inset(-grow))
		maxRatio = min(maxRatio, max(1, int(float64(side)*(1+f.Margin))/max(f.Size.X, f.Size.Y)))
		if f.Template == nil || d.Landmarks == nil {
			continue
		}
		if fp, k, err := align.Footprint(d.Landmarks, f.Template, f.Size.X, f.Align); err == nil {
			r = r.Union(fp)
			maxRatio = min(maxRatio, max(1, int(1/k)))
		}
	}
	return r, maxRatio
}

// cut returns the face's pixels before the resize: aligned to the
// template, or its box grown by the margin, or the whole image when the
// box is the whole image. Landmarks that fix no transform (all on one
// point) fall back to the box.
func (f *Finder) cut(img *image.RGBA, d detector.Face) image.Image {
	if f.Template != nil && d.Landmarks != nil {
		if crop, err := align.Face(img, d.Landmarks, f.Template, f.Size.X, f.Align); err == nil {
			return crop
		}
	}
	if d.Box == img.Bounds() {
		return img
	}
	if f.Align == "rect" {
		// The FaceNet training crops: the box grown by the same number of
		// pixels on all sides, clipped to the photo, not made square (the
		// resize then stretches it).
		grow := int(math.Round(f.Margin * float64(max(d.Box.Dx(), d.Box.Dy())) / 2))
		if r := d.Box.Inset(-grow).Intersect(img.Bounds()); !r.Empty() {
			return img.SubImage(r)
		}
	}
	return detector.Crop(img, d.Box, f.Margin)
}

// Subject returns the face the photo is of: the one with the largest area
// less twice the squared distance of its centre from the photo's centre
// (the first of equals), the choice FaceNet's own alignment script makes;
// it needs the photo's Width and Height, which Find sets.
// Size alone picks a bystander's face in LFW photos where one stands
// nearer the camera (19 of lfw-dev's 3,811 photos; the default profile's
// accuracy rises from 99.07% to 99.40%), and detectors' scores saturate on
// clear faces, so the best-scoring face is often a bystander's too.
func (p Photo) Subject() (Face, bool) {
	best, bestScore := -1, 0.0
	for i, f := range p.Faces {
		dx := float64(f.Box.Min.X+f.Box.Max.X-p.Width) / 2
		dy := float64(f.Box.Min.Y+f.Box.Max.Y-p.Height) / 2
		score := float64(area(f.Box)) - 2*(dx*dx+dy*dy)
		if best < 0 || score > bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		return Face{}, false
	}
	return p.Faces[best], true
}

// Dominance is how many times the area of every other face a reference
// photo's subject must have to be kept when the photo shows several faces:
// a bystander in the background is far smaller than the person the photo
// is of, while two people of about the same size leave the photo
// ambiguous. See docs/camera.md for the fixtures behind it.
const Dominance = 2

// Dominant returns the face a reference photo is of, when one face clearly
// is: Subject's choice, if its area is at least Dominance times every
// other face's. ok is false for a photo without faces and for an
// ambiguous one.
func (p Photo) Dominant() (Face, bool) {
	s, ok := p.Subject()
	if !ok {
		return Face{}, false
	}
	for _, f := range p.Faces {
		if f.Box != s.Box && area(s.Box) < Dominance*area(f.Box) {
			return Face{}, false
		}
	}
	return s, true
}

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }
