package accuracy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/facebatch/facebatch/internal/browser"
	"github.com/facebatch/facebatch/report/html"
)

// The shared data sets (see ../../shared/GUIDE.md).
const (
	seed      = "../../shared/seed"
	lfwPairs  = "../../shared/lfw-dev/pairs.txt"
	lfwImages = "../../shared/lfw-dev/images"
)

var (
	seedGallery = filepath.Join(seed, "gallery")
	seedCamera  = filepath.Join(seed, "camera")
)

// render writes page as report.html in a temporary folder, loads it in
// headless Chromium and fails the test unless every image on it loaded
// (and, with wantImages, there is at least one). Without Chromium the test
// fails.
func render(t *testing.T, page *html.Page, wantImages bool) *browser.Page {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	if err := html.WriteFile(path, page); err != nil {
		t.Fatal(err)
	}
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
		t.Errorf("%d of %d images loaded; broken: %q", imgs.Loaded, imgs.Total, imgs.Broken)
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

// link makes name a symbolic link to target, creating name's folder.
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
