// Package html renders the self-contained HTML reports (the evaluation
// reports of `facebatch eval` and the run report of `facebatch report`):
// one file per report, pictures inlined as data URIs (see package
// thumbnail), charts as inline SVG (see package charts), no JavaScript.
//
// A report is a Page of Sections; a section holds summary numbers, charts
// and groups of face pictures (a pair side by side, an identity's strip).
// Every number carries a data-stat attribute and every section a
// data-section attribute, so tests and scripts can read the page back.
package html

import (
	"bufio"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
)

// Page is one report.
type Page struct {
	Title string
	// Subtitle says what produced the numbers: model, profile, data.
	Subtitle string
	Sections []Section
}

// Section is one titled part of a page.
type Section struct {
	// ID is the section's anchor and data-section attribute.
	ID    string
	Title string
	// Note is a paragraph under the title: what the section shows and how
	// it was computed.
	Note   string
	Stats  []Stat
	Charts []template.HTML
	Groups []Group
	// Empty is shown instead of the content when the section has none.
	Empty string
}

// Stat is one labelled number.
type Stat struct {
	// Key is the data-stat attribute, stable for tests and scripts.
	Key   string
	Label string
	Value string
}

// Group is a row of pictures shown together, such as the two faces of a
// pair or the faces of one identity.
type Group struct {
	Title string
	Note  string
	// Class marks the group for styling: "error" or "warn" add a coloured
	// edge.
	Class string
	Faces []Face
}

// Face is one picture with its caption.
type Face struct {
	Image   template.URL
	Caption string
	// Title is the tooltip, such as the image's path.
	Title string
}

//go:embed page.html.tmpl
var pageTemplate string

var page = template.Must(template.New("page").Parse(pageTemplate))

// Write renders p as HTML.
func Write(w io.Writer, p *Page) error {
	if err := page.Execute(w, p); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// WriteFile renders p into the file at path, creating its folder; the file
// appears complete or not at all.
func WriteFile(path string, p *Page) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	if err := Write(w, p); err != nil {
		tmp.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("report: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
