package accuracy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/facebatch/facebatch/internal/browser"
	"github.com/facebatch/facebatch/internal/browser/browsertest"
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

// render writes page as report.html in a temporary folder and loads it
// (browsertest.Render).
func render(t *testing.T, page *html.Page, wantImages bool) *browser.Page {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	if err := html.WriteFile(path, page); err != nil {
		t.Fatal(err)
	}
	return browsertest.Render(t, path, wantImages)
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
