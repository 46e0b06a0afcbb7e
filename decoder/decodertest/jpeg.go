package decodertest

import (
	"encoding/binary"
	"math"
)

// JPEG describes a JPEG for EncodeJPEG: the layouts Go's image/jpeg cannot
// write (4 components, Adobe APP14, progressive scans). Every component is
// full resolution (sampling 1x1), so decoders differ only by IDCT rounding.
type JPEG struct {
	Width, Height int
	// Planes holds one Width*Height plane per component: 1 (gray), 3
	// (YCbCr, or RGB with Adobe transform 0) or 4 (CMYK or YCCK as stored,
	// i.e. Adobe-inverted for CMYK).
	Planes [][]uint8
	// Adobe writes an APP14 "Adobe" segment with this transform (0 unknown:
	// RGB or CMYK, 1 YCbCr, 2 YCCK); -1 writes none.
	Adobe int
	// Progressive writes SOF2 with a DC scan then two spectral bands of AC
	// per component, instead of one baseline scan.
	Progressive bool
	// Quant is the single quantisation step for every coefficient (1-255;
	// 0 means 2).
	Quant int
}

// Huffman tables of the JPEG standard, section K.3 (luminance), used for
// every component.
var (
	dcBits = [16]byte{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0}
	dcVals = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	acBits = [16]byte{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125}
	acVals = []byte{
		0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
		0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
		0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
		0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
		0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
		0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
		0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
		0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
		0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
		0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
		0xf9, 0xfa,
	}
)

// zigzag[i] is the natural (row-major) index of the i'th coefficient in
// zig-zag order.
var zigzag = [64]int{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

type huffCode struct {
	code uint32
	n    uint8
}

func huffTable(bits [16]byte, vals []byte) map[byte]huffCode {
	t := map[byte]huffCode{}
	code, k := uint32(0), 0
	for n := 1; n <= 16; n++ {
		for range bits[n-1] {
			t[vals[k]] = huffCode{code, uint8(n)}
			code++
			k++
		}
		code <<= 1
	}
	return t
}

var dcTable, acTable = huffTable(dcBits, dcVals), huffTable(acBits, acVals)

// bitWriter writes entropy-coded data MSB first, stuffing a 0 after 0xFF.
type bitWriter struct {
	out  []byte
	acc  uint32
	nacc uint
}

func (w *bitWriter) bits(v uint32, n uint8) {
	for i := int(n) - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>uint(i))&1
		w.nacc++
		if w.nacc == 8 {
			w.out = append(w.out, byte(w.acc))
			if byte(w.acc) == 0xFF {
				w.out = append(w.out, 0)
			}
			w.acc, w.nacc = 0, 0
		}
	}
}

func (w *bitWriter) huff(t map[byte]huffCode, sym byte) {
	c, ok := t[sym]
	if !ok {
		panic("decodertest: no Huffman code for symbol")
	}
	w.bits(c.code, c.n)
}

// flush pads the last byte with 1 bits.
func (w *bitWriter) flush() []byte {
	for w.nacc != 0 {
		w.bits(1, 1)
	}
	return w.out
}

// magnitude returns a coefficient's size category and its extra bits.
func magnitude(v int) (byte, uint32) {
	a := v
	if a < 0 {
		a = -a
	}
	n := byte(0)
	for a > 0 {
		n++
		a >>= 1
	}
	if v < 0 {
		v += 1<<n - 1
	}
	return n, uint32(v)
}

// blocks returns each component's quantised coefficients, block by block
// in raster order, each block in zig-zag order.
func (j *JPEG) blocks() [][][64]int {
	q := j.Quant
	if q <= 0 {
		q = 2
	}
	bw, bh := (j.Width+7)/8, (j.Height+7)/8
	out := make([][][64]int, len(j.Planes))
	for c, plane := range j.Planes {
		for by := range bh {
			for bx := range bw {
				var s [64]float64
				for y := range 8 {
					for x := range 8 {
						// Edge blocks repeat the last row and column.
						px, py := min(8*bx+x, j.Width-1), min(8*by+y, j.Height-1)
						s[8*y+x] = float64(plane[py*j.Width+px]) - 128
					}
				}
				var blk [64]int
				for v := range 8 {
					for u := range 8 {
						sum := 0.0
						for y := range 8 {
							for x := range 8 {
								sum += s[8*y+x] * math.Cos(float64(2*x+1)*float64(u)*math.Pi/16) *
									math.Cos(float64(2*y+1)*float64(v)*math.Pi/16)
							}
						}
						cu, cv := 1.0, 1.0
						if u == 0 {
							cu = math.Sqrt2 / 2
						}
						if v == 0 {
							cv = math.Sqrt2 / 2
						}
						f := int(math.Round(sum * cu * cv / 4 / float64(q)))
						blk[8*v+u] = max(-1023, min(1023, f))
					}
				}
				var zz [64]int
				for i, n := range zigzag {
					zz[i] = blk[n]
				}
				out[c] = append(out[c], zz)
			}
		}
	}
	return out
}

