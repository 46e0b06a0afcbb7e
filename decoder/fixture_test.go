package decoder_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/facebatch/facebatch/decoder"
)

// testdata is the top-level folder of shared fixtures (testdata/README.md).
const testdata = "../testdata"

// The shared photos decode as a viewer shows them: the sideways group photo
// upright at the size its truth records, the grayscale PNG as RGB, and the
// truncated copy as corrupt rather than as a half-grey photo.
func TestSharedPhotos(t *testing.T) {
	var group struct{ Width, Height, Orientation int }
	data, err := os.ReadFile(filepath.Join(testdata, "group.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &group); err != nil {
		t.Fatal(err)
	}
	d, err := decoder.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, tc := range []struct {
		name          string
		width, height int
		format        string
		err           error
	}{
		{"photos/group.jpg", group.Width, group.Height, "jpeg", nil},
		{"photos/cameraman.png", 512, 512, "png", nil},
		{"photos/truncated.jpg", 0, 0, "jpeg", decoder.ErrCorrupt},
		{"gallery/grace_hopper/portrait.jpg", 512, 600, "jpeg", nil},
		{"gallery/eileen_collins/portrait.jpg", 512, 512, "jpeg", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(testdata, tc.name))
			if err != nil {
				t.Fatal(err)
			}
			if o := decoder.Orientation(data); tc.name == "photos/group.jpg" && o != group.Orientation {
				t.Errorf("orientation %d, want %d", o, group.Orientation)
			}
			img, format, err := d.Decode(data)
			if format != tc.format {
				t.Errorf("format %q, want %q", format, tc.format)
			}
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Decode: %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if b := img.Bounds(); b.Dx() != tc.width || b.Dy() != tc.height {
				t.Errorf("decoded %dx%d, want %dx%d upright", b.Dx(), b.Dy(), tc.width, tc.height)
			}
		})
	}
}
