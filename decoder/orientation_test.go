package decoder_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/facebatch/facebatch/decoder"
)

// ifdEntry is one 12-byte TIFF IFD entry; value is the raw 4-byte field.
type ifdEntry struct {
	tag, typ uint16
	count    uint32
	value    [4]byte
}

func shortEntry(order binary.ByteOrder, tag uint16, v uint16) ifdEntry {
	e := ifdEntry{tag: tag, typ: 3, count: 1}
	order.PutUint16(e.value[:], v)
	return e
}

// tiffIFD0 builds a TIFF header followed by IFD0 holding entries.
func tiffIFD0(order binary.ByteOrder, entries ...ifdEntry) []byte {
	var b []byte
	app := order.(binary.AppendByteOrder)
	if order == binary.ByteOrder(binary.LittleEndian) {
		b = append(b, "II"...)
	} else {
		b = append(b, "MM"...)
	}
	b = app.AppendUint16(b, 42)
	b = app.AppendUint32(b, 8)
	b = app.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = app.AppendUint16(b, e.tag)
		b = app.AppendUint16(b, e.typ)
		b = app.AppendUint32(b, e.count)
		b = append(b, e.value[:]...)
	}
	return app.AppendUint32(b, 0) // no IFD1
}

// segment builds a JPEG marker segment; its length field counts itself.
func segment(marker byte, payload []byte) []byte {
	b := []byte{0xFF, marker}
	b = binary.BigEndian.AppendUint16(b, uint16(2+len(payload)))
	return append(b, payload...)
}

func exifAPP1(tiff []byte) []byte {
	return segment(0xE1, append([]byte("Exif\x00\x00"), tiff...))
}

