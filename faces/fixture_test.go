package faces_test

import (
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/facebatch/facebatch/groupphoto"
)

// testdata is the top-level folder of shared fixtures (testdata/README.md).
const testdata = "../testdata"

// MTCNN finds both faces of the shared group photo (stored sideways, faces
// 150 and 120 px wide in 1200x800) where they were pasted, in upright
// pixels, and nothing else.
func TestSharedGroupPhoto(t *testing.T) {
	var truth struct {
		Width, Height int
		Faces         []groupphoto.Placed
	}
	data, err := os.ReadFile(filepath.Join(testdata, "group.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &truth); err != nil {
		t.Fatal(err)
	}
	photo, err := newFinder(t, "mtcnn").Find(readFile(t, filepath.Join(testdata, "photos", "group.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	if photo.Width != truth.Width || photo.Height != truth.Height {
		t.Errorf("photo %dx%d, want %dx%d upright", photo.Width, photo.Height, truth.Width, truth.Height)
	}
	found := make([]image.Rectangle, len(photo.Faces))
	for i, f := range photo.Faces {
		found[i] = f.Box
	}
	for i, ok := range groupphoto.Recall(truth.Faces, found, 0.5) {
		if !ok {
			t.Errorf("%s at %v not found; found %v", truth.Faces[i].Identity, truth.Faces[i].Box, found)
		}
	}
	if len(found) != len(truth.Faces) {
		t.Errorf("found %d faces, want %d: %v", len(found), len(truth.Faces), found)
	}
}
