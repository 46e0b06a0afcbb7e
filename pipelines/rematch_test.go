package pipelines_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/facebatch/facebatch/pipelines"
	"github.com/facebatch/facebatch/tables"
	"github.com/facebatch/facebatch/transforms"
)

func runRematch(t *testing.T, c pipelines.RematchConfig) *tables.Marker {
	t.Helper()
	if err := c.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	run(t, func(s beam.Scope) { pipelines.Rematch(s, c) })
	m, err := tables.ReadMarker(context.Background(), c.Output)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRematch is the nightly loop on a small real run: identify against a
// gallery without younes, then the gallery gains younes and loses
// bertrand, and rematch labels yesterday's table again from its
// embeddings: the same answers as identify on the new gallery, without
// reading a photo.
func TestRematch(t *testing.T) {
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1")
	runGallery(t, pipelines.GalleryConfig{Common: notebook(), Input: copyFiles(t, filepath.Join(dir, "g1"), seedFiles(t, "gallery", "younes.jpg")...), Output: v1})
	v2 := filepath.Join(dir, "v2")
	gm2 := runGallery(t, pipelines.GalleryConfig{Common: notebook(), Input: copyFiles(t, filepath.Join(dir, "g2"), seedFiles(t, "gallery", "bertrand.jpg")...), Output: v2})

	photos := copyFiles(t, filepath.Join(dir, "photos"), seedFiles(t, "camera")...)
	if err := os.WriteFile(filepath.Join(photos, "notes.jpg"), []byte("not a photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	yesterday := filepath.Join(dir, "yesterday")
	common := notebook()
	common.RunID = "yesterday"
	runIdentify(t, pipelines.IdentifyConfig{Common: common, Inputs: []string{photos}, Gallery: v1, Output: yesterday, WithEmbeddings: true})
	before := byFile(readResults(t, yesterday))
	if r := before["camera_0.jpg"]; r.identity.String == "younes" {
		t.Fatalf("camera_0 named younes by a gallery without him")
	}
	if r := before["camera_1.jpg"]; r.identity.String != "bertrand" {
		t.Fatalf("camera_1 named %v yesterday, want bertrand", r.identity)
	}

	// What identify would say today, photo by photo, against v2.
	fresh := filepath.Join(dir, "fresh")
	runIdentify(t, pipelines.IdentifyConfig{Common: notebook(), Inputs: []string{photos}, Gallery: v2, Output: fresh})
	want := byFile(readResults(t, fresh))

	today := filepath.Join(dir, "today")
	marker := runRematch(t, pipelines.RematchConfig{Results: yesterday, Gallery: v2, Output: today, RunID: "today"})
	got := byFile(readResults(t, today))
	if marker.Images != 7 || marker.Faces != 6 || len(got) != 7 {
		t.Fatalf("rematch: %d images, %d faces, %d rows; want 7, 6, 7", marker.Images, marker.Faces, len(got))
	}
	if r := got["camera_0.jpg"]; r.identity.String != "younes" || !r.accepted {
		t.Errorf("camera_0: %v (accepted %v), want younes now the gallery has him", r.identity, r.accepted)
	}
	for _, f := range []string{"camera_1.jpg", "camera_3.jpg"} {
		if r := got[f]; r.identity.String == "bertrand" {
			t.Errorf("%s still bertrand, who left the gallery", f)
		}
	}
	for file, w := range want {
		g := got[file]
		if g.status != w.status || g.identity != w.identity || g.accepted != w.accepted ||
			math.Abs(g.distance.Float64-w.distance.Float64) > 1e-5 || len(g.candidates) != len(w.candidates) {
			t.Errorf("%s: rematch %s %v %.5f %v, identify %s %v %.5f %v", file, g.status, g.identity, g.distance.Float64, g.accepted,
				w.status, w.identity, w.distance.Float64, w.accepted)
		}
		if g.galleryVersion != gm2.Version || g.runID != "today" || g.sourceRunID.String != "yesterday" || g.thresholdSource != "profile" {
			t.Errorf("%s: provenance run %s from %v, gallery %s, threshold %s", file, g.runID, g.sourceRunID, g.galleryVersion, g.thresholdSource)
		}
		if g.status == "ok" && g.embeddingLen != 128 {
			t.Errorf("%s: %d embedding values kept, want 128 for the next rematch", file, g.embeddingLen)
		}
	}
}

// TestRematchWithoutEmbeddings: a table written without embeddings keeps
// its rows, each face saying why it was not labelled again.
func TestRematchWithoutEmbeddings(t *testing.T) {
	dir := t.TempDir()
	gal := filepath.Join(dir, "gallery")
	runGallery(t, pipelines.GalleryConfig{Common: notebook(), Input: filepath.Join(seed, "gallery"), Output: gal})
	photos := copyFiles(t, filepath.Join(dir, "photos"), filepath.Join(seed, "camera", "camera_0.jpg"), filepath.Join(seed, "camera", "camera_1.jpg"))
	plain := filepath.Join(dir, "plain")
	runIdentify(t, pipelines.IdentifyConfig{Common: notebook(), Inputs: []string{photos}, Gallery: gal, Output: plain})
	out := filepath.Join(dir, "out")
	marker := runRematch(t, pipelines.RematchConfig{Results: plain, Gallery: gal, Output: out})
	rows := readResults(t, out)
	if len(rows) != 2 || marker.Matched != 0 || marker.Unknown != 0 {
		t.Fatalf("%d rows, %d matched, %d unknown; want 2, 0, 0", len(rows), marker.Matched, marker.Unknown)
	}
	for _, r := range rows {
		if r.status != "ok" || r.identity.Valid || r.accepted || !strings.HasPrefix(r.err.String, "not rematched") {
			t.Errorf("%s: %s %v %v error %q, want ok, unlabelled, and why", r.uri, r.status, r.identity, r.accepted, r.err.String)
		}
	}
	if !strings.HasPrefix(transforms.NotRematched, "not rematched") {
		t.Fatal(transforms.NotRematched)
	}
}

// TestRematchRefusesOtherProfile: embeddings of another profile are not
// comparable; rematch says so before any work.
func TestRematchRefusesOtherProfile(t *testing.T) {
	dir := t.TempDir()
	notebookGallery := filepath.Join(dir, "notebook")
	runGallery(t, pipelines.GalleryConfig{Common: notebook(), Input: filepath.Join(seed, "gallery"), Output: notebookGallery})
	standardGallery := filepath.Join(dir, "standardized")
	runGallery(t, pipelines.GalleryConfig{Common: standardized(), Input: filepath.Join(seed, "gallery"), Output: standardGallery})
	photos := copyFiles(t, filepath.Join(dir, "photos"), filepath.Join(seed, "camera", "camera_0.jpg"))
	res := filepath.Join(dir, "res")
	runIdentify(t, pipelines.IdentifyConfig{Common: notebook(), Inputs: []string{photos}, Gallery: notebookGallery, Output: res, WithEmbeddings: true})
	for _, tt := range []struct {
		name string
		c    pipelines.RematchConfig
		want error
		msg  string
	}{
		{"other profile", pipelines.RematchConfig{Results: res, Gallery: standardGallery, Output: filepath.Join(dir, "o1")}, pipelines.ErrModelMismatch, "profile"},
		{"output is the input", pipelines.RematchConfig{Results: res, Gallery: notebookGallery, Output: res}, pipelines.ErrConfig, "must differ"},
		{"no table", pipelines.RematchConfig{Results: filepath.Join(dir, "none"), Gallery: notebookGallery, Output: filepath.Join(dir, "o2")}, pipelines.ErrConfig, "--results"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Prepare(context.Background())
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Prepare: %v, want %v mentioning %q", err, tt.want, tt.msg)
			}
		})
	}
}

func byFile(rows []resultRow) map[string]resultRow {
	out := map[string]resultRow{}
	for _, r := range rows {
		out[filepath.Base(r.uri)] = r
	}
	return out
}
