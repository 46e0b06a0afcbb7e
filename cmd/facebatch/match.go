package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"text/tabwriter"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/models"
)

// matchFlags are the flags verify and who share.
type matchFlags struct {
	image, gallery, model, profile string
	minFace                        int
	threshold                      float64
	json                           bool
}

func (f *matchFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.image, "image", "", "photo of the person to check (required)")
	fs.StringVar(&f.gallery, "gallery", "", "folder of known people: NAME.jpg files or NAME/ folders of photos (required)")
	fs.StringVar(&f.model, "model", "", "exported model folder (default $"+models.EnvModel+")")
	fs.StringVar(&f.profile, "profile", "", "preprocessing profile of the model manifest (default: the manifest's)")
	fs.IntVar(&f.minFace, "min-face", 0, "smallest face side to find, in pixels (default: the profile's detector's)")
	fs.Float64Var(&f.threshold, "threshold", 0, "accept distances below this, in (0, 2] (default: the profile's, 0.7 for notebook)")
	fs.BoolVar(&f.json, "json", false, "print one JSON object instead of a sentence")
}

// errUsage marks errors that are the caller's to fix; they are printed with
// the flag usage.
var errUsage = errors.New("bad flags")

func parse(fs *flag.FlagSet, args []string, f *matchFlags, required ...string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	for _, name := range append([]string{"image", "gallery"}, required...) {
		if fs.Lookup(name).Value.String() == "" {
			return fmt.Errorf("%w: --%s is required", errUsage, name)
		}
	}
	if f.threshold != 0 && !(f.threshold > 0 && f.threshold <= 2) {
		return fmt.Errorf("%w: --threshold %v is outside (0, 2]", errUsage, f.threshold)
	}
	return nil
}

// fail reports err and returns the error exit code.
// fail reports err on one line and returns the error exit code; for -h it
// prints the flags instead.
func fail(stderr io.Writer, fs *flag.FlagSet, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stderr, "usage of facebatch %s:\n", fs.Name())
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return exitAccepted
	}
	if errors.Is(err, errUsage) {
		fmt.Fprintf(stderr, "facebatch %s: %v (see 'facebatch %s -h')\n", fs.Name(), err, fs.Name())
	} else {
		fmt.Fprintf(stderr, "facebatch %s: %v\n", fs.Name(), err)
	}
	return exitError
}

// session is the loaded model plus what the two commands compute with it.
type session struct {
	dec *decoder.Decoder
	enc *encoder.Encoder
	// finder finds the face in each photo with the profile's detector; nil
	// when that is "none" (the notebook's pre-cropped photos are the faces).
	finder    *faces.Finder
	threshold float64
}

// errNoFace means the profile's detector found no face in a photo.
var errNoFace = errors.New("no face found")

func open(f *matchFlags) (*session, error) {
	dir := f.model
	if dir == "" {
		var err error
		if dir, err = models.DefaultDir(); err != nil {
			return nil, err
		}
	}
	enc, err := encoder.Load(dir, encoder.Options{Profile: f.profile})
	if err != nil {
		return nil, err
	}
	dec, err := decoder.New(0)
	if err != nil {
		return nil, err
	}
	threshold := f.threshold
	if threshold == 0 {
		threshold = enc.Profile().Threshold
	}
	s := &session{dec: dec, enc: enc, threshold: threshold}
	if p := enc.Profile(); p.Detector != "none" {
		d, err := detector.New(p.Detector, detector.Options{MinSize: f.minFace})
		if err != nil {
			return nil, err
		}
		s.finder = &faces.Finder{Decoder: dec, Detector: d, Size: enc.Size(), Margin: p.Margin, Resize: p.Resize, Template: faces.Template(p), Align: p.Align, Preview: faces.DefaultPreview}
	}
	return s, nil
}

// face is the model input for one photo: its subject (faces.Photo.Subject),
// found with the profile's detector, or the whole image for detector "none".
func (s *session) face(path string) (image.Image, error) {
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
		return nil, fmt.Errorf("%s: %w by %s", path, errNoFace, s.finder.Detector.Name())
	}
	return face.Input, nil
}

