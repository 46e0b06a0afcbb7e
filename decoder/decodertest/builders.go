package decodertest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
)

// Pattern is a smooth, asymmetric opaque test image: red grows to the
// right, green downwards, so a rotation or mirror shows. Up to 40x32 it
// has no edges (the values wrap around further out).
func Pattern(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{
				R: uint8(40 + 5*x%200), G: uint8(60 + 4*y%180), B: uint8(200 - (3*x+2*y)%190), A: 255,
			})
		}
	}
	return img
}

// RGB is img as the decoder must return it: straight (non-premultiplied)
// colour composited over white, rounded to the nearest level.
func RGB(img image.Image) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	over := func(v, a uint8) uint8 {
		return uint8((uint32(v)*uint32(a) + 255*(255-uint32(a)) + 127) / 255)
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			out.SetRGBA(x-b.Min.X, y-b.Min.Y, color.RGBA{over(c.R, c.A), over(c.G, c.A), over(c.B, c.A), 255})
		}
	}
	return out
}

// Chunk returns a PNG chunk: length, type, data, CRC.
func Chunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// PNG colour types.
const (
	PNGGray      = 0
	PNGRGB       = 2
	PNGPalette   = 3
	PNGGrayAlpha = 4
	PNGRGBA      = 6
)

var pngChannels = map[int]int{PNGGray: 1, PNGRGB: 3, PNGPalette: 1, PNGGrayAlpha: 2, PNGRGBA: 4}

// adam7 lists the interlace passes: x and y start, x and y step.
var adam7 = [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}

// PNG assembles the PNG layouts Go's encoder never writes (gray+alpha,
// sub-byte depths, Adam7 interlacing): IHDR, the extra chunks (PLTE, tRNS),
// one IDAT of the rows, IEND. sample returns pixel (x, y)'s samples at the
// given depth, one per channel.
func PNG(w, h, depth, colorType int, interlaced bool, sample func(x, y int) []int, extra ...[]byte) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	il := byte(0)
	if interlaced {
		il = 1
	}
	ihdr = append(ihdr, byte(depth), byte(colorType), 0, 0, il)

	var raw []byte
	pass := func(x0, y0, dx, dy int) {
		if x0 >= w || y0 >= h {
			return // an empty pass has no rows at all
		}
		for y := y0; y < h; y += dy {
			raw = append(raw, 0) // filter: none
			var acc, nacc int
			for x := x0; x < w; x += dx {
				for _, s := range sample(x, y) {
					switch {
					case depth == 16:
						raw = append(raw, byte(s>>8), byte(s))
					case depth == 8:
						raw = append(raw, byte(s))
					default:
						acc = acc<<depth | s&(1<<depth-1)
						nacc += depth
						if nacc == 8 {
							raw = append(raw, byte(acc))
							acc, nacc = 0, 0
						}
					}
				}
			}
			if nacc > 0 {
				raw = append(raw, byte(acc<<(8-nacc)))
			}
		}
	}
	if interlaced {
		for _, p := range adam7 {
			pass(p[0], p[1], p[2], p[3])
		}
	} else {
		pass(0, 0, 1, 1)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw)
	zw.Close()

	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, Chunk("IHDR", ihdr)...)
	for _, c := range extra {
		b = append(b, c...)
	}
	b = append(b, Chunk("IDAT", z.Bytes())...)
	return append(b, Chunk("IEND", nil)...)
}

// lsbWriter writes bits least significant first, as VP8L reads them.
type lsbWriter struct {
	out  []byte
	acc  uint64
	nacc uint
}

func (w *lsbWriter) bits(v uint64, n uint) {
	w.acc |= (v & (1<<n - 1)) << w.nacc
	w.nacc += n
	for w.nacc >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nacc -= 8
	}
}

func (w *lsbWriter) flush() []byte {
	if w.nacc > 0 {
		w.out = append(w.out, byte(w.acc))
	}
	w.acc, w.nacc = 0, 0
	return w.out
}