// Encode returns the JPEG file.
func (j *JPEG) Encode() []byte {
	q := j.Quant
	if q <= 0 {
		q = 2
	}
	nc := len(j.Planes)
	b := []byte{0xFF, 0xD8}
	if j.Adobe >= 0 {
		// "Adobe", version 100, flags0, flags1, transform.
		b = Segment(b, 0xEE, []byte{'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, byte(j.Adobe)})
	}
	dqt := []byte{0}
	for range 64 {
		dqt = append(dqt, byte(q))
	}
	b = Segment(b, 0xDB, dqt)
	sof := []byte{8, byte(j.Height >> 8), byte(j.Height), byte(j.Width >> 8), byte(j.Width), byte(nc)}
	for c := range nc {
		sof = append(sof, byte(c+1), 0x11, 0)
	}
	marker := byte(0xC0)
	if j.Progressive {
		marker = 0xC2
	}
	b = Segment(b, marker, sof)
	b = Segment(b, 0xC4, append(append([]byte{0x00}, dcBits[:]...), dcVals...))
	b = Segment(b, 0xC4, append(append([]byte{0x10}, acBits[:]...), acVals...))

	blocks := j.blocks()
	nblocks := len(blocks[0])
	scan := func(comps []int, ss, se int) {
		sos := []byte{byte(len(comps))}
		for _, c := range comps {
			sos = append(sos, byte(c+1), 0x00)
		}
		sos = append(sos, byte(ss), byte(se), 0)
		b = Segment(b, 0xDA, sos)
		var w bitWriter
		pred := make([]int, nc)
		for i := range nblocks {
			for _, c := range comps {
				blk := blocks[c][i]
				if ss == 0 {
					n, v := magnitude(blk[0] - pred[c])
					pred[c] = blk[0]
					w.huff(dcTable, n)
					w.bits(v, n)
				}
				run := 0
				for k := max(ss, 1); k <= se; k++ {
					if blk[k] == 0 {
						run++
						continue
					}
					for ; run > 15; run -= 16 {
						w.huff(acTable, 0xF0)
					}
					n, v := magnitude(blk[k])
					w.huff(acTable, byte(run<<4)|n)
					w.bits(v, n)
					run = 0
				}
				if run > 0 {
					w.huff(acTable, 0x00) // EOB (an EOB run of 1 in progressive scans)
				}
			}
		}
		b = append(b, w.flush()...)
	}
	all := make([]int, nc)
	for c := range nc {
		all[c] = c
	}
	if !j.Progressive {
		scan(all, 0, 63)
	} else {
		scan(all, 0, 0)
		for c := range nc {
			scan([]int{c}, 1, 5)
		}
		for c := range nc {
			scan([]int{c}, 6, 63)
		}
	}
	return append(b, 0xFF, 0xD9)
}

// Segment appends a JPEG marker segment (its length counts itself) to b.
func Segment(b []byte, marker byte, payload []byte) []byte {
	b = append(b, 0xFF, marker)
	b = binary.BigEndian.AppendUint16(b, uint16(2+len(payload)))
	return append(b, payload...)
}

// JPEGHeader returns a baseline JPEG whose SOF claims width x height but
// whose scan holds a few bytes only: a decompression bomb's header.
func JPEGHeader(width, height int) []byte {
	j := JPEG{Width: 8, Height: 8, Planes: [][]uint8{make([]uint8, 64)}, Adobe: -1}
	b := j.Encode()
	// SOI, DQT (2+2+65), then SOF0: marker, length, precision, height, width.
	i := 2 + 4 + 65
	if b[i] != 0xFF || b[i+1] != 0xC0 {
		panic("decodertest: unexpected JPEG layout")
	}
	binary.BigEndian.PutUint16(b[i+5:], uint16(height))
	binary.BigEndian.PutUint16(b[i+7:], uint16(width))
	return b
}

// WithOrientation returns jpg with an APP1 Exif segment right after SOI
// whose IFD0 holds only the orientation tag (0x0112, SHORT) set to o.
func WithOrientation(jpg []byte, o int) []byte {
	le := binary.LittleEndian
	tiff := []byte("II*\x00\x08\x00\x00\x00")
	tiff = le.AppendUint16(tiff, 1) // one entry
	tiff = le.AppendUint16(tiff, 0x0112)
	tiff = le.AppendUint16(tiff, 3)
	tiff = le.AppendUint32(tiff, 1)
	tiff = le.AppendUint16(tiff, uint16(o))
	tiff = append(tiff, 0, 0)
	tiff = le.AppendUint32(tiff, 0) // no IFD1
	out := Segment(append([]byte{}, jpg[:2]...), 0xE1, append([]byte("Exif\x00\x00"), tiff...))
	return append(out, jpg[2:]...)
}

// UndoOrientation is the inverse of decoder.Orient for orientation o: the
// stored pixels that display as the given upright ones.
var UndoOrientation = map[int]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
