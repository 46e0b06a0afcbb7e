package lookup_test

import (
	"context"
	"errors"
	"image"
	"image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/lookup"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/models"
)

const seed = "../../shared/seed"

var (
	seedGallery = filepath.Join(seed, "gallery")
	seedCamera  = filepath.Join(seed, "camera")
)

var (
	notebook = lookup.Config{Profile: "notebook"}
	// aligned is the manifest's default profile, left for Open to choose.
	aligned = lookup.Config{}
)

// sessions keeps one Session per Config: loading the model takes seconds,
// and the tests ask the same few over and over.
var sessions = map[lookup.Config]*lookup.Session{}

func open(t *testing.T, c lookup.Config) *lookup.Session {
	t.Helper()
	if s, ok := sessions[c]; ok {
		return s
	}
	s, err := lookup.Open(c)
	if err != nil {
		t.Fatalf("Open(%+v): %v", c, err)
	}
	sessions[c] = s
	return s
}

// galleries keeps each encoded gallery, by Config and folder.
var galleries = map[struct {
	c   lookup.Config
	dir string
}]*matcher.Gallery{}

func openGallery(t *testing.T, c lookup.Config, dir string) (*lookup.Session, *matcher.Gallery) {
	t.Helper()
	s := open(t, c)
	key := struct {
		c   lookup.Config
		dir string
	}{c, dir}
	if g, ok := galleries[key]; ok {
		return s, g
	}
	g, err := s.Gallery(context.Background(), dir)
	if err != nil {
		t.Fatalf("Gallery(%s) with %+v: %v", dir, c, err)
	}
	galleries[key] = g
	return s, g
}

// subset is a gallery folder holding only the named seed photos.
func subset(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(seedGallery, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestGallery(t *testing.T) {
	manifest, err := models.Load(os.Getenv(models.EnvModel))
	if err != nil {
		t.Fatal(err)
	}
	def, err := manifest.Profile("")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"andrew", "arnaud", "benoit", "bertrand", "dan", "danielle", "felix", "kevin", "kian", "sebastiano", "tian", "younes"}
	tests := []struct {
		name      string
		config    lookup.Config
		threshold float64
	}{
		{"notebook profile's threshold", notebook, 0.7},
		{"threshold given", lookup.Config{Profile: "notebook", Threshold: 1.1}, 1.1},
		{"default profile's threshold", aligned, def.Threshold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, g := openGallery(t, tt.config, seedGallery)
			if got := g.Identities(); !slices.Equal(got, want) || g.Len() != len(want) {
				t.Errorf("identities %v (%d encodings), want %v, one each", got, g.Len(), want)
			}
			if g.Threshold() != tt.threshold {
				t.Errorf("threshold %v, want %v", g.Threshold(), tt.threshold)
			}
		})
	}
}

// TestVerify checks the notebook's verify answers (the distances of these
// weights, see cmd/facebatch's TestVerifyAcceptance) and what a threshold
// changes.
func TestVerify(t *testing.T) {
	tests := []struct {
		name      string
		config    lookup.Config
		photo     string
		identity  string
		distance  float64
		accepted  bool
		threshold float64
	}{
		{"same person", notebook, filepath.Join(seedCamera, "camera_0.jpg"), "younes", 0.60198, true, 0.7},
		{"someone else", notebook, filepath.Join(seedCamera, "camera_2.jpg"), "kian", 1.01301, false, 0.7},
		{"the gallery's own photo", notebook, filepath.Join(seedGallery, "andrew.jpg"), "andrew", 0, true, 0.7},
		{"looser threshold", lookup.Config{Profile: "notebook", Threshold: 1.1}, filepath.Join(seedCamera, "camera_2.jpg"), "kian", 1.01301, true, 1.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, g := openGallery(t, tt.config, seedGallery)
			res, err := s.Verify(context.Background(), g, tt.photo, tt.identity)
			if err != nil {
				t.Fatal(err)
			}
			if res.Image != tt.photo || res.Identity != tt.identity || math.Abs(res.Distance-tt.distance) > 1e-4 ||
				res.Accepted != tt.accepted || res.Threshold != tt.threshold {
				t.Errorf("%+v; want %s at %.5f, accepted %v under %v", res, tt.identity, tt.distance, tt.accepted, tt.threshold)
			}
			if !strings.HasPrefix(res.ModelID, "facenet-keras-") || res.Profile != "notebook" {
				t.Errorf("model %q, profile %q; want facenet-keras-*, notebook", res.ModelID, res.Profile)
			}
		})
	}
}