// RIFF wraps chunks (FourCC, data) into a WebP file.
func RIFF(chunks ...[]byte) []byte {
	var body []byte
	for _, c := range chunks {
		body = append(body, c...)
	}
	b := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(body)))...)
	return append(append(b, "WEBP"...), body...)
}

// RIFFChunk returns a RIFF chunk, padded to an even length.
func RIFFChunk(fourCC string, data []byte) []byte {
	b := append([]byte(fourCC), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// vp8lHeader is the VP8L signature, 14-bit width-1 and height-1, the
// alpha hint and version 0.
func vp8lHeader(w *lsbWriter, width, height int, alpha bool) {
	w.bits(0x2f, 8)
	w.bits(uint64(width-1), 14)
	w.bits(uint64(height-1), 14)
	a := uint64(0)
	if alpha {
		a = 1
	}
	w.bits(a, 1)
	w.bits(0, 3)
}

// WebPLossless encodes img as a lossless (VP8L) WebP. Each channel may take
// at most two values over the image: every prefix code is a "simple" one
// of one or two symbols, which keeps the encoder a few lines long.
func WebPLossless(img *image.NRGBA) []byte {
	b := img.Bounds()
	// The values each channel takes, in VP8L's order: green, red, blue, alpha.
	var values [4][]uint8
	at := func(x, y int) [4]uint8 {
		c := img.NRGBAAt(x, y)
		return [4]uint8{c.G, c.R, c.B, c.A}
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			for ch, v := range at(x, y) {
				if !bytes.Contains(values[ch], []byte{v}) {
					values[ch] = append(values[ch], v)
				}
			}
		}
	}
	var w lsbWriter
	vp8lHeader(&w, b.Dx(), b.Dy(), !img.Opaque())
	w.bits(0, 1) // no transform
	w.bits(0, 1) // no colour cache
	w.bits(0, 1) // no meta prefix codes
	for ch := range values {
		v := values[ch]
		if len(v) > 2 {
			panic("decodertest: WebPLossless takes two values per channel at most")
		}
		if len(v) == 2 && v[0] > v[1] {
			v[0], v[1] = v[1], v[0] // the smaller symbol gets code 0
		}
		w.bits(1, 1) // simple code
		w.bits(uint64(len(v)-1), 1)
		w.bits(1, 1) // first symbol in 8 bits
		w.bits(uint64(v[0]), 8)
		if len(v) == 2 {
			w.bits(uint64(v[1]), 8)
		}
	}
	// Distance code: one symbol, 0.
	w.bits(1, 1)
	w.bits(0, 1)
	w.bits(0, 1)
	w.bits(0, 1)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			for ch, v := range at(x, y) {
				if len(values[ch]) == 2 {
					if v == values[ch][1] {
						w.bits(1, 1)
					} else {
						w.bits(0, 1)
					}
				}
			}
		}
	}
	return RIFF(RIFFChunk("VP8L", w.flush()))
}

// WebPLosslessHeader returns a VP8L WebP whose header claims width x height
// (at most 16384 each) and whose data stops right after it.
func WebPLosslessHeader(width, height int) []byte {
	var w lsbWriter
	vp8lHeader(&w, width, height, false)
	return RIFF(RIFFChunk("VP8L", append(w.flush(), 0, 0, 0, 0)))
}

// PNGHeader returns an 8-bit RGB PNG whose IHDR claims width x height and
// whose IDAT holds one row of zeros: a decompression bomb's start.
func PNGHeader(width, height int) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(width))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(height))
	ihdr = append(ihdr, 8, PNGRGB, 0, 0, 0)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, 1+3*min(width, 4096)))
	zw.Close()
	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, Chunk("IHDR", ihdr)...)
	b = append(b, Chunk("IDAT", z.Bytes())...)
	return append(b, Chunk("IEND", nil)...)
}
