package browser_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/facebatch/facebatch/internal/browser"
)

// A 1x1 GIF, and a data URI that is no image at all.
const (
	goodImage   = "data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs="
	brokenImage = "data:image/png;base64,bm90IGFuIGltYWdl"
)

// TestPage loads a page with one good and two broken images and checks what
// the harness reports. It fails, never skips, without Chromium.
func TestPage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	page := filepath.Join(dir, "page.html")
	html := `<!doctype html><html><body style="margin:0">
<h1 data-stat="title">Report</h1>
<p class="n">1</p><p class="n"> 22 </p>
<img src="` + goodImage + `" width="10" height="10">
<img src="` + brokenImage + `">
<img src="missing.png">
<div style="height:2000px"></div>
</body></html>`
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := browser.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	url, err := browser.FileURL(page)
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Open(ctx, url, 640, 480)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := p.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if imgs.Total != 3 || imgs.Loaded != 1 || len(imgs.Broken) != 2 || imgs.Broken[1] != "missing.png" {
		t.Errorf("Images = %+v, want 3 images, 1 loaded, the last two broken", imgs)
	}
	texts, err := p.Texts(ctx, "p.n")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(texts, []string{"1", "22"}) {
		t.Errorf("Texts(p.n) = %q", texts)
	}
	if n, err := p.Count(ctx, "[data-stat=title]"); err != nil || n != 1 {
		t.Errorf("Count = %d, %v; want 1", n, err)
	}
	if err := p.Eval(ctx, "no_such_function()", nil); err == nil {
		t.Error("Eval of a throwing expression: no error")
	}
	shot, err := p.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	// The whole page, not only the 480-pixel viewport.
	if cfg.Width != 640 || cfg.Height < 2000 {
		t.Errorf("screenshot %dx%d, want 640 wide and the whole 2000+ pixel page", cfg.Width, cfg.Height)
	}
	if err := p.Close(ctx); err != nil {
		t.Error(err)
	}
}

func TestPathFromEnv(t *testing.T) {
	t.Setenv(browser.EnvChromium, filepath.Join(t.TempDir(), "no-such-chromium"))
	if _, err := browser.Start(context.Background()); err == nil {
		t.Fatal("Start with a missing binary: no error")
	}
}
