// Package faces turns one photo's bytes into the model inputs of the faces
// in it: decode (EXIF orientation applied), detect, crop, resize. It is the
// plain function behind the pipelines' face-finding step.
package faces

import (
	"errors"
	"image"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/encoder"
)

// DefaultMargin enlarges detected boxes by 20% of their side before
// cropping, so the crop holds the whole face as in the training crops.
const DefaultMargin = 0.2

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
}

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
	if f.Decoder == nil || f.Detector == nil || f.Size.X <= 0 || f.Size.Y <= 0 {
		return Photo{}, errors.New("faces: Finder needs a decoder, a detector and a size")
	}
	img, _, err := f.Decoder.Decode(data)
	if err != nil {
		return Photo{}, err
	}
	b := img.Bounds()
	photo := Photo{Width: b.Dx(), Height: b.Dy()}
	found, err := f.Detector.Detect(img)
	if err != nil {
		return photo, err
	}
	for _, d := range found {
		crop := img
		if d.Box != b {
			crop = detector.Crop(img, d.Box, f.Margin)
		}
		photo.Faces = append(photo.Faces, Face{
			Box:   d.Box,
			Score: d.Score,
			Input: encoder.Resize(crop, f.Size.X, f.Size.Y, f.Resize),
		})
	}
	return photo, nil
}
