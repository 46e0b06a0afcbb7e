package promote_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/promote"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

func TestParseDecisions(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want []promote.Decision
		bad  bool
	}{
		{"header", "cluster_id,identity\n3,Ann\n 7, Bob Smith\n", []promote.Decision{{3, "Ann"}, {7, "Bob Smith"}}, false},
		{"no header", "1,Ann\n", []promote.Decision{{1, "Ann"}}, false},
		{"quoted", "2,\"Smith, Bob\"\n", []promote.Decision{{2, "Smith, Bob"}}, false},
		{"empty", "", nil, true},
		{"header only", "cluster_id,identity\n", nil, true},
		{"not a number", "x,Ann\n", nil, true},
		{"zero", "0,Ann\n", nil, true},
		{"three fields", "1,Ann,extra\n", nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := promote.ParseDecisions(strings.NewReader(tt.in))
			if tt.bad {
				if !errors.Is(err, promote.ErrDecisions) {
					t.Errorf("err %v, want ErrDecisions", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestCheckIdentity(t *testing.T) {
	for name, ok := range map[string]bool{
		"Ann": true, "Bob Smith": true, "Zoë": true, "O'Neil": true,
		"": false, " Ann": false, ".hidden": false, "a/b": false, `a\b`: false, "a\nb": false, "..": false,
	} {
		if err := promote.CheckIdentity(name); (err == nil) != ok {
			t.Errorf("CheckIdentity(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

// photo writes a 200x120 JPEG to path, its colours shifted by tint, and
// returns its sha256.
func photo(t *testing.T, path string, tint uint8) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 200, 120))
	for y := range 120 {
		for x := range 200 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y * 2), uint8(x+y) + tint, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:])
}

func ptr[T any](v T) *T { return &v }

func face(uri, sha string, index int32, cluster int64) results.Row {
	return results.Row{
		ImageURI: uri, ImageSHA256: ptr(sha), FaceIndex: ptr(index),
		BoxX: ptr(int32(20 + 60*index)), BoxY: ptr(int32(30)), BoxW: ptr(int32(40)), BoxH: ptr(int32(50)),
		Status: results.StatusOK, ClusterID: ptr(cluster),
	}
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := filepath.Join(dir, "a.jpg")
	b := filepath.Join(dir, "b.jpg")
	shaA, shaB := photo(t, a, 0), photo(t, b, 100)
	rows := []results.Row{
		face(a, shaA, 0, 1), face(a, shaA, 1, 1), face(b, shaB, 0, 1),
		face(filepath.Join(dir, "gone.jpg"), shaA, 0, 1), // deleted since identify
		face(b, "0000", 1, 2),                            // the photo changed since identify
		{ImageURI: b, FaceIndex: ptr(int32(2)), Status: results.StatusOK, Identity: ptr("Cy")}, // matched: never promoted
	}
	resultsDir := filepath.Join(dir, "results")
	if err := tables.Write(ctx, filepath.Join(resultsDir, tables.PartName(0, 1)), rows); err != nil {
		t.Fatal(err)
	}
	if err := tables.WriteJSON(ctx, filepath.Join(resultsDir, tables.MarkerFile), tables.Marker{}); err != nil {
		t.Fatal(err)
	}
	photos := filepath.Join(dir, "gallery-photos")

	t.Run("folder", func(t *testing.T) {
		cfg := promote.Config{Results: resultsDir, GalleryInput: photos}
		got, err := promote.Run(ctx, cfg, []promote.Decision{{ClusterID: 1, Identity: "Ann"}, {ClusterID: 2, Identity: "Bob"}})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			filepath.Join(photos, "Ann", "promoted-"+shaA[:16]+"-0.jpg"),
			filepath.Join(photos, "Ann", "promoted-"+shaA[:16]+"-1.jpg"),
			filepath.Join(photos, "Ann", "promoted-"+shaB[:16]+"-0.jpg"),
		}
		if len(got) != 2 || !slices.Equal(got[0].Files, want) || len(got[0].Skipped) != 1 || !strings.Contains(got[0].Skipped[0], "gone.jpg") {
			t.Fatalf("Ann: %+v, want files %v and gone.jpg skipped", got, want)
		}
		if len(got[1].Files) != 0 || len(got[1].Skipped) != 1 || !strings.Contains(got[1].Skipped[0], "changed") {
			t.Errorf("Bob: %+v, want the changed photo skipped", got[1])
		}
		// A crop is the box doubled: 50x50 box side → 100x100.
		data, err := os.ReadFile(want[0])
		if err != nil {
			t.Fatal(err)
		}
		cfgImg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfgImg.Width != 100 || cfgImg.Height != 100 {
			t.Errorf("crop is %dx%d (%v), want 100x100", cfgImg.Width, cfgImg.Height, err)
		}
		// Again: the same files, the same bytes.
		if _, err := promote.Run(ctx, cfg, []promote.Decision{{ClusterID: 1, Identity: "Ann"}}); err != nil {
			t.Fatal(err)
		}
		again, _ := os.ReadFile(want[0])
		listed, _ := files.List(ctx, photos)
		if !bytes.Equal(again, data) || len(listed) != 3 {
			t.Errorf("a second promotion changed the crops or their number (%d files)", len(listed))
		}
	})

	t.Run("csv", func(t *testing.T) {
		src := filepath.Join(dir, "gallery.csv")
		if err := os.WriteFile(src, []byte("identity,uri\nCy,/photos/cy.jpg"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := promote.Config{Results: resultsDir, GalleryInput: src}
		for range 2 {
			if _, err := promote.Run(ctx, cfg, []promote.Decision{{ClusterID: 1, Identity: "Ann"}}); err != nil {
				t.Fatal(err)
			}
		}
		data, _ := os.ReadFile(src)
		crops := filepath.Join(dir, "gallery-promoted", "Ann")
		want := "identity,uri\nCy,/photos/cy.jpg\n" +
			"Ann," + filepath.Join(crops, "promoted-"+shaA[:16]+"-0.jpg") + "\n" +
			"Ann," + filepath.Join(crops, "promoted-"+shaA[:16]+"-1.jpg") + "\n" +
			"Ann," + filepath.Join(crops, "promoted-"+shaB[:16]+"-0.jpg") + "\n"
		if string(data) != want {
			t.Errorf("CSV after promoting twice:\n%s\nwant\n%s", data, want)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		cfg := promote.Config{Results: resultsDir, GalleryInput: filepath.Join(dir, "untouched")}
		if _, err := promote.Run(ctx, cfg, []promote.Decision{{ClusterID: 1, Identity: "Ann"}, {ClusterID: 9, Identity: "Dee"}}); !errors.Is(err, promote.ErrNoCluster) {
			t.Errorf("unknown cluster: err %v, want ErrNoCluster", err)
		}
		if _, err := promote.Run(ctx, cfg, []promote.Decision{{ClusterID: 1, Identity: "../x"}}); !errors.Is(err, promote.ErrIdentity) {
			t.Errorf("bad identity: err %v, want ErrIdentity", err)
		}
		if _, err := promote.Run(ctx, promote.Config{Results: filepath.Join(dir, "nope"), GalleryInput: cfg.GalleryInput}, []promote.Decision{{ClusterID: 1, Identity: "Ann"}}); !errors.Is(err, tables.ErrIncomplete) {
			t.Errorf("missing results: err %v, want ErrIncomplete", err)
		}
		if _, err := os.Stat(cfg.GalleryInput); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused promotion wrote to the gallery input (%v)", err)
		}
	})
}

// TestRunLargeTable promotes one cluster of a table of more rows than a
// scan's batch and a part's row group, in two parts: only that cluster's
// faces, wherever they are in the table, are cropped.
func TestRunLargeTable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, d, e := filepath.Join(dir, "c.jpg"), filepath.Join(dir, "d.jpg"), filepath.Join(dir, "e.jpg")
	shaC, shaD, shaE := photo(t, c, 10), photo(t, d, 20), photo(t, e, 30)
	withMatch := func(r results.Row) results.Row {
		r.Embedding = make([]float32, 128)
		r.Candidates = []results.Candidate{{Identity: "Cy", Distance: 0.9}, {Identity: "Di", Distance: 1.1}}
		return r
	}
	faces := map[int][]results.Row{
		100:    {withMatch(face(e, shaE, 0, 3))},
		5_000:  {withMatch(face(c, shaC, 1, 2)), withMatch(face(c, shaC, 0, 2))},
		12_345: {withMatch(face(e, shaE, 1, 1))},
		20_000: {withMatch(face(d, shaD, 0, 2))},
	}
	const images = 25_000
	resultsDir := filepath.Join(dir, "results")
	var w *tables.Writer[results.Row]
	for i := range images {
		if i%(images/2) == 0 {
			if w != nil {
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			if w, err = tables.Create[results.Row](ctx, filepath.Join(resultsDir, tables.PartName(i/(images/2), 2))); err != nil {
				t.Fatal(err)
			}
		}
		rows := faces[i]
		if rows == nil {
			rows = []results.Row{{ImageURI: filepath.Join(dir, fmt.Sprintf("img-%05d.jpg", i)), Status: results.StatusNoFace}}
		}
		if err := w.Write(rows...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tables.WriteJSON(ctx, filepath.Join(resultsDir, tables.MarkerFile), tables.Marker{}); err != nil {
		t.Fatal(err)
	}
	photos := filepath.Join(dir, "gallery-photos")
	got, err := promote.Run(ctx, promote.Config{Results: resultsDir, GalleryInput: photos}, []promote.Decision{{ClusterID: 2, Identity: "Bo"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(photos, "Bo", "promoted-"+shaC[:16]+"-0.jpg"),
		filepath.Join(photos, "Bo", "promoted-"+shaC[:16]+"-1.jpg"),
		filepath.Join(photos, "Bo", "promoted-"+shaD[:16]+"-0.jpg"),
	}
	if len(got) != 1 || !slices.Equal(got[0].Files, want) || len(got[0].Skipped) != 0 {
		t.Fatalf("promoted %+v, want files %v", got, want)
	}
	if listed, err := files.List(ctx, photos); err != nil || !slices.Equal(listed, slices.Sorted(slices.Values(want))) {
		t.Errorf("gallery input holds %v (%v), want only %v", listed, err, want)
	}
}
