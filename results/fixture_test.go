package results_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

// testdata is the top-level folder of shared fixtures (testdata/README.md).
const testdata = "../testdata"

// The committed results table, written by `facebatch identify` over
// testdata/photos, still reads with today's schema, accounts for every
// photo, and says on every row which model, gallery and threshold made it.
// A change to results.Row that breaks reading tables already written fails
// here.
func TestSharedResultsTable(t *testing.T) {
	ctx := context.Background()
	rows, err := tables.ReadAll[results.Row](ctx, filepath.Join(testdata, "tables", "results"))
	if err != nil {
		t.Fatal(err)
	}
	gal, err := tables.ReadAll[gallery.Row](ctx, filepath.Join(testdata, "tables", "gallery"))
	if err != nil {
		t.Fatal(err)
	}
	if len(gal) != 2 {
		t.Fatalf("gallery table has %d rows, want the 2 portraits", len(gal))
	}
	photos, err := os.ReadDir(filepath.Join(testdata, "photos"))
	if err != nil {
		t.Fatal(err)
	}
	// The table holds the absolute paths it was made at; rows are matched
	// to photos by name.
	got := map[string][]string{} // photo name -> status or identity of each row
	for _, r := range rows {
		if r.ModelID != gal[0].ModelID || r.GalleryVersion == "" || r.Threshold <= 0 || r.ThresholdSource == "" {
			t.Errorf("%s: provenance model %q gallery %q threshold %v (%q)", r.ImageURI, r.ModelID, r.GalleryVersion, r.Threshold, r.ThresholdSource)
		}
		what := r.Status
		if r.Identity != nil {
			what = *r.Identity
		} else if r.Status == results.StatusOK {
			what = "unknown"
		}
		name := filepath.Base(r.ImageURI)
		got[name] = append(got[name], what)
	}
	want := map[string][]string{
		"group.jpg":     {"grace_hopper", "eileen_collins"},
		"cameraman.png": {"unknown"},
		"truncated.jpg": {results.StatusDecodeError},
	}
	for _, p := range photos {
		if _, ok := want[p.Name()]; !ok {
			t.Errorf("photo %s has no expectation here", p.Name())
		}
	}
	for name, w := range want {
		if !sameSet(got[name], w) {
			t.Errorf("%s: rows %v, want %v", name, got[name], w)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[string]int{}
	for _, s := range a {
		n[s]++
	}
	for _, s := range b {
		n[s]--
	}
	for _, v := range n {
		if v != 0 {
			return false
		}
	}
	return true
}
