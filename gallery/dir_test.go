package gallery_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/facebatch/facebatch/gallery"
)

func TestScanDir(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{
		"younes.jpg", "danielle.PNG", "notes.txt", ".hidden.jpg",
		"kian/a.jpg", "kian/b.jpeg", "kian/readme.md", "kian/.DS_Store",
		".git/x.jpg",
	} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := gallery.ScanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []gallery.Photo{
		{"danielle", filepath.Join(dir, "danielle.PNG")},
		{"kian", filepath.Join(dir, "kian/a.jpg")},
		{"kian", filepath.Join(dir, "kian/b.jpeg")},
		{"younes", filepath.Join(dir, "younes.jpg")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ScanDir:\n got %v\nwant %v", got, want)
	}
}

func TestScanDirErrors(t *testing.T) {
	if _, err := gallery.ScanDir(t.TempDir()); !errors.Is(err, gallery.ErrEmpty) {
		t.Errorf("empty folder: %v, want ErrEmpty", err)
	}
	if _, err := gallery.ScanDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing folder: no error")
	}
}
