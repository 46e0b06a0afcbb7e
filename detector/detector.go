// Package detector finds faces in uncropped photos, for the pipeline step
// "decode → detect → align → encode". "mtcnn" runs the MTCNN nets of the
// PyPI package mtcnn==1.0.0 (exported to SavedModels by scripts/setup.sh)
// on TensorFlow and finds faces of any size from MinSize up, with five
// landmarks each; "pigo" runs the pico cascade of github.com/esimov/pigo in
// plain Go (upright faces, boxes only); "none" treats the whole image as
// one face, as the notebook's pre-cropped photos need.
//
// The pigo cascade is data, not code, and pigo does not expose it as Go data,
// so it is read at run time from Options.CascadePath or $FACEBATCH_PIGO_CASCADE
// (scripts/setup.sh copies it out of the module cache and exports the
// variable) and checked against CascadeSHA256.
package detector

import (
	"cmp"
	"errors"
	"fmt"
	"image"
	"math"
	"slices"
)

// Tunables. The defaults were measured on LFW (see detector_test.go).
const (
	// DefaultMinSize is the smallest face side searched, in pixels, by
	// both detectors. The encoder's input is 160 px, so a smaller face is
	// stretched more than four times; and each halving of the side
	// searched costs PNet four times the pixels. MTCNN from 40 px instead
	// of its package's 20: 4.4 against 7.4 ms per LFW photo (one thread,
	// one photo at a time), lfw-dev accuracy 99.30% against 99.37% (within
	// the folds' spread), no photo newly without a face (docs/accuracy.md).
	DefaultMinSize = 40
	// DefaultMinScore is the pigo Q score (summed over a cluster of
	// overlapping windows) below which a detection is dropped. On all 1,973
	// lfw-dev <Name>_0001.jpg photos, Q >= 5 keeps the centred face on 98.3%
	// (Q >= 1: 99.3%, >= 10: 96.8%); detections off centre fall from 0.16 to
	// 0.05 per photo, and below 5 they are mostly necks, hands and ties,
	// above it mostly real background faces.
	DefaultMinScore float32 = 5
	// PreviewMinSize is the smallest face side searched on a preview, in
	// its pixels: MTCNN's own default minimum. Each halving of the side
	// searched costs PNet four times the pixels, and the faces below it
	// are too few pixels to find reliably; a user who needs smaller faces
	// asks for a larger preview.
	PreviewMinSize = 20
	// SmallestMinSize is the least MinSize accepted: smaller windows are
	// degenerate and very slow to scan.
	SmallestMinSize = 8
	// IoUThreshold merges raw pigo windows that overlap more than this.
	IoUThreshold = 0.2
	// MaxOverlap drops a face whose box overlaps a better face's by more
	// than this fraction of the smaller box.
	MaxOverlap = 0.3
	// ShiftFactor moves the scan window by this fraction of its side.
	ShiftFactor = 0.1
	// ScaleFactor multiplies the window side from one scale to the next.
	ScaleFactor = 1.1
)

var (
	// ErrUnknown means New was asked for a detector it does not know.
	ErrUnknown = errors.New("detector: unknown detector")
	// ErrCascade means the pigo cascade could not be found, read or parsed.
	ErrCascade = errors.New("detector: pigo cascade")
	// ErrOptions means an Options field is out of range.
	ErrOptions = errors.New("detector: invalid options")
)

// Face is one detected face.
type Face struct {
	Box   image.Rectangle // in the image's pixel coordinates, clipped to the image bounds
	Score float32         // detector confidence (pigo's Q score, MTCNN's probability; 1 for "none")
	// Landmarks are the eyes, nose and mouth corners, for detectors that
	// find them ("mtcnn"); nil otherwise.
	Landmarks *Landmarks
}

// Landmarks are five facial points in image pixels, indexed by LeftEye,
// RightEye, Nose, MouthLeft and MouthRight. Left and right are as seen in
// the image: LeftEye is the subject's right eye. Points may lie outside the
// image when the face does.
type Landmarks [5]Point

// Indices into Landmarks, in MTCNN's order.
const (
	LeftEye = iota
	RightEye
	Nose
	MouthLeft
	MouthRight
)

// Point is a sub-pixel image position.
type Point struct{ X, Y float64 }

// Detector finds faces. Implementations are safe for concurrent use.
type Detector interface {
	// Detect returns the faces in img, best first: by score descending,
	// then top to bottom, left to right, smaller first.
	Detect(img image.Image) ([]Face, error)
	// DetectBatch is Detect on each view, at once: found[i] are the
	// faces of views[i], in its image's pixels. A view that previews a
	// larger photo is searched for faces of at least MinSize photo
	// pixels, but for none under PreviewMinSize preview pixels. MTCNN
	// runs each of its nets once for the batch rather than once per
	// image, which costs less (docs/benchmarks.md); the others loop.
	DetectBatch(views []View) (found [][]Face, err error)
	// Name is the name New knows the detector by.
	Name() string
}