// testJPEG encodes a small asymmetric image with image/jpeg.
func testJPEG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 16; x++ {
			img.SetRGBA(x, y, color.RGBA{uint8(16 * x), uint8(32 * y), 0, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// splice inserts segments right after the SOI marker.
func splice(jpg []byte, segments ...[]byte) []byte {
	out := append([]byte{}, jpg[:2]...)
	for _, s := range segments {
		out = append(out, s...)
	}
	return append(out, jpg[2:]...)
}

var byteOrders = []struct {
	name  string
	order binary.ByteOrder
}{
	{"II", binary.LittleEndian},
	{"MM", binary.BigEndian},
}

func TestOrientationAllValues(t *testing.T) {
	jpg := testJPEG(t)
	jfif := segment(0xE0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))
	xmp := segment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>"))
	for _, bo := range byteOrders {
		for o := 1; o <= 8; o++ {
			// Orientation alone, and among other tags (Make as an offset
			// ASCII, XResolution) after JFIF and XMP segments.
			var mk ifdEntry
			mk.tag, mk.typ, mk.count = 0x010F, 2, 8
			bo.order.PutUint32(mk.value[:], 200)
			xres := ifdEntry{tag: 0x011A, typ: 5, count: 1}
			bo.order.PutUint32(xres.value[:], 208)
			layouts := []struct {
				name string
				data []byte
			}{
				{"alone", splice(jpg, exifAPP1(tiffIFD0(bo.order, shortEntry(bo.order, 0x0112, uint16(o)))))},
				{"among tags", splice(jpg, jfif, xmp, exifAPP1(tiffIFD0(bo.order,
					mk, shortEntry(bo.order, 0x0112, uint16(o)), xres)))},
			}
			for _, l := range layouts {
				t.Run(fmt.Sprintf("%s/%d/%s", bo.name, o, l.name), func(t *testing.T) {
					if got := decoder.Orientation(l.data); got != o {
						t.Fatalf("Orientation = %d, want %d", got, o)
					}
					// The spliced file is still a valid JPEG.
					img, err := jpeg.Decode(bytes.NewReader(l.data))
					if err != nil {
						t.Fatalf("spliced JPEG does not decode: %v", err)
					}
					if img.Bounds() != image.Rect(0, 0, 16, 8) {
						t.Fatalf("spliced JPEG decodes to %v", img.Bounds())
					}
				})
			}
		}
	}
}

func TestOrientationAbsentOrInvalid(t *testing.T) {
	jpg := testJPEG(t)
	le, be := binary.LittleEndian, binary.BigEndian
	good := tiffIFD0(le, shortEntry(le, 0x0112, 6))
	mutate := func(f func(b []byte)) []byte {
		b := append([]byte{}, good...)
		f(b)
		return b
	}
	longEntry := shortEntry(le, 0x0112, 6)
	longEntry.typ = 4
	twoShorts := shortEntry(le, 0x0112, 6)
	twoShorts.count = 2
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"SOI only", []byte{0xFF, 0xD8}},
		{"not a JPEG", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")},
		{"no Exif", jpg},
		{"Exif after SOS", append(append([]byte{}, jpg[:len(jpg)-2]...), append(exifAPP1(good), 0xFF, 0xD9)...)},
		{"no orientation tag", splice(jpg, exifAPP1(tiffIFD0(be, shortEntry(be, 0x0110, 6))))},
		{"orientation in wrong byte order", splice(jpg, exifAPP1(tiffIFD0(be, shortEntry(le, 0x0112, 6))))},
		{"value 0", splice(jpg, exifAPP1(tiffIFD0(le, shortEntry(le, 0x0112, 0))))},
		{"value 9", splice(jpg, exifAPP1(tiffIFD0(le, shortEntry(le, 0x0112, 9))))},
		{"value 0xFFFF", splice(jpg, exifAPP1(tiffIFD0(be, shortEntry(be, 0x0112, 0xFFFF))))},
		{"type LONG", splice(jpg, exifAPP1(tiffIFD0(le, longEntry)))},
		{"count 2", splice(jpg, exifAPP1(tiffIFD0(le, twoShorts)))},
		{"bad byte order mark", splice(jpg, exifAPP1(mutate(func(b []byte) { copy(b, "IM") })))},
		{"bad magic", splice(jpg, exifAPP1(mutate(func(b []byte) { b[2] = 43 })))},
		{"IFD offset past the end", splice(jpg, exifAPP1(mutate(func(b []byte) { le.PutUint32(b[4:], 0xFFFFFFF0) })))},
		{"IFD offset inside the header", splice(jpg, exifAPP1(mutate(func(b []byte) { le.PutUint32(b[4:], 2) })))},
		{"entry count past the end", splice(jpg, exifAPP1(mutate(func(b []byte) { le.PutUint16(b[8:], 0xFFFF) })))},
		{"not Exif header", splice(jpg, segment(0xE1, append([]byte("Exig\x00\x00"), good...)))},
		{"Exif in APP2", splice(jpg, segment(0xE2, append([]byte("Exif\x00\x00"), good...)))},
		{"segment length 0", splice(jpg, []byte{0xFF, 0xE1, 0x00, 0x00}, exifAPP1(good))},
		{"segment length past the end", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 'E', 'x', 'i', 'f', 0, 0}},
		{"garbage between segments", splice(jpg, []byte{0x12, 0x34}, exifAPP1(good))},
		{"all 0xFF", bytes.Repeat([]byte{0xFF}, 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decoder.Orientation(tt.data); got != 1 {
				t.Fatalf("Orientation = %d, want 1", got)
			}
		})
	}
	// Control: the unmutated segment is read, also after fill bytes and a
	// restart-style standalone marker.
	controls := []struct {
		name string
		data []byte
	}{
		{"good", splice(jpg, exifAPP1(good))},
		{"fill bytes", splice(jpg, []byte{0xFF, 0xFF}, exifAPP1(good))},
	}
	for _, c := range controls {
		if got := decoder.Orientation(c.data); got != 6 {
			t.Errorf("%s: Orientation = %d, want 6", c.name, got)
		}
	}
}

// TestOrientationTruncated cuts files and Exif payloads at every length.
func TestOrientationTruncated(t *testing.T) {
	jpg := testJPEG(t)
	for _, bo := range byteOrders {
		// Orientation is the last of three entries, so every byte of the
		// IFD table matters.
		tiff := tiffIFD0(bo.order,
			shortEntry(bo.order, 0x0100, 16), shortEntry(bo.order, 0x0101, 8), shortEntry(bo.order, 0x0112, 8))
		app1 := exifAPP1(tiff)
		file := splice(jpg, app1)
		t.Run(bo.name+"/file", func(t *testing.T) {
			end := 2 + len(app1) // the Exif segment is complete from here on
			for n := 0; n <= len(file); n++ {
				want := 1
				if n >= end {
					want = 8
				}
				if got := decoder.Orientation(file[:n]); got != want {
					t.Fatalf("file cut at %d/%d: Orientation = %d, want %d", n, len(file), got, want)
				}
			}
		})
		t.Run(bo.name+"/payload", func(t *testing.T) {
			// A consistent segment length around a short TIFF payload.
			need := 8 + 2 + 3*12 // header, count, three entries (next-IFD offset optional)
			for n := 0; n <= len(tiff); n++ {
				want := 1
				if n >= need {
					want = 8
				}
				data := splice(jpg, exifAPP1(tiff[:n]))
				if got := decoder.Orientation(data); got != want {
					t.Fatalf("payload cut at %d/%d: Orientation = %d, want %d", n, len(tiff), got, want)
				}
			}
		})
	}
}

