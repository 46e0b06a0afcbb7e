package report

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"testing"
)

// testdata is the top-level folder of shared fixtures (testdata/README.md).
const testdata = "../testdata"

// The report over the committed tables of testdata/ (a real identify run:
// a group photo of the two gallery people, a stranger, a truncated JPEG)
// counts what the run did. The photos are named by the absolute paths the
// tables were made at, so in another checkout the thumbnails are missing;
// the counts must not depend on them.
func TestBuildSharedTables(t *testing.T) {
	page, s, err := Build(context.Background(), Options{
		Results: filepath.Join(testdata, "tables", "results"),
		Gallery: filepath.Join(testdata, "tables", "gallery"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if page == nil || len(page.Sections) == 0 {
		t.Fatal("no report sections")
	}
	if s.Images != 3 || s.Faces != 3 || s.Matched != 2 || s.Unknown != 1 {
		t.Errorf("images %d faces %d matched %d unknown %d, want 3 3 2 1", s.Images, s.Faces, s.Matched, s.Unknown)
	}
	if want := map[string]int{"ok": 2, "decode_error": 1}; !maps.Equal(s.ByStatus, want) {
		t.Errorf("by status %v, want %v", s.ByStatus, want)
	}
	if want := map[string]int{"grace_hopper": 1, "eileen_collins": 1}; !maps.Equal(s.Identities, want) {
		t.Errorf("identities %v, want %v", s.Identities, want)
	}
	if !s.Clustered || len(s.ModelIDs) != 1 || len(s.GalleryVersions) != 1 || !slices.Equal(s.Thresholds, []float64{1.06}) {
		t.Errorf("clustered %v models %v galleries %v thresholds %v", s.Clustered, s.ModelIDs, s.GalleryVersions, s.Thresholds)
	}
}
