package decoder_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/facebatch/facebatch/decoder"
)

const seed = "../../shared/seed" // the notebook pixels are checked in encoder tests

func newDecoder(t testing.TB) *decoder.Decoder {
	t.Helper()
	d, err := decoder.New(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestDecodeErrors(t *testing.T) {
	d, err := decoder.New(100 * 100)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	jpegData, err := os.ReadFile(filepath.Join(seed, "camera", "camera_0.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	big := image.NewNRGBA(image.Rect(0, 0, 101, 100))
	var bigPNG bytes.Buffer
	if err := png.Encode(&bigPNG, big); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, decoder.ErrFormat},
		{"text", []byte("<html>not an image</html>"), decoder.ErrFormat},
		{"truncated jpeg", jpegData[:len(jpegData)/2], decoder.ErrCorrupt},
		{"truncated header", jpegData[:40], decoder.ErrCorrupt},
		{"over max pixels", bigPNG.Bytes(), decoder.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, _, err := d.Decode(tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode error %v, want %v", err, tt.want)
			}
			if img != nil {
				t.Error("an image came back with the error")
			}
		})
	}
}

// TestDecodeOverWhite checks translucent and transparent pixels come out
// composited over white, in every layout with alpha, and opaque ones keep
// their colour exactly.
func TestDecodeOverWhite(t *testing.T) {
	pngOf := func(m image.Image) []byte {
		var buf bytes.Buffer
		if err := png.Encode(&buf, m); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	nrgba := image.NewNRGBA(image.Rect(0, 0, 3, 1))
	nrgba.SetNRGBA(0, 0, color.NRGBA{200, 100, 50, 128})
	nrgba.SetNRGBA(1, 0, color.NRGBA{10, 20, 30, 0})
	nrgba.SetNRGBA(2, 0, color.NRGBA{10, 20, 30, 255})
	nrgba64 := image.NewNRGBA64(image.Rect(0, 0, 3, 1))
	nrgba64.SetNRGBA64(0, 0, color.NRGBA64{200 << 8, 100 << 8, 50 << 8, 128 << 8})
	nrgba64.SetNRGBA64(1, 0, color.NRGBA64{10 << 8, 20 << 8, 30 << 8, 0})
	nrgba64.SetNRGBA64(2, 0, color.NRGBA64{10 << 8, 20 << 8, 30 << 8, 0xffff})
	pal := image.NewPaletted(image.Rect(0, 0, 3, 1), color.Palette{
		color.NRGBA{200, 100, 50, 128}, color.NRGBA{10, 20, 30, 0}, color.NRGBA{10, 20, 30, 255}})
	pal.Pix = []uint8{0, 1, 2}
	var gifBuf bytes.Buffer
	gifPal := image.NewPaletted(image.Rect(0, 0, 3, 1), color.Palette{color.RGBA{}, color.RGBA{10, 20, 30, 255}})
	gifPal.Pix = []uint8{0, 0, 1}
	if err := gif.Encode(&gifBuf, gifPal, nil); err != nil {
		t.Fatal(err)
	}
	// 128/255 of the colour over white: 200 -> 227, 100 -> 177, 50 -> 152.
	half := []uint8{227, 177, 152, 255}
	white := []uint8{255, 255, 255, 255}
	opaque := []uint8{10, 20, 30, 255}
	for _, tt := range []struct {
		name string
		data []byte
		want [][]uint8
	}{
		{"png rgba", pngOf(nrgba), [][]uint8{half, white, opaque}},
		{"png rgba64", pngOf(nrgba64), [][]uint8{half, white, opaque}},
		{"png palette with tRNS", pngOf(pal), [][]uint8{half, white, opaque}},
		{"gif with a transparent index", gifBuf.Bytes(), [][]uint8{white, white, opaque}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := newDecoder(t).Decode(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if want := bytes.Join(tt.want, nil); !bytes.Equal(got.Pix, want) {
				t.Errorf("pixels %v, want %v", got.Pix, want)
			}
		})
	}
}
