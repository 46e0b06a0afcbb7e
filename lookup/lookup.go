// Package lookup answers the notebook's two questions about one photo,
// against a folder of known people: is this the claimed person (Verify,
// 1:1), and who is it (Who, 1:K).
//
// A Session loads the encoder, the decoder and the face finder from one
// profile of the model manifest, so the gallery and the photo asked about
// are prepared the same way and the threshold is the one that profile was
// calibrated for. It reads local files and runs in process; the Beam jobs
// in package pipelines do the same for many photos.
package lookup

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/models"
)

// ErrNoFace means the profile's detector found no face in a photo.
var ErrNoFace = errors.New("no face found")

// Config chooses the model and how photos become its input. The zero value
// takes every default.
type Config struct {
	// Model is the exported model folder; "" means $FACEBATCH_MODEL.
	Model string
	// Profile names a preprocessing profile of the model manifest; "" means
	// the manifest's default.
	Profile string
	// MinFace is the smallest face side to find, in pixels; 0 means the
	// profile's detector's default.
	MinFace int
	// Threshold accepts distances below it, in (0, 2]; 0 means the
	// profile's.
	Threshold float64
}

// Session is a loaded model with the face finder and threshold of its
// profile. It is safe for concurrent use.
type Session struct {
	dec *decoder.Decoder
	enc *encoder.Encoder
	// finder is nil for detector "none": the notebook's photos are already
	// cropped to the face, and a detector would only lose some of them.
	finder    *faces.Finder
	threshold float64
	// profile is the profile's name as results report it.
	profile string
}

// Open loads the model that c names.
func Open(c Config) (*Session, error) {
	// Checked before the model loads, which takes seconds.
	if c.Threshold != 0 && !(c.Threshold > 0 && c.Threshold <= 2) {
		return nil, fmt.Errorf("%w: threshold %v outside (0, 2]", matcher.ErrInvalid, c.Threshold)
	}
	dir := c.Model
	if dir == "" {
		var err error
		if dir, err = models.DefaultDir(); err != nil {
			return nil, err
		}
	}
	enc, err := encoder.Load(dir, encoder.Options{Profile: c.Profile})
	if err != nil {
		return nil, err
	}
	dec, err := decoder.New(0)
	if err != nil {
		return nil, err
	}
	p := enc.Profile()
	s := &Session{dec: dec, enc: enc, threshold: c.Threshold, profile: c.Profile}
	if s.threshold == 0 {
		s.threshold = p.Threshold
	}
	if s.profile == "" {
		s.profile = enc.Manifest().DefaultProfile
	}
	if p.Detector != "none" {
		d, err := detector.New(p.Detector, detector.Options{MinSize: c.MinFace})
		if err != nil {
			return nil, err
		}
		s.finder = &faces.Finder{Decoder: dec, Detector: d, Size: enc.Size(), Margin: p.Margin, Resize: p.Resize, Template: faces.Template(p), Align: p.Align, Preview: faces.DefaultPreview}
	}
	return s, nil
}

