package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/facebatch/facebatch/lookup"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/models"
)

// matchFlags are the flags verify and who share.
type matchFlags struct {
	image, gallery string
	lookup.Config
	json bool
}

func (f *matchFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.image, "image", "", "photo of the person to check (required)")
	fs.StringVar(&f.gallery, "gallery", "", "folder of known people: NAME.jpg files or NAME/ folders of photos (required)")
	fs.StringVar(&f.Model, "model", "", "exported model folder (default $"+models.EnvModel+")")
	fs.StringVar(&f.Profile, "profile", "", "preprocessing profile of the model manifest (default: the manifest's)")
	fs.IntVar(&f.MinFace, "min-face", 0, "smallest face side to find, in pixels (default: the profile's detector's)")
	fs.Float64Var(&f.Threshold, "threshold", 0, "accept distances below this, in (0, 2] (default: the profile's, 0.7 for notebook)")
	fs.BoolVar(&f.json, "json", false, "print one JSON object instead of a sentence")
}

func parse(fs *flag.FlagSet, args []string, f *matchFlags, required ...string) error {
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	for _, name := range append([]string{"image", "gallery"}, required...) {
		if fs.Lookup(name).Value.String() == "" {
			return fmt.Errorf("%w: --%s is required", errUsage, name)
		}
	}
	if f.Threshold != 0 && !(f.Threshold > 0 && f.Threshold <= 2) {
		return fmt.Errorf("%w: --threshold %v is outside (0, 2]", errUsage, f.Threshold)
	}
	return nil
}

// verifyResult and whoResult are what verify and who print with --json.
type (
	verifyResult = lookup.VerifyResult
	whoResult    = lookup.WhoResult
)

func verify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	var f matchFlags
	f.register(fs)
	identity := fs.String("identity", "", "the claimed identity, a name in --gallery (required)")
	if err := parse(fs, args, &f, "identity"); err != nil {
		return fail(stderr, fs, err)
	}
	var res verifyResult
	s, g, err := openGallery(ctx, &f)
	if err == nil {
		res, err = s.Verify(ctx, g, f.image, *identity)
	}
	if err != nil {
		return fail(stderr, fs, err)
	}
	return answer(stdout, stderr, fs, &f, res, res.Accepted, func(w io.Writer) {
		if res.Accepted {
			fmt.Fprintf(w, "It's %s, welcome in! (distance %.5f < threshold %g)\n", res.Identity, res.Distance, res.Threshold)
		} else {
			fmt.Fprintf(w, "It's not %s, please go away. (distance %.5f >= threshold %g)\n", res.Identity, res.Distance, res.Threshold)
		}
	})
}

func who(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("who", flag.ContinueOnError)
	var f matchFlags
	f.register(fs)
	top := fs.Int("top", 3, "how many candidates to list")
	if err := parse(fs, args, &f); err != nil {
		return fail(stderr, fs, err)
	}
	var res whoResult
	s, g, err := openGallery(ctx, &f)
	if err == nil {
		res, err = s.Who(ctx, g, f.image, *top)
	}
	if err != nil {
		return fail(stderr, fs, err)
	}
	return answer(stdout, stderr, fs, &f, res, res.Accepted, func(w io.Writer) {
		if res.Accepted {
			fmt.Fprintf(w, "It's %s, the distance is %.5f\n", res.Nearest, res.Distance)
		} else {
			fmt.Fprintf(w, "Not in the database. (nearest: %s, distance %.5f >= threshold %g)\n", res.Nearest, res.Distance, res.Threshold)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  rank\tidentity\tdistance\n")
		for i, c := range res.Candidates {
			fmt.Fprintf(tw, "  %d\t%s\t%.5f\n", i+1, c.Identity, c.Distance)
		}
		tw.Flush()
		fmt.Fprintf(w, "  threshold %g, model %s, profile %s\n", res.Threshold, res.ModelID, res.Profile)
	})
}

// openGallery loads the model and encodes --gallery with it.
func openGallery(ctx context.Context, f *matchFlags) (*lookup.Session, *matcher.Gallery, error) {
	s, err := lookup.Open(f.Config)
	if err != nil {
		return nil, nil, err
	}
	g, err := s.Gallery(ctx, f.gallery)
	return s, g, err
}

// answer prints res, as JSON for --json and else as sentence writes it,
// and returns the exit code of the decision.
func answer(stdout, stderr io.Writer, fs *flag.FlagSet, f *matchFlags, res any, accepted bool, sentence func(io.Writer)) int {
	if f.json {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			return fail(stderr, fs, err)
		}
	} else {
		sentence(stdout)
	}
	if !accepted {
		return exitRejected
	}
	return exitAccepted
}