// encodeFiles encodes one face per photo, in batches so a large gallery
// does not build one huge tensor.
func (s *session) encodeFiles(ctx context.Context, paths []string) ([][]float32, error) {
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

func (s *session) loadGallery(ctx context.Context, dir string) (*matcher.Gallery, error) {
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

// prepare loads the model, the gallery and the probe image's encoding.
func prepare(ctx context.Context, f *matchFlags) (*session, *matcher.Gallery, []float32, error) {
	s, err := open(f)
	if err != nil {
		return nil, nil, nil, err
	}
	g, err := s.loadGallery(ctx, f.gallery)
	if err != nil {
		return nil, nil, nil, err
	}
	probe, err := s.encodeFiles(ctx, []string{f.image})
	if err != nil {
		return nil, nil, nil, err
	}
	return s, g, probe[0], nil
}

type verifyResult struct {
	Image     string  `json:"image"`
	Identity  string  `json:"identity"`
	Distance  float64 `json:"distance"`
	Accepted  bool    `json:"accepted"`
	Threshold float64 `json:"threshold"`
	ModelID   string  `json:"model_id"`
	Profile   string  `json:"profile"`
}

func verify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	var f matchFlags
	f.register(fs)
	identity := fs.String("identity", "", "the claimed identity, a name in --gallery (required)")
	if err := parse(fs, args, &f, "identity"); err != nil {
		return fail(stderr, fs, err)
	}
	s, g, probe, err := prepare(ctx, &f)
	if err != nil {
		return fail(stderr, fs, err)
	}
	v, err := g.Verify(probe, *identity)
	if err != nil {
		return fail(stderr, fs, err)
	}
	res := verifyResult{
		Image: f.image, Identity: v.Identity, Distance: v.Distance, Accepted: v.Accepted,
		Threshold: g.Threshold(), ModelID: s.enc.ModelID(), Profile: profileName(s.enc, f.profile),
	}
	if f.json {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			return fail(stderr, fs, err)
		}
	} else if v.Accepted {
		fmt.Fprintf(stdout, "It's %s, welcome in! (distance %.5f < threshold %g)\n", v.Identity, v.Distance, res.Threshold)
	} else {
		fmt.Fprintf(stdout, "It's not %s, please go away. (distance %.5f >= threshold %g)\n", v.Identity, v.Distance, res.Threshold)
	}
	if !v.Accepted {
		return exitRejected
	}
	return exitAccepted
}

type whoResult struct {
	Image string `json:"image"`
	// Identity is null when the nearest identity is not under the threshold.
	Identity   *string     `json:"identity"`
	Nearest    string      `json:"nearest"`
	Distance   float64     `json:"distance"`
	Accepted   bool        `json:"accepted"`
	Margin     *float64    `json:"margin"` // null with a single identity
	Threshold  float64     `json:"threshold"`
	ModelID    string      `json:"model_id"`
	Profile    string      `json:"profile"`
	Candidates []candidate `json:"candidates"`
}

type candidate struct {
	Identity string  `json:"identity"`
	Distance float64 `json:"distance"`
}

func who(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("who", flag.ContinueOnError)
	var f matchFlags
	f.register(fs)
	top := fs.Int("top", 3, "how many candidates to list")
	if err := parse(fs, args, &f); err != nil {
		return fail(stderr, fs, err)
	}
	s, g, probe, err := prepare(ctx, &f)
	if err != nil {
		return fail(stderr, fs, err)
	}
	id, err := g.Identify(probe, *top)
	if err != nil {
		return fail(stderr, fs, err)
	}
	res := whoResult{
		Image: f.image, Nearest: id.Identity, Distance: id.Distance, Accepted: id.Accepted,
		Threshold: g.Threshold(), ModelID: s.enc.ModelID(), Profile: profileName(s.enc, f.profile),
	}
	if id.Accepted {
		res.Identity = &id.Identity
	}
	if !math.IsInf(id.Margin, 1) {
		res.Margin = &id.Margin
	}
	for _, c := range id.Candidates {
		res.Candidates = append(res.Candidates, candidate{c.Identity, c.Distance})
	}
	if f.json {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			return fail(stderr, fs, err)
		}
	} else {
		if id.Accepted {
			fmt.Fprintf(stdout, "It's %s, the distance is %.5f\n", id.Identity, id.Distance)
		} else {
			fmt.Fprintf(stdout, "Not in the database. (nearest: %s, distance %.5f >= threshold %g)\n", id.Identity, id.Distance, res.Threshold)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  rank\tidentity\tdistance\n")
		for i, c := range id.Candidates {
			fmt.Fprintf(tw, "  %d\t%s\t%.5f\n", i+1, c.Identity, c.Distance)
		}
		tw.Flush()
		fmt.Fprintf(stdout, "  threshold %g, model %s, profile %s\n", res.Threshold, res.ModelID, res.Profile)
	}
	if !id.Accepted {
		return exitRejected
	}
	return exitAccepted
}

func profileName(e *encoder.Encoder, flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return e.Manifest().DefaultProfile
}
