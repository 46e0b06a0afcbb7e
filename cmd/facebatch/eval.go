package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/facebatch/facebatch/accuracy"
	"github.com/facebatch/facebatch/models"
	"github.com/facebatch/facebatch/report/html"
)

// evalFlags are the flags of `facebatch eval`. The model flags and --limit
// serve both modes; run copies them into the config of the mode it runs.
type evalFlags struct {
	pairs    accuracy.PairsConfig    // verification (1:1) mode
	identify accuracy.IdentifyConfig // identification (1:N) mode
	model    accuracy.ModelConfig
	limit    int
	out      string
}

// evalCmd runs `facebatch eval`: verification accuracy on an LFW-format
// pairs file (--pairs, --images), or 1:N identification of a probe set
// against a gallery (--gallery, --probes). Both write summary.json and
// report.html into --out and print the main numbers.
func evalCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f evalFlags
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.StringVar(&f.pairs.PairsFile, "pairs", "", "verification: LFW-format pairs file (with --images)")
	fs.StringVar(&f.pairs.ImagesDir, "images", "", "verification: folder of <Name>/<Name>_NNNN.jpg images")
	fs.StringVar(&f.identify.GalleryDir, "gallery", "", "identification: folder of known people, <Identity>/<photo> or <Identity>.jpg (with --probes)")
	fs.StringVar(&f.identify.ProbesDir, "probes", "", "identification: folder of <Identity>/<photo> to identify; identities not in --gallery are unknown people")
	fs.StringVar(&f.out, "out", "", "folder for summary.json and report.html (required)")
	fs.StringVar(&f.model.Dir, "model", "", "exported model folder (default $"+models.EnvModel+")")
	fs.StringVar(&f.model.Profile, "profile", "", "preprocessing profile (default: the manifest's)")
	fs.StringVar(&f.model.Detector, "detector", "", "none (whole image), pigo or mtcnn: the photo's subject, its largest face near the centre, the whole image when none is found (default: the profile's)")
	fs.IntVar(&f.model.MinFace, "min-face", 0, "smallest face side to find, in pixels (default: the detector's)")
	fs.Float64Var(&f.model.Threshold, "threshold", 0, "the configured threshold to report at (default: the profile's)")
	fs.BoolVar(&f.identify.EnrolMean, "enrol-mean", false, "identification: enrol each identity as the mean of its photos' unit encodings, renormalised, instead of every photo (an identity's distance then is to that mean, not the minimum over its photos)")
	fs.Float64Var(&f.identify.TargetFPIR, "target-fpir", 0.01, "identification: the FPIR (share of strangers named as someone) to choose the open-set threshold for")
	fs.Func("gallery-sizes", "identification: also score galleries of these many identities, sampled (comma-separated, e.g. 100,1000); probes of identities left out are strangers", parseList(&f.identify.GallerySizes, strconv.Atoi))
	f.identify.Margins = []float64{0.02, 0.05, 0.1}
	fs.Func("margins", "identification: margin rules to score beside the nearest identity: accept only when the runner-up is this much further (comma-separated; default 0.02,0.05,0.1; \"none\" for none)", parseList(&f.identify.Margins, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }))
	fs.IntVar(&f.limit, "limit", 0, "verification: the first N same and N different pairs of each fold; identification: the first N probes of each identity (0: all)")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fail(stderr, fs, fmt.Errorf("%w: %w", errUsage, err))
	}
	err := f.check(fs)
	if err == nil {
		err = f.run(ctx, stdout)
	}
	if err != nil {
		return fail(stderr, fs, err)
	}
	return exitAccepted
}

// check picks the mode, --pairs with --images or --gallery with --probes,
// and checks the ranges the flags' usage states.
func (f *evalFlags) check(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	verification := f.pairs.PairsFile != "" || f.pairs.ImagesDir != ""
	identification := f.identify.GalleryDir != "" || f.identify.ProbesDir != ""
	required := []string{"pairs", "images", "out"}
	switch {
	case verification && identification:
		return fmt.Errorf("%w: --pairs/--images (verification) and --gallery/--probes (identification) are two modes; pick one", errUsage)
	case identification:
		required = []string{"gallery", "probes", "out"}
	}
	for _, name := range required {
		if fs.Lookup(name).Value.String() == "" {
			return fmt.Errorf("%w: --%s is required", errUsage, name)
		}
	}
	if t := f.model.Threshold; t != 0 && !(t > 0 && t <= 2) {
		return fmt.Errorf("%w: --threshold %v is outside (0, 2]", errUsage, t)
	}
	if t := f.identify.TargetFPIR; !(t > 0 && t < 1) {
		return fmt.Errorf("%w: --target-fpir %v is outside (0, 1)", errUsage, t)
	}
	for _, n := range f.identify.GallerySizes {
		if n < 2 {
			return fmt.Errorf("%w: --gallery-sizes: %d identities leave no runner-up", errUsage, n)
		}
	}
	for _, m := range f.identify.Margins {
		if !(m > 0 && m < 2) {
			return fmt.Errorf("%w: --margins: %v is outside (0, 2)", errUsage, m)
		}
	}
	return nil
}

// evalSummary is either mode's summary: written as summary.json, printed
// as text.
type evalSummary interface {
	WriteText(w io.Writer, reportPath string) error
}

// run runs the mode check picked, writes summary.json and report.html and
// prints the main numbers.
func (f *evalFlags) run(ctx context.Context, stdout io.Writer) error {
	var summary evalSummary
	var page *html.Page
	var err error
	if f.pairs.PairsFile != "" {
		f.pairs.Model, f.pairs.Limit = f.model, f.limit
		summary, page, err = accuracy.Pairs(ctx, f.pairs)
	} else {
		f.identify.Model, f.identify.Limit = f.model, f.limit
		summary, page, err = accuracy.Identify(ctx, f.identify)
	}
	if err != nil {
		return err
	}
	if err := writeEvalOutputs(f.out, summary, page); err != nil {
		return err
	}
	return summary.WriteText(stdout, filepath.Join(f.out, "report.html"))
}

// writeEvalOutputs writes out/summary.json and out/report.html.
func writeEvalOutputs(out string, summary evalSummary, page *html.Page) error {
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
	return html.WriteFile(filepath.Join(out, "report.html"), page)
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
