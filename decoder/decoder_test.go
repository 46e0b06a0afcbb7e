package decoder_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
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

// TestDecodeDropsAlpha checks translucent pixels keep their straight colour,
// as PIL's convert("RGB") does, rather than being blended or premultiplied.
func TestDecodeDropsAlpha(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	src.SetNRGBA(0, 0, color.NRGBA{200, 100, 50, 128})
	src.SetNRGBA(1, 0, color.NRGBA{10, 20, 30, 0})
	var buf bytes.Buffer
	if err := png.Encode(&buf, src); err != nil {
		t.Fatal(err)
	}
	got, format, err := newDecoder(t).Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if format != "png" {
		t.Errorf("format %q, want png", format)
	}
	want := []uint8{200, 100, 50, 255, 10, 20, 30, 255}
	if !bytes.Equal(got.Pix, want) {
		t.Errorf("pixels %v, want %v", got.Pix, want)
	}
}
