package accuracy

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/models"
	"github.com/facebatch/facebatch/report/html"
)

// Eval is one evaluation as `facebatch eval` takes it: verification (1:1)
// when Pairs names a pairs file, else identification (1:N) of
// Identify.ProbesDir against Identify.GalleryDir. Model and Limit serve
// both modes.
type Eval struct {
	Pairs    PairsConfig
	Identify IdentifyConfig
	Model    ModelConfig
	Limit    int
	// Out is the folder summary.json and report.html are written into.
	Out string
}

// Summary is either mode's summary: written as summary.json, printed as
// text.
type Summary interface {
	WriteText(w io.Writer, reportPath string) error
}

// RegisterFlags defines `facebatch eval`'s flags on fs, bound to e's
// fields, with their defaults.
func (e *Eval) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&e.Pairs.PairsFile, "pairs", "", "verification: LFW-format pairs file (with --images)")
	fs.StringVar(&e.Pairs.ImagesDir, "images", "", "verification: folder of <Name>/<Name>_NNNN.jpg images")
	fs.StringVar(&e.Identify.GalleryDir, "gallery", "", "identification: folder of known people, <Identity>/<photo> or <Identity>.jpg (with --probes)")
	fs.StringVar(&e.Identify.ProbesDir, "probes", "", "identification: folder of <Identity>/<photo> to identify; identities not in --gallery are unknown people")
	fs.StringVar(&e.Out, "out", "", "folder for summary.json and report.html (required)")
	fs.StringVar(&e.Model.Dir, "model", "", "exported model folder (default $"+models.EnvModel+")")
	fs.StringVar(&e.Model.Profile, "profile", "", "preprocessing profile (default: the manifest's)")
	fs.StringVar(&e.Model.Detector, "detector", "", "none (whole image), pigo or mtcnn: the photo's subject, its largest face near the centre, the whole image when none is found (default: the profile's)")
	fs.IntVar(&e.Model.MinFace, "min-face", 0, "smallest face side to find, in pixels (default: the detector's)")
	fs.BoolVar(&e.Model.BFloat16, "bf16", encoder.DefaultBFloat16(), "encode in bfloat16, as the jobs do by default where the CPU computes it in hardware (AVX512_BF16 or AMX); --bf16=false for fp32")
	fs.Float64Var(&e.Model.Threshold, "threshold", 0, "the configured threshold to report at (default: the profile's)")
	fs.BoolVar(&e.Identify.EnrolMean, "enrol-mean", false, "identification: enrol each identity as the mean of its photos' unit encodings, renormalised, instead of every photo (an identity's distance then is to that mean, not the minimum over its photos)")
	fs.Float64Var(&e.Identify.TargetFPIR, "target-fpir", 0.01, "identification: the FPIR (share of strangers named as someone) to choose the open-set threshold for")
	fs.Func("gallery-sizes", "identification: also score galleries of these many identities, sampled (comma-separated, e.g. 100,1000); probes of identities left out are strangers", parseList(&e.Identify.GallerySizes, strconv.Atoi))
	e.Identify.Margins = []float64{0.02, 0.05, 0.1}
	fs.Func("margins", "identification: margin rules to score beside the nearest identity: accept only when the runner-up is this much further (comma-separated; default 0.02,0.05,0.1; \"none\" for none)", parseList(&e.Identify.Margins, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }))
	fs.IntVar(&e.Limit, "limit", 0, "verification: the first N same and N different pairs of each fold; identification: the first N probes of each identity (0: all)")
}

// Check picks the mode, --pairs with --images or --gallery with --probes,
// and checks the ranges the flags' usage states. Its errors name the
// flags.
func (e *Eval) Check() error {
	verification := e.Pairs.PairsFile != "" || e.Pairs.ImagesDir != ""
	identification := e.Identify.GalleryDir != "" || e.Identify.ProbesDir != ""
	required := []struct{ name, value string }{{"pairs", e.Pairs.PairsFile}, {"images", e.Pairs.ImagesDir}, {"out", e.Out}}
	switch {
	case verification && identification:
		return errors.New("--pairs/--images (verification) and --gallery/--probes (identification) are two modes; pick one")
	case identification:
		required = []struct{ name, value string }{{"gallery", e.Identify.GalleryDir}, {"probes", e.Identify.ProbesDir}, {"out", e.Out}}
	}
	for _, f := range required {
		if f.value == "" {
			return fmt.Errorf("--%s is required", f.name)
		}
	}
	if t := e.Model.Threshold; t != 0 && !(t > 0 && t <= 2) {
		return fmt.Errorf("--threshold %v is outside (0, 2]", t)
	}
	if t := e.Identify.TargetFPIR; !(t > 0 && t < 1) {
		return fmt.Errorf("--target-fpir %v is outside (0, 1)", t)
	}
	for _, n := range e.Identify.GallerySizes {
		if n < 2 {
			return fmt.Errorf("--gallery-sizes: %d identities leave no runner-up", n)
		}
	}
	for _, m := range e.Identify.Margins {
		if !(m > 0 && m < 2) {
			return fmt.Errorf("--margins: %v is outside (0, 2)", m)
		}
	}
	return nil
}

// Run runs the mode Check picked and writes summary.json and report.html
// into Out; it returns the summary and the report's path.
func (e *Eval) Run(ctx context.Context) (Summary, string, error) {
	var summary Summary
	var page *html.Page
	var err error
	if e.Pairs.PairsFile != "" {
		e.Pairs.Model, e.Pairs.Limit = e.Model, e.Limit
		summary, page, err = Pairs(ctx, e.Pairs)
	} else {
		e.Identify.Model, e.Identify.Limit = e.Model, e.Limit
		summary, page, err = Identify(ctx, e.Identify)
	}
	if err != nil {
		return nil, "", err
	}
	data, err := json.MarshalIndent(summary, "", "  ")
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(e.Out, 0o755); err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(filepath.Join(e.Out, "summary.json"), append(data, '\n'), 0o644); err != nil {
		return nil, "", err
	}
	reportPath := filepath.Join(e.Out, "report.html")
	return summary, reportPath, html.WriteFile(reportPath, page)
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
