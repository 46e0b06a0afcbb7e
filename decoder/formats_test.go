package decoder_test

import (
	"errors"
	"fmt"
	"image"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/decoder/decodertest"
)

// sentinels are the errors Decode may wrap.
var sentinels = []error{decoder.ErrFormat, decoder.ErrCorrupt, decoder.ErrTooLarge}

// maxDiff is the largest per-channel difference between two RGB images of
// the same size.
func maxDiff(a, b *image.RGBA) int {
	d := 0
	for i := range a.Pix {
		v := int(a.Pix[i]) - int(b.Pix[i])
		d = max(d, v, -v)
	}
	return d
}

// TestCorpus decodes every sample of the generated corpus: each format and
// variant comes back as the right pixels, each hostile file as the right
// refusal.
func TestCorpus(t *testing.T) {
	d := newDecoder(t)
	for _, s := range decodertest.Corpus() {
		t.Run(s.Name, func(t *testing.T) {
			img, format, err := d.Decode(s.Data)
			if err != nil && strings.Contains(err.Error(), "decoder panic") {
				t.Fatalf("a decoder panicked: %v", err)
			}
			if s.Err != nil && !(s.MayDecode && err == nil) {
				if !errors.Is(err, s.Err) || img != nil {
					t.Fatalf("Decode = %v, %v; want %v", img != nil, err, s.Err)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if format != s.Format {
				t.Errorf("format %q, want %q", format, s.Format)
			}
			if s.Want == nil {
				return
			}
			if img.Bounds() != s.Want.Bounds() {
				t.Fatalf("bounds %v, want %v", img.Bounds(), s.Want.Bounds())
			}
			for i := 3; i < len(img.Pix); i += 4 {
				if img.Pix[i] != 0xff {
					t.Fatalf("alpha %d at byte %d: the decoder returns opaque RGB", img.Pix[i], i)
				}
			}
			if diff := maxDiff(img, s.Want); diff > s.Tolerance {
				t.Errorf("pixels differ by up to %d levels, tolerance %d", diff, s.Tolerance)
			} else {
				t.Logf("%s %v, within %d levels", format, img.Bounds().Size(), diff)
			}
		})
	}
}

// TestBombsDoNotAllocate checks a decompression bomb is refused from its
// header, before anything near its claimed size is allocated.
func TestBombsDoNotAllocate(t *testing.T) {
	d := newDecoder(t)
	n := 0
	for _, s := range decodertest.Corpus() {
		if s.Err != decoder.ErrTooLarge {
			continue
		}
		n++
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, _, err := d.Decode(s.Data)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, decoder.ErrTooLarge) {
			t.Errorf("%s: %v, want ErrTooLarge", s.Name, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
			t.Errorf("%s: decoding allocated %d bytes", s.Name, alloc)
		} else {
			t.Logf("%s (%d bytes): refused after allocating %d bytes: %v", s.Name, len(s.Data), alloc, err)
		}
	}
	if n < 6 {
		t.Errorf("%d bombs in the corpus, want one per format", n)
	}
}

// TestJPEGScanLimit checks the scan count is refused only past the limit.
func TestJPEGScanLimit(t *testing.T) {
	d := newDecoder(t)
	for _, n := range []int{decoder.MaxJPEGScans, decoder.MaxJPEGScans + 1} {
		_, _, err := d.Decode(decodertest.ManyScans(n))
		if n > decoder.MaxJPEGScans && !errors.Is(err, decoder.ErrCorrupt) {
			t.Errorf("%d scans: %v, want ErrCorrupt", n, err)
		}
		if n <= decoder.MaxJPEGScans && err != nil && strings.Contains(err.Error(), "scans") {
			t.Errorf("%d scans refused: %v", n, err)
		}
	}
}

// TestMaxPixelsBoundary checks the limit is inclusive for every format.
func TestMaxPixelsBoundary(t *testing.T) {
	for _, s := range decodertest.Corpus() {
		if s.Err != nil || s.Want == nil {
			continue
		}
		px := s.Want.Bounds().Dx() * s.Want.Bounds().Dy()
		for _, limit := range []int{px, px - 1} {
			d, err := decoder.New(limit)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = d.Decode(s.Data)
			d.Close()
			if tooLarge := errors.Is(err, decoder.ErrTooLarge); tooLarge != (limit < px) {
				t.Errorf("%s (%d pixels) with limit %d: %v", s.Name, px, limit, err)
			}
		}
	}
}

// FuzzDecode feeds mutations of the corpus to Decode: it must never panic
// (a panic caught inside Decode fails too) and must return an image or an
// error wrapping one of the sentinels.
func FuzzDecode(f *testing.F) {
	for _, s := range decodertest.Corpus() {
		if len(s.Data) <= 64<<10 {
			f.Add(s.Data)
		}
	}
	// A small limit keeps claimed sizes cheap to decode.
	d, err := decoder.New(1 << 20)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { d.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		img, _, err := d.Decode(data)
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("Decode took %v on %d bytes", took, len(data))
		}
		if err != nil {
			if strings.Contains(err.Error(), "decoder panic") {
				t.Fatalf("a decoder panicked: %v", err)
			}
			if img != nil {
				t.Fatal("an image came back with the error")
			}
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error %v wraps none of %v", err, sentinels)
		}
		b := img.Bounds()
		if b.Min != (image.Point{}) || b.Empty() || b.Dx()*b.Dy() > 1<<20 || len(img.Pix) != 4*b.Dx()*b.Dy() {
			t.Fatalf("image %v with %d bytes", b, len(img.Pix))
		}
	})
}

func ExampleDecoder_Decode_refusal() {
	d, err := decoder.New(0)
	if err != nil {
		panic(err)
	}
	defer d.Close()
	for _, s := range decodertest.Corpus() {
		if s.Name == "photo.heic" || s.Name == "bomb.png" {
			_, _, err := d.Decode(s.Data)
			fmt.Println(s.Name, errors.Is(err, decoder.ErrFormat), errors.Is(err, decoder.ErrTooLarge))
		}
	}
	// Output:
	// photo.heic true false
	// bomb.png false true
}