// View is an image to search: a photo, or a preview of one.
type View struct {
	Image image.Image
	// Scale is the preview's pixels per photo pixel, in (0, 1]; 0 means
	// 1, the photo itself.
	Scale float64
}

// Options tunes a detector; the zero value means the defaults.
type Options struct {
	// MinSize is the smallest face side in pixels (0: DefaultMinSize).
	MinSize int
	// MinScore is the pigo Q threshold (0: DefaultMinScore).
	MinScore float32
	// CascadePath is pigo's "facefinder" cascade file. Empty means
	// $FACEBATCH_PIGO_CASCADE (see CascadeEnv).
	CascadePath string
	// Cascade is the cascade itself; when set, CascadePath is not read.
	Cascade []byte
	// MTCNNDir is the exported MTCNN detector (models/export_mtcnn.py).
	// Empty means $FACEBATCH_MTCNN (see models.EnvMTCNN).
	MTCNNDir string
}

// Names lists the detectors New knows.
var Names = []string{"none", "pigo", "mtcnn"}

// New returns the detector by name: "none" (the whole image is one face, as
// the notebook's pre-cropped photos need), "pigo" or "mtcnn". opts may be
// the zero value for defaults; "none" ignores it.
func New(name string, opts Options) (Detector, error) {
	switch name {
	case "none":
		return noneDetector{}, nil
	case "pigo":
		d, err := newPigo(opts)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return d, nil
	case "mtcnn":
		d, err := newMTCNN(opts)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	return nil, fmt.Errorf("%w %q (known: %v)", ErrUnknown, name, Names)
}

// withDefaults fills zero fields (MinSize with minSize) and range-checks
// the rest.
func (o Options) withDefaults(minSize int) (Options, error) {
	switch {
	case o.MinSize == 0:
		o.MinSize = minSize
	case o.MinSize < SmallestMinSize:
		return o, fmt.Errorf("%w: MinSize %d, want 0 (default) or >= %d", ErrOptions, o.MinSize, SmallestMinSize)
	}
	switch {
	case o.MinScore == 0:
		o.MinScore = DefaultMinScore
	case o.MinScore < 0 || math.IsNaN(float64(o.MinScore)) || math.IsInf(float64(o.MinScore), 0):
		return o, fmt.Errorf("%w: MinScore %v, want 0 (default) or > 0", ErrOptions, o.MinScore)
	}
	return o, nil
}

// scaledMinSize is the smallest face side to search a preview at scale
// for, in its pixels (see Detector.DetectBatch).
func scaledMinSize(minSize int, scale float64) int {
	if scale >= 1 || scale <= 0 {
		return minSize
	}
	return max(int(math.Ceil(float64(minSize)*scale)), PreviewMinSize)
}

// noneDetector reports the whole image as one face.
type noneDetector struct{}

func (noneDetector) Name() string { return "none" }

func (n noneDetector) DetectBatch(views []View) ([][]Face, error) {
	return eachView(views, func(v View) ([]Face, error) { return n.Detect(v.Image) })
}

// eachView is DetectBatch for detectors that gain nothing from batching.
func eachView(views []View, detect func(View) ([]Face, error)) ([][]Face, error) {
	found := make([][]Face, len(views))
	for i, v := range views {
		var err error
		if found[i], err = detect(v); err != nil {
			return nil, err
		}
	}
	return found, nil
}

// Detect returns the image bounds with score 1, or no face for an empty image.
func (noneDetector) Detect(img image.Image) ([]Face, error) {
	if img == nil {
		return nil, errNilImage
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, nil
	}
	return []Face{{Box: b, Score: 1}}, nil
}

var errNilImage = errors.New("detector: nil image")

// sortFaces orders faces deterministically: score descending, then by
// position (top, left) and size.
func sortFaces(faces []Face) {
	slices.SortFunc(faces, func(a, b Face) int {
		return cmp.Or(
			cmp.Compare(b.Score, a.Score),
			cmp.Compare(a.Box.Min.Y, b.Box.Min.Y),
			cmp.Compare(a.Box.Min.X, b.Box.Min.X),
			cmp.Compare(a.Box.Max.Y, b.Box.Max.Y),
			cmp.Compare(a.Box.Max.X, b.Box.Max.X),
		)
	})
}
