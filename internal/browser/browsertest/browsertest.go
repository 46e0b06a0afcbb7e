// Package browsertest holds the checks report tests make through package
// browser: load a report file in headless Chromium, require its images,
// read its numbers. Without Chromium the tests fail, they do not skip.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/facebatch/facebatch/internal/browser"
)

// Render loads the HTML file at path in a headless Chromium that lives as
// long as t, and fails t unless every image on it loaded (and, with
// wantImages, there is at least one). It leaves a screenshot beside the
// file (.png for .html), for a person to look at when a test fails.
func Render(t testing.TB, path string, wantImages bool) *browser.Page {
	t.Helper()
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
		t.Errorf("%s: %d of %d images loaded; broken: %q", path, imgs.Loaded, imgs.Total, imgs.Broken)
	}
	shot, err := p.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(strings.TrimSuffix(path, ".html")+".png", shot, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Stat reads the one number the page shows with data-stat=key.
func Stat(t testing.TB, p *browser.Page, key string) string {
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

// Count counts the page's elements that match selector.
func Count(t testing.TB, p *browser.Page, selector string) int {
	t.Helper()
	n, err := p.Count(context.Background(), selector)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