func FuzzOrientation(f *testing.F) {
	jpg := testJPEG(f)
	for _, bo := range byteOrders {
		for o := 1; o <= 8; o++ {
			f.Add(splice(jpg[:64], exifAPP1(tiffIFD0(bo.order, shortEntry(bo.order, 0x0112, uint16(o))))))
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0xFF, 0xD8})
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x08, 'E', 'x', 'i', 'f', 0, 0})
	f.Add(jpg[:64])
	f.Fuzz(func(t *testing.T, data []byte) {
		o := decoder.Orientation(data)
		if o < 1 || o > 8 {
			t.Fatalf("Orientation = %d, outside 1-8", o)
		}
		// Any value it returns must be safe to apply.
		img := image.NewRGBA(image.Rect(0, 0, 3, 2))
		got := decoder.Orient(img, o)
		if got == nil || got.Bounds().Dx()*got.Bounds().Dy() != 6 {
			t.Fatalf("Orient(3x2, %d) = %v", o, got)
		}
	})
}

// TestOrient checks every orientation on a 3x2 image whose pixels are
//
//	a b c
//	d e f
//
// against the layout that displays upright.
func TestOrient(t *testing.T) {
	const (
		a = iota + 1
		b
		c
		d
		e
		f
	)
	src := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for i, v := range []uint8{a, b, c, d, e, f} {
		src.SetRGBA(i%3, i/3, color.RGBA{v, 10 * v, 255 - v, 255})
	}
	// The same pixels in an image whose bounds do not start at (0,0).
	big := image.NewRGBA(image.Rect(-4, 7, 6, 12))
	for y := 0; y < 2; y++ {
		for x := 0; x < 3; x++ {
			big.SetRGBA(1+x, 9+y, src.RGBAAt(x, y))
		}
	}
	sub := big.SubImage(image.Rect(1, 9, 4, 11)).(*image.RGBA)
	tests := []struct {
		o    int
		want [][]uint8 // rows of pixel labels
	}{
		{1, [][]uint8{{a, b, c}, {d, e, f}}},
		{2, [][]uint8{{c, b, a}, {f, e, d}}},
		{3, [][]uint8{{f, e, d}, {c, b, a}}},
		{4, [][]uint8{{d, e, f}, {a, b, c}}},
		{5, [][]uint8{{a, d}, {b, e}, {c, f}}},
		{6, [][]uint8{{d, a}, {e, b}, {f, c}}},
		{7, [][]uint8{{f, c}, {e, b}, {d, a}}},
		{8, [][]uint8{{c, f}, {b, e}, {a, d}}},
		{0, [][]uint8{{a, b, c}, {d, e, f}}},
		{9, [][]uint8{{a, b, c}, {d, e, f}}},
		{-6, [][]uint8{{a, b, c}, {d, e, f}}},
	}
	for _, tt := range tests {
		for _, in := range []struct {
			name string
			img  *image.RGBA
		}{{"origin", src}, {"sub-image", sub}} {
			t.Run(fmt.Sprintf("%d/%s", tt.o, in.name), func(t *testing.T) {
				got := decoder.Orient(in.img, tt.o)
				if tt.o < 2 || tt.o > 8 {
					if got != in.img {
						t.Fatalf("Orient(img, %d) is not img itself", tt.o)
					}
					return
				}
				h, w := len(tt.want), len(tt.want[0])
				if got.Bounds() != image.Rect(0, 0, w, h) {
					t.Fatalf("bounds %v, want %dx%d at (0,0)", got.Bounds(), w, h)
				}
				for y, row := range tt.want {
					for x, v := range row {
						want := color.RGBA{v, 10 * v, 255 - v, 255}
						if p := got.RGBAAt(x, y); p != want {
							t.Fatalf("pixel (%d,%d) = %v, want label %d %v", x, y, p, v, want)
						}
					}
				}
			})
		}
	}
	// Inverses: 6 then 8 (and 8 then 6) restore the image, the others undo
	// themselves.
	inverse := map[int]int{2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
	for o, inv := range inverse {
		back := decoder.Orient(decoder.Orient(src, o), inv)
		if !bytes.Equal(back.Pix, src.Pix) || back.Bounds() != src.Bounds() {
			t.Errorf("Orient(Orient(img, %d), %d) is not img", o, inv)
		}
	}
	if decoder.Orient(nil, 6) != nil {
		t.Error("Orient(nil, 6) is not nil")
	}
	empty := image.NewRGBA(image.Rectangle{})
	if got := decoder.Orient(empty, 6); !got.Bounds().Empty() {
		t.Errorf("Orient(empty, 6) has bounds %v", got.Bounds())
	}
}
