package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html/template"
	"image"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/models"
	"github.com/facebatch/facebatch/report"
	"github.com/facebatch/facebatch/thumbnail"
)

// Thumbnail sizes on the evaluation reports, in pixels.
const (
	cropThumb  = 96  // the face as the model saw it
	photoThumb = 120 // the photo, with the face's box drawn
)

// evalFlags are the flags of `facebatch eval`, in both of its modes.
type evalFlags struct {
	pairs, images   string // verification (1:1) mode
	gallery, probes string // identification (1:N) mode
	out             string
	model, profile  string
	detector        string
	minFace         int
	threshold       float64
	limit           int
	// Identification's open-set measures: the FPIR to choose a threshold
	// for, the sampled gallery sizes and the margin rules to score.
	enrolMean    bool
	targetFPIR   float64
	gallerySizes []int
	margins      []float64
}

// evalCmd runs `facebatch eval`: verification accuracy on an LFW-format
// pairs file (--pairs, --images), or 1:N identification of a probe set
// against a gallery (--gallery, --probes). Both write summary.json and
// report.html into --out and print the main numbers.
func evalCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f evalFlags
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.StringVar(&f.pairs, "pairs", "", "verification: LFW-format pairs file (with --images)")
	fs.StringVar(&f.images, "images", "", "verification: folder of <Name>/<Name>_NNNN.jpg images")
	fs.StringVar(&f.gallery, "gallery", "", "identification: folder of known people, <Identity>/<photo> or <Identity>.jpg (with --probes)")
	fs.StringVar(&f.probes, "probes", "", "identification: folder of <Identity>/<photo> to identify; identities not in --gallery are unknown people")
	fs.StringVar(&f.out, "out", "", "folder for summary.json and report.html (required)")
	fs.StringVar(&f.model, "model", "", "exported model folder (default $"+models.EnvModel+")")
	fs.StringVar(&f.profile, "profile", "", "preprocessing profile (default: the manifest's)")
	fs.StringVar(&f.detector, "detector", "", "none (whole image), pigo or mtcnn: the photo's subject, its largest face near the centre, the whole image when none is found (default: the profile's)")
	fs.IntVar(&f.minFace, "min-face", 0, "smallest face side to find, in pixels (default: the detector's)")
	fs.Float64Var(&f.threshold, "threshold", 0, "the configured threshold to report at (default: the profile's)")
	fs.BoolVar(&f.enrolMean, "enrol-mean", false, "identification: enrol each identity as the mean of its photos' unit encodings, renormalised, instead of every photo (an identity's distance then is to that mean, not the minimum over its photos)")
	fs.Float64Var(&f.targetFPIR, "target-fpir", 0.01, "identification: the FPIR (share of strangers named as someone) to choose the open-set threshold for")
	fs.Func("gallery-sizes", "identification: also score galleries of these many identities, sampled (comma-separated, e.g. 100,1000); probes of identities left out are strangers", parseList(&f.gallerySizes, strconv.Atoi))
	f.margins = []float64{0.02, 0.05, 0.1}
	fs.Func("margins", "identification: margin rules to score beside the nearest identity: accept only when the runner-up is this much further (comma-separated; default 0.02,0.05,0.1; \"none\" for none)", parseList(&f.margins, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }))
	fs.IntVar(&f.limit, "limit", 0, "verification: the first N same and N different pairs of each fold; identification: the first N probes of each identity (0: all)")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fail(stderr, fs, fmt.Errorf("%w: %w", errUsage, err))
	}
	err := f.check(fs)
	if err == nil && f.pairs != "" {
		err = evalPairs(ctx, f, stdout)
	} else if err == nil {
		err = evalIdentify(ctx, f, stdout)
	}
	if err != nil {
		return fail(stderr, fs, err)
	}
	return exitAccepted
}

// check picks the mode: --pairs with --images, or --gallery with --probes.
func (f *evalFlags) check(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	verification := f.pairs != "" || f.images != ""
	identification := f.gallery != "" || f.probes != ""
	var required []string
	switch {
	case verification && identification:
		return fmt.Errorf("%w: --pairs/--images (verification) and --gallery/--probes (identification) are two modes; pick one", errUsage)
	case identification:
		required = []string{"gallery", "probes", "out"}
	default:
		required = []string{"pairs", "images", "out"}
	}
	for _, name := range required {
		if fs.Lookup(name).Value.String() == "" {
			return fmt.Errorf("%w: --%s is required", errUsage, name)
		}
	}
	if f.threshold != 0 && !(f.threshold > 0 && f.threshold <= 2) {
		return fmt.Errorf("%w: --threshold %v is outside (0, 2]", errUsage, f.threshold)
	}
	if !(f.targetFPIR > 0 && f.targetFPIR < 1) {
		return fmt.Errorf("%w: --target-fpir %v is outside (0, 1)", errUsage, f.targetFPIR)
	}
	for _, n := range f.gallerySizes {
		if n < 2 {
			return fmt.Errorf("%w: --gallery-sizes: %d identities leave no runner-up", errUsage, n)
		}
	}
	for _, m := range f.margins {
		if !(m > 0 && m < 2) {
			return fmt.Errorf("%w: --margins: %v is outside (0, 2)", errUsage, m)
		}
	}
	return nil
}