// Gallery encodes the photos of a local gallery folder (see
// gallery.ScanDir for its layout) into a matcher.Gallery with the
// session's threshold.
func (s *Session) Gallery(ctx context.Context, dir string) (*matcher.Gallery, error) {
	photos, err := gallery.ScanDir(dir)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(photos))
	for i, p := range photos {
		paths[i] = p.Path
	}
	encs, err := s.encodeFiles(ctx, paths)
	if err != nil {
		return nil, err
	}
	g, err := matcher.NewGallery(s.threshold)
	if err != nil {
		return nil, err
	}
	for i, p := range photos {
		if err := g.Add(p.Identity, encs[i]); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// VerifyResult is the answer to "is the person in Image Identity?". Its
// JSON is what `facebatch verify --json` prints.
type VerifyResult struct {
	Image     string  `json:"image"`
	Identity  string  `json:"identity"`
	Distance  float64 `json:"distance"`
	Accepted  bool    `json:"accepted"`
	Threshold float64 `json:"threshold"`
	ModelID   string  `json:"model_id"`
	Profile   string  `json:"profile"`
}

// Verify compares the face in the photo file with identity's photos in g.
func (s *Session) Verify(ctx context.Context, g *matcher.Gallery, photo, identity string) (VerifyResult, error) {
	probe, err := s.encodeFiles(ctx, []string{photo})
	if err != nil {
		return VerifyResult{}, err
	}
	v, err := g.Verify(probe[0], identity)
	if err != nil {
		return VerifyResult{}, err
	}
	return VerifyResult{
		Image: photo, Identity: v.Identity, Distance: v.Distance, Accepted: v.Accepted,
		Threshold: g.Threshold(), ModelID: s.enc.ModelID(), Profile: s.profile,
	}, nil
}

// WhoResult is the answer to "who in the gallery is the person in Image?".
// Its JSON is what `facebatch who --json` prints, where a missing answer is
// null rather than a value to misread.
type WhoResult struct {
	Image string `json:"image"`
	// Identity is Nearest when Accepted, else nil: the nearest identity is
	// not under the threshold.
	Identity *string `json:"identity"`
	Nearest  string  `json:"nearest"`
	Distance float64 `json:"distance"`
	Accepted bool    `json:"accepted"`
	// Margin is the runner-up's distance minus the nearest one's; nil when
	// the gallery holds a single identity.
	Margin     *float64    `json:"margin"`
	Threshold  float64     `json:"threshold"`
	ModelID    string      `json:"model_id"`
	Profile    string      `json:"profile"`
	Candidates []Candidate `json:"candidates"`
}

// Candidate is one of the nearest identities.
type Candidate struct {
	Identity string  `json:"identity"`
	Distance float64 `json:"distance"`
}

// Who finds the top identities of g nearest the face in the photo file,
// nearest first.
func (s *Session) Who(ctx context.Context, g *matcher.Gallery, photo string, top int) (WhoResult, error) {
	probe, err := s.encodeFiles(ctx, []string{photo})
	if err != nil {
		return WhoResult{}, err
	}
	id, err := g.Identify(probe[0], top)
	if err != nil {
		return WhoResult{}, err
	}
	res := WhoResult{
		Image: photo, Nearest: id.Identity, Distance: id.Distance, Accepted: id.Accepted,
		Threshold: g.Threshold(), ModelID: s.enc.ModelID(), Profile: s.profile,
	}
	if id.Accepted {
		res.Identity = &id.Identity
	}
	if !math.IsInf(id.Margin, 1) {
		res.Margin = &id.Margin
	}
	for _, c := range id.Candidates {
		res.Candidates = append(res.Candidates, Candidate{c.Identity, c.Distance})
	}
	return res, nil
}

// face is the model input for one photo: its subject (faces.Photo.Subject),
// found with the profile's detector, or the whole image for detector "none".
func (s *Session) face(path string) (image.Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if s.finder == nil {
		img, _, err := s.dec.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return img, nil
	}
	photo, err := s.finder.Find(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	face, ok := photo.Subject()
	if !ok {
		return nil, fmt.Errorf("%s: %w by %s", path, ErrNoFace, s.finder.Detector.Name())
	}
	return face.Input, nil
}

// encodeFiles encodes one face per photo, in batches so a large gallery
// does not build one huge tensor.
func (s *Session) encodeFiles(ctx context.Context, paths []string) ([][]float32, error) {
	const batch = 32
	var out [][]float32
	for start := 0; start < len(paths); start += batch {
		var imgs []image.Image
		for _, p := range paths[start:min(start+batch, len(paths))] {
			img, err := s.face(p)
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, img)
		}
		encs, err := s.enc.Encode(ctx, imgs)
		if err != nil {
			return nil, err
		}
		out = append(out, encs...)
	}
	return out, nil
}
