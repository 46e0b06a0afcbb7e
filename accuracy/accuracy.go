// Package accuracy measures how well a model, preprocessing profile and face
// detector recognise people, on the two benchmarks `facebatch eval` runs:
// verification (1:1) on an LFW-format pairs file (Pairs: k-fold accuracy,
// ROC, TAR at FAR, the hardest pairs) and identification (1:N) of a probe set
// against a gallery (Identify: rank-k rates, the unknown-person false accept
// rate, open-set FNIR at FPIR, every error). Each returns the summary that
// `facebatch eval` writes as summary.json and the report page it writes as
// report.html, showing the hardest cases as the faces the model saw.
//
// The arithmetic lives in package evaluation, which works on plain distances
// so that it is tested without a model. This package encodes the images, and
// does so with the decode, detect, crop and encode path of the Beam jobs
// (faces.Finder, encoder), so that the numbers measure what the jobs do.
package accuracy

import (
	"context"
	"fmt"
	"html/template"
	"image"
	"os"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/models"
	"github.com/facebatch/facebatch/report/html"
	"github.com/facebatch/facebatch/thumbnail"
)

// Thumbnail sizes on the reports, in pixels.
const (
	cropThumb  = 96  // the face as the model saw it
	photoThumb = 120 // the photo, with the face's box drawn
)

// Colours shared by the reports.
const (
	colorSame        = "#2e7d32"
	colorDifferent   = "#c62828"
	colorThreshold   = "#263238"
	colorRecommended = "#ef6c00"
)

// encodeBatch is how many images go to the model at once.
const encodeBatch = 32

// ModelConfig says what is measured: which model, preprocessing and
// detector, and the threshold the numbers are reported at. Zero values are
// the defaults named on each field.
type ModelConfig struct {
	Dir     string // exported model folder; "" for models.DefaultDir
	Profile string // preprocessing profile; "" for the manifest's default
	// Detector is none (whole image), pigo or mtcnn; "" for the profile's.
	Detector string
	MinFace  int // smallest face side to find, in pixels; 0 for the detector's
	// BFloat16 encodes in bfloat16 (encoder.Session.BFloat16).
	BFloat16 bool
	// Threshold is the configured distance threshold; 0 for the profile's.
	Threshold float64
}

// model is the encoding path both benchmarks share with the jobs, with the
// defaults of ModelConfig resolved.
type model struct {
	enc       *encoder.Encoder
	finder    *faces.Finder
	profile   string
	detector  string
	precision string
	threshold float64
}

func openModel(cfg ModelConfig) (*model, error) {
	dir := cfg.Dir
	if dir == "" {
		var err error
		if dir, err = models.DefaultDir(); err != nil {
			return nil, err
		}
	}
	enc, err := encoder.Load(dir, encoder.Options{Profile: cfg.Profile, Session: encoder.Session{BFloat16: cfg.BFloat16}})
	if err != nil {
		return nil, err
	}
	p := enc.Profile()
	m := &model{enc: enc, profile: cfg.Profile, detector: cfg.Detector, threshold: cfg.Threshold,
		precision: encoder.Session{BFloat16: cfg.BFloat16}.Precision()}
	if m.profile == "" {
		m.profile = enc.Manifest().DefaultProfile
	}
	if m.threshold == 0 {
		m.threshold = p.Threshold
	}
	if m.detector == "" {
		m.detector = p.Detector
	}
	dec, err := decoder.New(0)
	if err != nil {
		return nil, err
	}
	d, err := detector.New(m.detector, detector.Options{MinSize: cfg.MinFace})
	if err != nil {
		dec.Close()
		return nil, err
	}
	m.finder = &faces.Finder{Decoder: dec, Detector: d, Size: enc.Size(), Margin: p.Margin, Resize: p.Resize,
		Template: faces.Template(p), Align: p.Align, Preview: faces.DefaultPreview}
	return m, nil
}

func (m *model) Close() error { return m.finder.Decoder.Close() }

// encodeFiles encodes the subject of each file, in model batches;
// found[i] is false where the detector found none and the whole image was
// encoded.
func (m *model) encodeFiles(ctx context.Context, paths []string) (embs [][]float32, found []bool, err error) {
	for start := 0; start < len(paths); start += encodeBatch {
		var imgs []image.Image
		for _, p := range paths[start:min(start+encodeBatch, len(paths))] {
			face, err := m.face(p, false)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", p, err)
			}
			imgs = append(imgs, face.Input)
			found = append(found, face.found)
		}
		out, err := m.enc.Encode(ctx, imgs)
		if err != nil {
			return nil, nil, err
		}
		embs = append(embs, out...)
	}
	return embs, found, nil
}

// subject is the model input for one image and where it came from in the
// photo.
type subject struct {
	faces.Face
	found bool
	photo image.Image
}

// face returns the subject of the file at path (faces.Photo.Subject: the
// largest face near the centre), or the whole image when the detector finds
// none: LFW images are centred on the labelled person, and every pair and
// probe must still be scored. withPhoto also returns the decoded photo, at
// the cost of a second decode.
func (m *model) face(path string, withPhoto bool) (subject, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return subject{}, err
	}
	photo, err := m.finder.Find(data)
	if err != nil {
		return subject{}, err
	}
	var img image.Image
	if _, ok := photo.Subject(); withPhoto || !ok {
		if img, _, err = m.finder.Decoder.Decode(data); err != nil {
			return subject{}, err
		}
	}
	if face, ok := photo.Subject(); ok {
		return subject{Face: face, found: true, photo: img}, nil
	}
	return subject{Face: faces.Face{Box: img.Bounds(), Input: m.enc.Input(img)}, photo: img}, nil
}

// thumbs returns the pictures of one image for a report: the face the model
// saw, and the photo with that face's box.
func (m *model) thumbs(path, caption string) (crop, photo html.Face, err error) {
	face, err := m.face(path, true)
	if err != nil {
		return crop, photo, fmt.Errorf("%s: %w", path, err)
	}
	cropURI, err := thumbnail.DataURI(face.Input, cropThumb)
	if err != nil {
		return crop, photo, fmt.Errorf("%s: %w", path, err)
	}
	var photoURI template.URL
	if face.found {
		photoURI, err = thumbnail.DataURI(thumbnail.WithBox(face.photo, face.Box, photoThumb), photoThumb)
	} else {
		photoURI, err = thumbnail.DataURI(face.photo, photoThumb)
	}
	if err != nil {
		return crop, photo, fmt.Errorf("%s: %w", path, err)
	}
	what := "model input"
	if !face.found {
		what = "model input (no face found: whole image)"
	}
	return html.Face{Image: cropURI, Caption: caption + ": " + what, Title: path},
		html.Face{Image: photoURI, Caption: caption + ": photo", Title: path}, nil
}