// parseList parses a comma-separated flag into *dst, replacing its default;
// "none" empties it.
func parseList[T any](dst *[]T, parse func(string) (T, error)) func(string) error {
	return func(s string) error {
		*dst = nil
		if s == "none" {
			return nil
		}
		for _, part := range strings.Split(s, ",") {
			v, err := parse(strings.TrimSpace(part))
			if err != nil {
				return err
			}
			*dst = append(*dst, v)
		}
		return nil
	}
}

// evalModel is the encoding path both modes share with the jobs: decode,
// detect, crop and resize (faces.Finder), then batched encoding.
type evalModel struct {
	enc       *encoder.Encoder
	finder    *faces.Finder
	profile   string
	detector  string
	threshold float64
}

func openEvalModel(f evalFlags) (*evalModel, error) {
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
	profile := f.profile
	if profile == "" {
		profile = enc.Manifest().DefaultProfile
	}
	threshold := f.threshold
	if threshold == 0 {
		threshold = enc.Profile().Threshold
	}
	dec, err := decoder.New(0)
	if err != nil {
		return nil, err
	}
	p := enc.Profile()
	detName := f.detector
	if detName == "" {
		detName = p.Detector
	}
	d, err := detector.New(detName, detector.Options{MinSize: f.minFace})
	if err != nil {
		dec.Close()
		return nil, err
	}
	return &evalModel{
		enc:       enc,
		finder:    &faces.Finder{Decoder: dec, Detector: d, Size: enc.Size(), Margin: p.Margin, Resize: p.Resize, Template: faces.Template(p), Align: p.Align, Preview: faces.DefaultPreview},
		profile:   profile,
		detector:  detName,
		threshold: threshold,
	}, nil
}

func (m *evalModel) Close() error { return m.finder.Decoder.Close() }

// encodeFiles encodes the subject of each file, in model batches;
// found[i] is false where the detector found none and the whole image was
// encoded.
func (m *evalModel) encodeFiles(ctx context.Context, paths []string) (embs [][]float32, found []bool, err error) {
	const batch = 32
	for start := 0; start < len(paths); start += batch {
		var imgs []image.Image
		for _, p := range paths[start:min(start+batch, len(paths))] {
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

// evalFace is the model input for one evaluation image and where it came
// from in the photo.
type evalFace struct {
	faces.Face
	found bool
	photo image.Image
}

// face returns the subject of the file at path (faces.Photo.Subject: the
// largest face near the centre), or the whole image when the detector finds
// none (LFW images are centred on the labelled person, and every pair and
// probe must still be scored). withPhoto also returns the decoded photo, at
// the cost of a second decode.
func (m *evalModel) face(path string, withPhoto bool) (evalFace, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return evalFace{}, err
	}
	photo, err := m.finder.Find(data)
	if err != nil {
		return evalFace{}, err
	}
	var img image.Image
	if _, ok := photo.Subject(); withPhoto || !ok {
		if img, _, err = m.finder.Decoder.Decode(data); err != nil {
			return evalFace{}, err
		}
	}
	if face, ok := photo.Subject(); ok {
		return evalFace{Face: face, found: true, photo: img}, nil
	}
	return evalFace{Face: faces.Face{Box: img.Bounds(), Input: m.enc.Input(img)}, photo: img}, nil
}

// thumbs returns the pictures of one image for a report: the face the model
// saw, and the photo with that face's box.
func (m *evalModel) thumbs(path, caption string) (crop, photo report.Face, err error) {
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
	return report.Face{Image: cropURI, Caption: caption + ": " + what, Title: path},
		report.Face{Image: photoURI, Caption: caption + ": photo", Title: path}, nil
}

// writeEvalOutputs writes out/summary.json and out/report.html.
func writeEvalOutputs(out string, summary any, page *report.Page) error {
	data, err := json.MarshalIndent(summary, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "summary.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	return report.WriteFile(filepath.Join(out, "report.html"), page)
}
