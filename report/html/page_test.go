package html_test

import (
	"bytes"
	"context"
	"html/template"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facebatch/facebatch/charts"
	"github.com/facebatch/facebatch/internal/browser"
	"github.com/facebatch/facebatch/report/html"
	"github.com/facebatch/facebatch/thumbnail"
)

func samplePage(t *testing.T) *html.Page {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	uri, err := thumbnail.DataURI(img, 32)
	if err != nil {
		t.Fatal(err)
	}
	return &html.Page{
		Title:    "Run <report>",
		Subtitle: "model m & profile p",
		Sections: []html.Section{
			{ID: "summary", Title: "Summary", Note: "What ran.",
				Stats: []html.Stat{{Key: "faces", Label: "faces", Value: "12"}, {Key: "matched", Label: "matched", Value: "9"}}},
			{ID: "distances", Title: "Distances",
				Charts: []template.HTML{charts.Histogram{Min: 0, Max: 2, Series: []charts.Series{{Name: "d", Counts: []int{1, 2}}}}.SVG()}},
			{ID: "pairs", Title: "Pairs", Groups: []html.Group{
				{Title: "<b>alice</b>", Class: "error", Faces: []html.Face{{Image: uri, Caption: "0.93", Title: "a.jpg"}, {Image: uri, Caption: "gallery"}}},
				{Title: "bob", Faces: []html.Face{{Image: uri, Caption: "0.41"}}},
			}},
			{ID: "clusters", Title: "Clusters", Empty: "no clustering in this run"},
		},
	}
}

func TestWrite(t *testing.T) {
	var buf bytes.Buffer
	if err := html.Write(&buf, samplePage(t)); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, s := range []string{
		"<title>Run &lt;report&gt;</title>", "model m &amp; profile p",
		`data-section="summary"`, `<td data-stat="faces">12</td>`,
		`data-chart="histogram"`, "&lt;b&gt;alice&lt;/b&gt;", `class="group error"`,
		`src="data:image/jpeg;base64,`, "no clustering in this run",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	if strings.Contains(page, "ZgotmplZ") {
		t.Error("html/template rejected a URL or attribute (ZgotmplZ)")
	}
}

// TestRender renders the page in headless Chromium: every picture loads and
// the numbers read back.
func TestRender(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "sub", "report.html")
	if err := html.WriteFile(path, samplePage(t)); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("WriteFile left %d files, want only report.html", len(entries))
	}
	b, err := browser.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	url, err := browser.FileURL(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Open(ctx, url, 1000, 700)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := p.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if imgs.Total != 3 || imgs.Loaded != 3 {
		t.Errorf("images %+v, want 3 loaded", imgs)
	}
	stats, err := p.Texts(ctx, "[data-stat]")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(stats, ",") != "12,9" {
		t.Errorf("stats %q, want 12, 9", stats)
	}
	for sel, want := range map[string]int{"section": 4, "svg.chart": 1, ".group.error": 1, "p.empty": 1} {
		if n, err := p.Count(ctx, sel); err != nil || n != want {
			t.Errorf("Count(%s) = %d, %v; want %d", sel, n, err, want)
		}
	}
}
