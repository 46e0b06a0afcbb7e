package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facebatch/facebatch/internal/browser"
)

// renderReport loads an HTML report in headless Chromium, fails the test
// unless every image on it loaded (and, with wantImages, there is at least
// one), saves a screenshot beside it, and returns the page to read counts
// from. Without Chromium the test fails.
func renderReport(t *testing.T, path string, wantImages bool) *browser.Page {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	b, err := browser.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	url, err := browser.FileURL(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Open(ctx, url, 1200, 800)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := p.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if wantImages && imgs.Total == 0 || imgs.Loaded != imgs.Total {
		t.Errorf("%s: %d of %d images loaded; broken: %q", path, imgs.Loaded, imgs.Total, imgs.Broken)
	}
	shot, err := p.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(strings.TrimSuffix(path, ".html")+".png", shot, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pageStat reads the number shown with data-stat=key.
func pageStat(t *testing.T, p *browser.Page, key string) string {
	t.Helper()
	texts, err := p.Texts(context.Background(), fmt.Sprintf("[data-stat=%q]", key))
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != 1 {
		t.Fatalf("page shows %d values for %q, want 1", len(texts), key)
	}
	return texts[0]
}

func pageCount(t *testing.T, p *browser.Page, selector string) int {
	t.Helper()
	n, err := p.Count(context.Background(), selector)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func readSummary[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	data, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// checkPairsReport checks the verification report against summary.json:
// the page's numbers, both charts, and the worst pairs with four pictures
// each.
func checkPairsReport(t *testing.T, out string) {
	t.Helper()
	sum := readSummary[evalSummary](t, out)
	p := renderReport(t, filepath.Join(out, "report.html"), true)
	if got := pageStat(t, p, "pairs"); got != fmt.Sprint(sum.Pairs) {
		t.Errorf("page shows %s pairs, summary.json %d", got, sum.Pairs)
	}
	if got, want := pageStat(t, p, "auc"), fmt.Sprintf("%.4f", sum.AUC); got != want {
		t.Errorf("page shows AUC %s, summary.json %s", got, want)
	}
	if got, want := pageStat(t, p, "best_threshold"), fmt.Sprintf("%.3f", sum.BestThreshold); got != want {
		t.Errorf("page shows recommended threshold %s, summary.json %s", got, want)
	}
	if n := pageCount(t, p, `svg[data-chart=histogram] line.marker`); n != 2 {
		t.Errorf("histogram has %d threshold markers, want 2 (configured and recommended)", n)
	}
	if n := pageCount(t, p, `svg[data-chart=curve] path.line`); n != 1 {
		t.Errorf("%d ROC curves, want 1", n)
	}
	errorsAt := func(ps []pairDistance) (n int) {
		for _, pd := range ps {
			n += boolInt(pd.ErrorAtBest)
		}
		return n
	}
	for _, sec := range []struct {
		id    string
		pairs []pairDistance
	}{{"false-accepts", sum.WorstFalseAccepts}, {"false-rejects", sum.WorstFalseRejects}} {
		if len(sec.pairs) != worstPairs {
			t.Errorf("summary.json lists %d %s, want %d", len(sec.pairs), sec.id, worstPairs)
		}
		sel := fmt.Sprintf("[data-section=%s] .group", sec.id)
		if n := pageCount(t, p, sel); n != len(sec.pairs) {
			t.Errorf("%s: %d groups on the page, %d in summary.json", sec.id, n, len(sec.pairs))
		}
		if n := pageCount(t, p, sel+" img"); n != 4*len(sec.pairs) {
			t.Errorf("%s: %d pictures, want 4 per pair", sec.id, n)
		}
		if n := pageCount(t, p, sel+".error"); n != errorsAt(sec.pairs) {
			t.Errorf("%s: %d marked as errors, summary.json %d", sec.id, n, errorsAt(sec.pairs))
		}
	}
}

// checkIdentifyReport checks the identification report against
// summary.json.
func checkIdentifyReport(t *testing.T, out string, sum identifySummary) {
	t.Helper()
	// The only pictures on a 1:N report are those of its confusions.
	p := renderReport(t, filepath.Join(out, "report.html"), len(sum.Confusions) > 0)
	for key, want := range map[string]string{
		"probe_count":    fmt.Sprint(sum.ProbeCount),
		"gallery_photos": fmt.Sprint(sum.GalleryPhotos),
		"rank1_rate":     fmt.Sprintf("%.2f%%", 100*sum.Rank1),
		"confusions":     fmt.Sprint(len(sum.Confusions)),
		"unknown_method": sum.UnknownMethod,
	} {
		if got := pageStat(t, p, key); got != want {
			t.Errorf("page shows %s = %q, summary.json %q", key, got, want)
		}
	}
	if n := pageCount(t, p, "[data-section=confusions] .group"); n != len(sum.Confusions) {
		t.Errorf("%d errors on the page, %d in summary.json", n, len(sum.Confusions))
	}
	if n := pageCount(t, p, "svg[data-chart=histogram] line.marker"); n != 1 {
		t.Errorf("histogram has %d threshold markers, want 1", n)
	}
}

// TestEvalIdentifySeed runs 1:N on the notebook's photos with arnaud left
// out of the gallery, so camera_5 (arnaud) is an unknown person. With the
// notebook preprocessing camera_4 (dan) goes to sebastiano (see
// TestWhoCamera4) and camera_5 is accepted as sebastiano (0.62 < 0.7).
func TestEvalIdentifySeed(t *testing.T) {
	dir := t.TempDir()
	gal := filepath.Join(dir, "gallery")
	probes := filepath.Join(dir, "probes")
	entries, err := os.ReadDir(seedGallery)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "arnaud.jpg" {
			link(t, filepath.Join(seedGallery, e.Name()), filepath.Join(gal, e.Name()))
		}
	}
	var expected struct {
		Truth map[string]string `json:"camera_truth"`
	}
	data, err := os.ReadFile(filepath.Join(seed, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &expected); err != nil {
		t.Fatal(err)
	}
	for image, who := range expected.Truth {
		if strings.HasSuffix(image, ".jpg") {
			link(t, filepath.Join(seedCamera, image), filepath.Join(probes, who, image))
		}
	}
	out := filepath.Join(dir, "out")
	code, stdout, stderr := facebatch(t, "eval", "--gallery", gal, "--probes", probes, "--out", out, "--profile", "notebook", "--gallery-sizes", "5")
	if code != exitAccepted {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, tail(stderr, 2000))
	}
	for _, want := range []string{"rank-1 identification rate     80.00% (5 enrolled probes)", "unknown people accepted        100.00% (1 of 1, unknown_probes)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	sum := readSummary[identifySummary](t, out)
	if sum.GalleryPhotos != 11 || sum.GalleryIdentities != 11 || sum.ProbeCount != 6 || sum.EnrolledProbes != 5 ||
		sum.UnknownProbes != 1 || sum.UnknownMethod != unknownProbes || sum.UnknownTrials != 1 || sum.UnknownAccepted != 1 {
		t.Errorf("counts: %+v", sum)
	}
	if sum.Rank1 != 0.8 || sum.RankRates[1] != 1 || sum.Identified != 4 || sum.Misidentified != 1 || sum.Rejected != 0 || sum.Threshold != 0.7 {
		t.Errorf("rates: rank %v, identified %d, misidentified %d, rejected %d at %v", sum.RankRates, sum.Identified, sum.Misidentified, sum.Rejected, sum.Threshold)
	}
	want := map[string]string{"camera_4.jpg": "dan sebastiano misidentified", "camera_5.jpg": "arnaud sebastiano unknown_accepted"}
	for _, c := range sum.Confusions {
		got := fmt.Sprintf("%s %s %s", c.Identity, c.Nearest, c.Kind)
		if want[filepath.Base(c.Probe)] != got {
			t.Errorf("confusion %s: %s, want %q", filepath.Base(c.Probe), got, want[filepath.Base(c.Probe)])
		}
		delete(want, filepath.Base(c.Probe))
	}
	if len(want) > 0 {
		t.Errorf("confusions lack %v", want)
	}
	checkOpenSet(t, sum)
	checkIdentifyReport(t, out, sum)
}

// checkOpenSet checks the seed run's open-set summary: the whole gallery
// (11 identities: five probes mated, arnaud a stranger) and a sample of 5,
// whose left-out identities' probes are strangers too; under the nearest
// rule and the three default margin rules.
func checkOpenSet(t *testing.T, sum identifySummary) {
	t.Helper()
	s := sum.OpenSet
	if s == nil || len(s.Sizes) != 2 || s.TargetFPIR != 0.01 {
		t.Fatalf("open set %+v, want two gallery sizes at FPIR 1%%", s)
	}
	small, all := s.Sizes[0], s.Sizes[1]
	if all.Identities != 11 || all.Mated != 5 || all.NonMated != 1 || all.Rank1 != sum.Rank1 {
		t.Errorf("whole gallery: %d identities, %d mated, %d non-mated, rank-1 %v", all.Identities, all.Mated, all.NonMated, all.Rank1)
	}
	if small.Identities != 5 || small.Mated+small.NonMated != 6 || small.NonMated < 1 {
		t.Errorf("sampled gallery: %d identities, %d mated, %d non-mated", small.Identities, small.Mated, small.NonMated)
	}
	for _, size := range s.Sizes {
		if len(size.Rules) != 4 || size.Rules[0].Rule != "nearest" || size.Rules[3].MinMargin != 0.1 {
			t.Fatalf("%d identities: rules %+v", size.Identities, size.Rules)
		}
		for _, r := range size.Rules {
			// One stranger in a hundred may be named; of one, none.
			if p := r.AtTarget; p.FalsePositives != 0 || p.FPIR != 0 || !(p.Threshold > 0 && p.Threshold <= 2) ||
				p.FNIR != float64(p.Misses)/float64(size.Mated) {
				t.Errorf("%d identities, %s: %+v", size.Identities, r.Rule, p)
			}
		}
	}
	// The stranger's distance is the threshold, so the nearest rule names
	// exactly the mated probes nearer than arnaud is to sebastiano.
	var arnaud float64
	for _, c := range sum.Confusions {
		if c.Kind == kindUnknownAccepted {
			arnaud = c.Distance
		}
	}
	if got := all.Rules[0].AtTarget.Threshold; got != arnaud {
		t.Errorf("threshold for FPIR 1%% %v, want the stranger's distance %v", got, arnaud)
	}
}

// TestEvalIdentifyCelebrities is the 1:N acceptance check: the 5-celebrity
// val photos against the train photos, under the default profile: every
// probe right at rank 1; the unknown-person rate by
// leave-one-identity-out, since every val identity is in the gallery.
func TestEvalIdentifyCelebrities(t *testing.T) {
	data := os.Getenv("FACEBATCH_DEMO_DATA")
	if data == "" {
		t.Fatal("FACEBATCH_DEMO_DATA is not set: run scripts/setup.sh and source .facebatch.env")
	}
	out := t.TempDir()
	code, stdout, stderr := facebatch(t, "eval", "--gallery", filepath.Join(data, "train"), "--probes", filepath.Join(data, "val"),
		"--out", out)
	if code != exitAccepted {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, tail(stderr, 2000))
	}
	sum := readSummary[identifySummary](t, out)
	if sum.ProbeCount != 25 || sum.ProbeIdentities != 5 || sum.GalleryIdentities != 5 || sum.EnrolledProbes != 25 {
		t.Errorf("counts: %+v", sum)
	}
	if sum.Rank1 != 1 || sum.IdentifiedRate != 1 {
		t.Errorf("rank-1 %v, identified at the threshold %v; want 1 and 1", sum.Rank1, sum.IdentifiedRate)
	}
	if sum.UnknownMethod != leaveOneOut || sum.UnknownTrials != 25 || sum.UnknownFAR > 0.2 {
		t.Errorf("unknown people: %s, %d of %d accepted", sum.UnknownMethod, sum.UnknownAccepted, sum.UnknownTrials)
	}
	if sum.UnknownAccepted != len(sum.Confusions) {
		t.Errorf("%d unknown accepted but %d confusions", sum.UnknownAccepted, len(sum.Confusions))
	}
	checkIdentifyReport(t, out, sum)
}

func TestEvalFlags(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"both modes", []string{"--pairs", "p", "--images", "i", "--gallery", "g", "--probes", "q", "--out", "o"}, "two modes"},
		{"no probes", []string{"--gallery", "g", "--out", "o"}, "--probes is required"},
		{"no images", []string{"--pairs", "p", "--out", "o"}, "--images is required"},
		{"nothing", nil, "--pairs is required"},
		{"threshold", []string{"--gallery", "g", "--probes", "q", "--out", "o", "--threshold", "3"}, "outside (0, 2]"},
		{"missing gallery", []string{"--gallery", "/no/such/dir", "--probes", "q", "--out", "o"}, "no such file"},
		{"target FPIR", []string{"--gallery", "g", "--probes", "q", "--out", "o", "--target-fpir", "1"}, "outside (0, 1)"},
		{"gallery size", []string{"--gallery", "g", "--probes", "q", "--out", "o", "--gallery-sizes", "100,1"}, "no runner-up"},
		{"margin", []string{"--gallery", "g", "--probes", "q", "--out", "o", "--margins", "0.1,x"}, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := facebatch(t, append([]string{"eval"}, tt.args...)...)
			if code != exitError || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, errOut, tt.stderr)
			}
		})
	}
}

func link(t *testing.T, target, name string) {
	t.Helper()
	abs, err := filepath.Abs(target)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(abs, name); err != nil {
		t.Fatal(err)
	}
}