func TestWho(t *testing.T) {
	strangers := subset(t, "andrew.jpg", "kevin.jpg", "felix.jpg")
	alone := subset(t, "younes.jpg")
	tests := []struct {
		name    string
		config  lookup.Config
		gallery string
		photo   string
		top     int
		// identity is "" when the answer is "not in the database".
		identity string
		// candidates are the identities listed, in any order; nil when
		// only their number is known.
		candidates []string
		margin     bool
		profile    string
	}{
		{"notebook", notebook, seedGallery, "camera_0.jpg", 3, "younes", nil, true, "notebook"},
		// These weights with the notebook preprocessing take dan for
		// sebastiano, by a small margin.
		{"near miss", notebook, seedGallery, "camera_4.jpg", 2, "sebastiano", []string{"dan", "sebastiano"}, true, "notebook"},
		{"default profile", aligned, seedGallery, "camera_4.jpg", 1, "dan", []string{"dan"}, true, "aligned"},
		{"not in the database", notebook, strangers, "camera_0.jpg", 5, "", []string{"andrew", "felix", "kevin"}, true, "notebook"},
		{"single identity", notebook, alone, "camera_0.jpg", 3, "younes", []string{"younes"}, false, "notebook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, g := openGallery(t, tt.config, tt.gallery)
			photo := filepath.Join(seedCamera, tt.photo)
			res, err := s.Who(context.Background(), g, photo, tt.top)
			if err != nil {
				t.Fatal(err)
			}
			if tt.identity == "" {
				if res.Identity != nil || res.Accepted || !(res.Distance >= res.Threshold) {
					t.Errorf("%+v; want not in the database", res)
				}
			} else if res.Identity == nil || *res.Identity != tt.identity || res.Nearest != tt.identity || !res.Accepted || !(res.Distance < res.Threshold) {
				t.Errorf("%+v; want %s", res, tt.identity)
			}
			var names []string
			for i, c := range res.Candidates {
				names = append(names, c.Identity)
				if i > 0 && c.Distance < res.Candidates[i-1].Distance {
					t.Errorf("candidates out of order: %+v", res.Candidates)
				}
			}
			if len(names) != min(tt.top, g.Len()) || (tt.candidates != nil && !slices.Equal(slices.Sorted(slices.Values(names)), tt.candidates)) {
				t.Fatalf("candidates %v, want %d of them: %v", names, min(tt.top, g.Len()), tt.candidates)
			}
			if names[0] != res.Nearest || res.Candidates[0].Distance != res.Distance {
				t.Errorf("first candidate %+v, nearest %s at %v", res.Candidates[0], res.Nearest, res.Distance)
			}
			if (res.Margin != nil) != tt.margin {
				t.Errorf("margin %v, want one: %v", res.Margin, tt.margin)
			} else if tt.margin && len(res.Candidates) > 1 && math.Abs(*res.Margin-(res.Candidates[1].Distance-res.Distance)) > 1e-9 {
				t.Errorf("margin %v, candidates %+v", *res.Margin, res.Candidates)
			}
			if res.Image != photo || res.Profile != tt.profile || res.Threshold != g.Threshold() {
				t.Errorf("image %s, profile %s, threshold %v; want %s, %s, %v", res.Image, res.Profile, res.Threshold, photo, tt.profile, g.Threshold())
			}
		})
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	camera0 := filepath.Join(seedCamera, "camera_0.jpg")
	notImage := filepath.Join(t.TempDir(), "notes.jpg")
	if err := os.WriteFile(notImage, []byte("not a photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	blank := filepath.Join(t.TempDir(), "wall.png")
	writeGrey(t, blank)
	tests := []struct {
		name string
		run  func(t *testing.T) error
		want error
		// text is what the error says, for errors without a sentinel.
		text string
	}{
		{"unknown profile", func(t *testing.T) error {
			_, err := lookup.Open(lookup.Config{Profile: "magic"})
			return err
		}, nil, `no profile "magic"`},
		{"no model", func(t *testing.T) error {
			_, err := lookup.Open(lookup.Config{Model: t.TempDir()})
			return err
		}, models.ErrManifest, ""},
		{"missing gallery", func(t *testing.T) error {
			_, err := open(t, notebook).Gallery(ctx, filepath.Join(t.TempDir(), "none"))
			return err
		}, fs.ErrNotExist, ""},
		{"empty gallery", func(t *testing.T) error {
			_, err := open(t, notebook).Gallery(ctx, t.TempDir())
			return err
		}, gallery.ErrEmpty, ""},
		{"threshold out of range", func(t *testing.T) error {
			_, err := lookup.Open(lookup.Config{Profile: "notebook", Threshold: 2.5})
			return err
		}, matcher.ErrInvalid, ""},
		{"unknown identity", func(t *testing.T) error {
			s, g := openGallery(t, notebook, seedGallery)
			_, err := s.Verify(ctx, g, camera0, "nobody")
			return err
		}, matcher.ErrUnknownIdentity, ""},
		{"missing photo", func(t *testing.T) error {
			s, g := openGallery(t, notebook, seedGallery)
			_, err := s.Who(ctx, g, "nope.jpg", 3)
			return err
		}, fs.ErrNotExist, ""},
		{"not an image", func(t *testing.T) error {
			s, g := openGallery(t, notebook, seedGallery)
			_, err := s.Who(ctx, g, notImage, 3)
			return err
		}, decoder.ErrFormat, notImage},
		{"no face", func(t *testing.T) error {
			s, g := openGallery(t, aligned, seedGallery)
			_, err := s.Verify(ctx, g, blank, "younes")
			return err
		}, lookup.ErrNoFace, blank},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(t)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %q, want %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
		})
	}
}

// writeGrey writes a photo of a plain wall, where no detector should find
// a face.
func writeGrey(t *testing.T, path string) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 320, 240))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}
