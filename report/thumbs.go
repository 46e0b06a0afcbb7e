package report

import (
	"context"
	"fmt"
	"html/template"
	"image"
	"runtime"
	"sync"
	"time"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/report/html"
	"github.com/facebatch/facebatch/thumbnail"
)

// thumbSide is the longer side of a face thumbnail, in pixels.
const thumbSide = 96

// box is a face box in original-image pixels.
type box struct{ X, Y, W, H int32 }

func (b *box) rect() image.Rectangle {
	return image.Rect(int(b.X), int(b.Y), int(b.X+b.W), int(b.Y+b.H))
}

// Sections are built with pending pictures, which the thumbnailer fills in
// once it has read each photo.
type (
	pending struct {
		html.Section
		Groups []pendingGroup
	}
	pendingGroup struct {
		Title, Note, Class string
		Faces              []pendingFace
	}
	pendingFace struct {
		id             int
		caption, title string
	}
)

// thumbnailer collects thumbnail requests, then reads and decodes each
// photo once (photos are large; the faces of one photo share the decode)
// and crops every requested face out of it.
type thumbnailer struct {
	maxBytes int64
	requests []thumbRequest
	byURI    map[string][]int
	done     []template.URL
	failed   []error
	dec      *decoder.Decoder
}

type thumbRequest struct {
	uri string
	box *box // nil: the whole photo
}

func newThumbnailer(maxBytes int64) *thumbnailer {
	return &thumbnailer{maxBytes: maxBytes, byURI: map[string][]int{}}
}

func (t *thumbnailer) Close() {
	if t.dec != nil {
		t.dec.Close()
	}
}

func (t *thumbnailer) request(uri string, b *box, caption, title string) pendingFace {
	id := len(t.requests)
	t.requests = append(t.requests, thumbRequest{uri: uri, box: b})
	t.byURI[uri] = append(t.byURI[uri], id)
	return pendingFace{id: id, caption: caption, title: title}
}

// unavailable is a placeholder picture, for a photo not to be read.
func (t *thumbnailer) unavailable(caption, title string) pendingFace {
	id := len(t.requests)
	t.requests = append(t.requests, thumbRequest{})
	return pendingFace{id: id, caption: caption, title: title}
}

// Load makes every requested thumbnail. A photo that cannot be read or
// decoded any more gets a placeholder and its error in the caption: the
// report still renders.
func (t *thumbnailer) Load(ctx context.Context) error {
	t.done = make([]template.URL, len(t.requests))
	t.failed = make([]error, len(t.requests))
	for i := range t.done {
		t.done[i] = placeholder
	}
	if len(t.byURI) == 0 {
		return nil
	}
	dec, err := decoder.New(0)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	t.dec = dec
	uris := make(chan string)
	var wg sync.WaitGroup
	for range min(runtime.NumCPU(), len(t.byURI)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for uri := range uris {
				t.loadPhoto(ctx, uri)
			}
		}()
	}
	for uri := range t.byURI {
		if ctx.Err() != nil {
			break
		}
		uris <- uri
	}
	close(uris)
	wg.Wait()
	return ctx.Err()
}

// loadPhoto fills in the thumbnails of one photo; each request index is
// written by one goroutine only.
func (t *thumbnailer) loadPhoto(ctx context.Context, uri string) {
	ids := t.byURI[uri]
	fail := func(err error) {
		for _, id := range ids {
			t.failed[id] = err
			t.done[id] = placeholder
		}
	}
	data, err := files.Read(ctx, uri, t.maxBytes)
	if err != nil {
		fail(err)
		return
	}
	img, _, err := t.dec.Decode(data)
	if err != nil {
		fail(err)
		return
	}
	for _, id := range ids {
		var pic image.Image = img
		if b := t.requests[id].box; b != nil {
			pic = detector.Crop(img, b.rect(), faces.DefaultMargin)
		}
		uri, err := thumbnail.DataURI(pic, thumbSide)
		if err != nil {
			t.failed[id], t.done[id] = err, placeholder
			continue
		}
		t.done[id] = uri
	}
}

// placeholder stands in for a photo that could not be read: a grey square.
var placeholder = func() template.URL {
	img := image.NewGray(image.Rect(0, 0, thumbSide, thumbSide))
	for i := range img.Pix {
		img.Pix[i] = 0xcc
	}
	// A fixed in-memory image always encodes; were it not to, the empty
	// src shows as a broken image, which the report tests catch.
	uri, _ := thumbnail.DataURI(img, 0)
	return uri
}()

// resolve turns a pending section into a report section.
func (t *thumbnailer) resolve(p pending) html.Section {
	sec := p.Section
	for _, g := range p.Groups {
		rg := html.Group{Title: g.Title, Note: g.Note, Class: g.Class}
		for _, f := range g.Faces {
			face := html.Face{Image: t.done[f.id], Caption: f.caption, Title: f.title}
			if err := t.failed[f.id]; err != nil {
				face.Caption += " (photo unavailable: " + err.Error() + ")"
			}
			rg.Faces = append(rg.Faces, face)
		}
		sec.Groups = append(sec.Groups, rg)
	}
	return sec
}

func formatMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04")
}
