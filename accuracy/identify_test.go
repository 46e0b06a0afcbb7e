package accuracy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/report/html"

	"github.com/facebatch/facebatch/internal/browser/browsertest"
)

// seedSets makes the 1:N seed set: the notebook's gallery without arnaud,
// and the camera shots as probes of the people they show (camera_truth),
// so that camera_5 (arnaud) is an unknown person.
func seedSets(t *testing.T) (galleryDir, probesDir string) {
	t.Helper()
	dir := t.TempDir()
	galleryDir, probesDir = filepath.Join(dir, "gallery"), filepath.Join(dir, "probes")
	entries, err := os.ReadDir(seedGallery)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "arnaud.jpg" {
			link(t, filepath.Join(seedGallery, e.Name()), filepath.Join(galleryDir, e.Name()))
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
			link(t, filepath.Join(seedCamera, image), filepath.Join(probesDir, who, image))
		}
	}
	return galleryDir, probesDir
}

// TestIdentifySeed runs 1:N on the seed set. With the notebook
// preprocessing camera_4 (dan) goes to sebastiano (see cmd/facebatch's
// TestWhoCamera4) and camera_5 is accepted as sebastiano (0.62 < 0.7).
func TestIdentifySeed(t *testing.T) {
	gal, probes := seedSets(t)
	sum, page, err := Identify(context.Background(), IdentifyConfig{
		Model: ModelConfig{Profile: "notebook"}, GalleryDir: gal, ProbesDir: probes,
		TargetFPIR: 0.01, GallerySizes: []int{5}, Margins: []float64{0.02, 0.05, 0.1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.GalleryPhotos != 11 || sum.GalleryIdentities != 11 || sum.ProbeCount != 6 || sum.EnrolledProbes != 5 ||
		sum.UnknownProbes != 1 || sum.UnknownMethod != MethodUnknownProbes || sum.UnknownTrials != 1 || sum.UnknownAccepted != 1 {
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
	checkIdentifyPage(t, sum, page)

	var out strings.Builder
	if err := sum.WriteText(&out, "out/report.html"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"eval 1:N                       6 probes of 5 identities against 11 photos of 11 identities; profile notebook, detector none, fp32\n",
		"rank-1 identification rate     80.00% (5 enrolled probes)\n",
		"unknown people accepted        100.00% (1 of 1, unknown_probes)\n",
		"open set: FNIR", "report  out/report.html\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
}

// checkOpenSet checks the seed run's open-set summary: the whole gallery
// (11 identities: five probes mated, arnaud a stranger) and a sample of 5,
// whose left-out identities' probes are strangers too; under the nearest
// rule and the three margin rules.
func checkOpenSet(t *testing.T, sum *IdentifySummary) {
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
		if c.Kind == KindUnknownAccepted {
			arnaud = c.Distance
		}
	}
	if got := all.Rules[0].AtTarget.Threshold; got != arnaud {
		t.Errorf("threshold for FPIR 1%% %v, want the stranger's distance %v", got, arnaud)
	}
}

// checkIdentifyPage renders the identification page and checks it against
// the summary.
func checkIdentifyPage(t *testing.T, sum *IdentifySummary, page *html.Page) {
	t.Helper()
	// The only pictures on a 1:N page are those of its confusions.
	p := render(t, page, len(sum.Confusions) > 0)
	for key, want := range map[string]string{
		"probe_count":    fmt.Sprint(sum.ProbeCount),
		"gallery_photos": fmt.Sprint(sum.GalleryPhotos),
		"rank1_rate":     fmt.Sprintf("%.2f%%", 100*sum.Rank1),
		"confusions":     fmt.Sprint(len(sum.Confusions)),
		"unknown_method": sum.UnknownMethod,
	} {
		if got := browsertest.Stat(t, p, key); got != want {
			t.Errorf("page shows %s = %q, the summary %q", key, got, want)
		}
	}
	if n := browsertest.Count(t, p, "[data-section=confusions] .group"); n != len(sum.Confusions) {
		t.Errorf("%d errors on the page, %d in the summary", n, len(sum.Confusions))
	}
	if n := browsertest.Count(t, p, "svg[data-chart=histogram] line.marker"); n != 1 {
		t.Errorf("histogram has %d threshold markers, want 1", n)
	}
}

// TestIdentifyCelebrities is the 1:N acceptance check: the 5-celebrity
// val photos against the train photos, under the default profile: every
// probe right at rank 1; the unknown-person rate by
// leave-one-identity-out, since every val identity is in the gallery.
func TestIdentifyCelebrities(t *testing.T) {
	data := os.Getenv("FACEBATCH_DEMO_DATA")
	if data == "" {
		t.Fatal("FACEBATCH_DEMO_DATA is not set: run scripts/setup.sh and source .facebatch.env")
	}
	sum, page, err := Identify(context.Background(), IdentifyConfig{
		GalleryDir: filepath.Join(data, "train"), ProbesDir: filepath.Join(data, "val"),
		TargetFPIR: 0.01, Margins: []float64{0.02, 0.05, 0.1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.ProbeCount != 25 || sum.ProbeIdentities != 5 || sum.GalleryIdentities != 5 || sum.EnrolledProbes != 25 {
		t.Errorf("counts: %+v", sum)
	}
	if sum.Rank1 != 1 || sum.IdentifiedRate != 1 {
		t.Errorf("rank-1 %v, identified at the threshold %v; want 1 and 1", sum.Rank1, sum.IdentifiedRate)
	}
	if sum.UnknownMethod != MethodLeaveOneOut || sum.UnknownTrials != 25 || sum.UnknownFAR > 0.2 {
		t.Errorf("unknown people: %s, %d of %d accepted", sum.UnknownMethod, sum.UnknownAccepted, sum.UnknownTrials)
	}
	if sum.UnknownAccepted != len(sum.Confusions) {
		t.Errorf("%d unknown accepted but %d confusions", sum.UnknownAccepted, len(sum.Confusions))
	}
	for _, c := range sum.Confusions {
		if c.Without != c.Identity || c.IdentityDistance != nil {
			t.Errorf("confusion %+v: want one searched without its own identity", c)
		}
	}
	checkIdentifyPage(t, sum, page)

	// Enrolling each identity's mean folds its photos into one entry; the
	// photos without a face are still counted as photos, before the fold.
	mean, _, err := Identify(context.Background(), IdentifyConfig{
		GalleryDir: filepath.Join(data, "train"), ProbesDir: filepath.Join(data, "val"), EnrolMean: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if mean.GalleryNoFace != sum.GalleryNoFace || mean.GalleryPhotos != sum.GalleryPhotos {
		t.Errorf("--enrol-mean: %d of %d gallery photos without a face, want %d of %d as without it",
			mean.GalleryNoFace, mean.GalleryPhotos, sum.GalleryNoFace, sum.GalleryPhotos)
	}
}

// TestIdentifyErrors: the folders are read before the model is loaded, so
// these fail fast.
func TestIdentifyErrors(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name             string
		gallery, probes  string
		want             string
		wantGalleryEmpty bool
	}{
		{"missing gallery", filepath.Join(empty, "none"), seedCamera, "no such file", false},
		{"missing probes", seedGallery, filepath.Join(empty, "none"), "no such file", false},
		{"empty gallery", empty, seedCamera, "no photos", true},
		{"empty probes", seedGallery, empty, "no photos", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, page, err := Identify(context.Background(), IdentifyConfig{
				Model: ModelConfig{Dir: empty}, GalleryDir: tt.gallery, ProbesDir: tt.probes, TargetFPIR: 0.01})
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, gallery.ErrEmpty) != tt.wantGalleryEmpty || sum != nil || page != nil {
				t.Errorf("error %v, want one with %q", err, tt.want)
			}
		})
	}
}

func TestLimitProbes(t *testing.T) {
	photos := []gallery.Photo{{Identity: "ann", Path: "a1"}, {Identity: "ann", Path: "a2"}, {Identity: "ann", Path: "a3"}, {Identity: "bob", Path: "b1"}}
	tests := []struct {
		n    int
		want []string
	}{
		{0, []string{"a1", "a2", "a3", "b1"}},
		{-1, []string{"a1", "a2", "a3", "b1"}},
		{1, []string{"a1", "b1"}},
		{2, []string{"a1", "a2", "b1"}},
		{5, []string{"a1", "a2", "a3", "b1"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			if got := photoPaths(limitProbes(photos, tt.n)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("limitProbes(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

func TestMeanGallery(t *testing.T) {
	photo := func(id, path string, emb ...float32) galleryPhoto {
		return galleryPhoto{Photo: gallery.Photo{Identity: id, Path: path}, emb: emb}
	}
	tests := []struct {
		name    string
		gal     []galleryPhoto
		want    []galleryPhoto
		wantErr bool
	}{
		{
			name: "one mean per identity, shown as its first photo",
			gal:  []galleryPhoto{photo("ann", "a1", 1, 0), photo("ann", "a2", 0, 1), photo("bob", "b1", 0, 1)},
			want: []galleryPhoto{photo("ann", "a1", math.Sqrt2/2, math.Sqrt2/2), photo("bob", "b1", 0, 1)},
		},
		{
			name:    "opposite photos have no mean direction",
			gal:     []galleryPhoto{photo("ann", "a1", 1, 0), photo("ann", "a2", -1, 0)},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := tt.gal[0].emb[0]
			got, err := meanGallery(tt.gal)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want one: %v", err, tt.wantErr)
			}
			if tt.gal[0].emb[0] != first {
				t.Errorf("the input's encoding changed: %v", tt.gal[0].emb)
			}
			if tt.wantErr {
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d entries, want %d", len(got), len(tt.want))
			}
			for i, g := range got {
				if g.Photo != tt.want[i].Photo || matcher.Distance(g.emb, tt.want[i].emb) > 1e-6 {
					t.Errorf("entry %d: %v %v, want %v %v", i, g.Photo, g.emb, tt.want[i].Photo, tt.want[i].emb)
				}
			}
		})
	}
}

func TestBuildGallery(t *testing.T) {
	gal := []galleryPhoto{
		{Photo: gallery.Photo{Identity: "ann", Path: "a1"}, emb: []float32{1, 0}},
		{Photo: gallery.Photo{Identity: "bob", Path: "b1"}, emb: []float32{0, 1}},
	}
	g, err := buildGallery(gal, 0.7, "ann")
	if err != nil || !reflect.DeepEqual(g.Identities(), []string{"bob"}) {
		t.Errorf("without ann: %v (%v), want bob alone", g, err)
	}
	if _, err := buildGallery(gal[:1], 0.7, "ann"); !errors.Is(err, matcher.ErrEmptyGallery) {
		t.Errorf("without its only identity: %v, want matcher.ErrEmptyGallery", err)
	}
}
