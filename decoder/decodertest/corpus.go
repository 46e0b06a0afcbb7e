// Package decodertest generates image files for tests of the decoder and of
// the jobs: every format and variant the decoder reads, with the pixels it
// must return, and the hostile files it must refuse cleanly (other formats,
// corrupt and truncated data, decompression bombs).
//
// Everything is built by code here; nothing is downloaded or checked in,
// except two WebP files of a few hundred bytes made once with cwebp (Go has
// no lossy WebP encoder).
package decodertest

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/facebatch/facebatch/decoder"
)

// Sample is one file and what decoder.Decode must make of it (with the
// default pixel limit).
type Sample struct {
	// Name is a file name with the extension such a file usually has.
	Name string
	Data []byte
	// Err is the sentinel the error must wrap (decoder.ErrFormat,
	// ErrCorrupt or ErrTooLarge), or nil when an image must come back.
	Err error
	// MayDecode accepts an image instead of Err: decoders may tolerate
	// garbage in entropy-coded data.
	MayDecode bool
	// Format is the format name Decode must report for an image.
	Format string
	// Want is the image Decode must return, within Tolerance levels per
	// channel (lossy formats differ from their source).
	Want      *image.RGBA
	Tolerance int
}

// The lossy WebP files, made once from Pattern(32, 32) with cwebp 1.2.4:
// "cwebp -q 90" (VP8) and, with alpha 8*x, "cwebp -q 90 -alpha_q 100
// -exact" (VP8X, ALPH, VP8).
const (
	lossyWebP      = "52494646940000005745425056503820880000005006009d012a200020003e2d108742a1a10dfeaa000c01625b00274ca11e13e57f835ca55b1fdb9c92fe4000e37720fda205f00ce6c46add19d00000fefc550f690dc9ddc2f709e89ffdfb1539be139bdfde2cff1e8a2abbe84384e5b6d8aa2edf8fba2c32f5dc4c7735bafc2f2dd998ed6680015906d6c78703947a1e9e26733b3a325fe8000000"
	lossyAlphaWebP = "52494646c000000057454250565038580a000000100000001f00001f0000414c504813000000050f30081111422c98f84b3782fe88fe477803005650382086000000b005009d012a200020003e2d108742a1a10dfeaa000c01625b00274bc09e2df85fc2a06017400071bb907ed0cf633805a52df5a3b40000fefc550f690dc9ddc2f709e89ffdf3b53cdea365937e4d83ff1c4cf47cf6ea319ae72bc6ed6ee8c91727e0d4c5cf0398d381ff85c1529ae22ff2d3e93c685765288cb6826ea01c9e8c5c3eec980000"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Bomb is the size decompression bombs claim: far over any pixel limit.
const Bomb = 60000

// Corpus returns the samples, built afresh on each call.
func Corpus() []Sample {
	var s []Sample
	add := func(x Sample) { s = append(s, x) }
	decodes := func(name, format string, data []byte, want *image.RGBA, tol int) {
		add(Sample{Name: name, Data: data, Format: format, Want: want, Tolerance: tol})
	}
	refused := func(name string, data []byte, err error) { add(Sample{Name: name, Data: data, Err: err}) }

	// JPEG: through TensorFlow (libjpeg). Baseline YCbCr 4:2:0 and gray
	// from Go's encoder, the rest from this package's encoder.
	const pw, ph = 38, 30 // not multiples of 8 or 16: partial blocks and MCUs
	pat := Pattern(pw, ph)
	var baseline bytes.Buffer
	must(jpeg.Encode(&baseline, pat, &jpeg.Options{Quality: 95}))
	decodes("baseline.jpg", "jpeg", baseline.Bytes(), RGB(pat), 12)
	gray := image.NewGray(pat.Bounds())
	for i := range gray.Pix {
		gray.Pix[i] = pat.Pix[4*i+1]
	}
	var grayJPEG bytes.Buffer
	must(jpeg.Encode(&grayJPEG, gray, &jpeg.Options{Quality: 100}))
	decodes("gray.jpg", "jpeg", grayJPEG.Bytes(), RGB(gray), 3)
	y, cb, cr := planes(pat, func(c color.NRGBA) []uint8 {
		y, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
		return []uint8{y, cb, cr}
	})
	decodes("progressive.jpg", "jpeg", (&JPEG{Width: pw, Height: ph, Planes: [][]uint8{y, cb, cr}, Adobe: -1, Progressive: true}).Encode(), RGB(pat), 4)
	r, g, b := planes(pat, func(c color.NRGBA) []uint8 { return []uint8{c.R, c.G, c.B} })
	decodes("adobe-rgb.jpg", "jpeg", (&JPEG{Width: pw, Height: ph, Planes: [][]uint8{r, g, b}, Adobe: 0}).Encode(), RGB(pat), 3)

	// CMYK inks and what they look like on screen: (255-c)(255-k)/255.
	inks := Inks(32, 32)
	screen := RGB(InksRGB(inks))
	stored := func(inverted bool) [][]uint8 {
		p := make([][]uint8, 4)
		for ch := range 4 {
			p[ch] = make([]uint8, len(inks.Pix)/4)
			for i := range p[ch] {
				p[ch][i] = inks.Pix[4*i+ch]
				if inverted {
					p[ch][i] = 255 - p[ch][i]
				}
			}
		}
		return p
	}
	// Adobe (Photoshop) CMYK stores inverted inks.
	decodes("cmyk.jpg", "jpeg", (&JPEG{Width: 32, Height: 32, Planes: stored(true), Adobe: 0}).Encode(), screen, 3)
	decodes("cmyk-progressive.jpg", "jpeg", (&JPEG{Width: 32, Height: 32, Planes: stored(true), Adobe: 0, Progressive: true}).Encode(), screen, 3)
	// YCCK: the YCbCr of (ink c, ink m, ink y), then the inverted black.
	ycck := make([][]uint8, 4)
	for ch := range ycck {
		ycck[ch] = make([]uint8, len(inks.Pix)/4)
	}
	for i := range ycck[0] {
		p := inks.Pix[4*i : 4*i+4]
		ycck[0][i], ycck[1][i], ycck[2][i] = color.RGBToYCbCr(p[0], p[1], p[2])
		ycck[3][i] = 255 - p[3]
	}
	decodes("ycck.jpg", "jpeg", (&JPEG{Width: 32, Height: 32, Planes: ycck, Adobe: 2}).Encode(), screen, 3)
	// Without the Adobe segment, libjpeg (and PIL) read plain inks.
	decodes("cmyk-no-adobe.jpg", "jpeg", (&JPEG{Width: 32, Height: 32, Planes: stored(false), Adobe: -1}).Encode(), screen, 3)
	// Stored turned, with EXIF orientation 6 (rotate 90° clockwise to view).
	var turned bytes.Buffer
	must(jpeg.Encode(&turned, decoder.Orient(RGB(pat), UndoOrientation[6]), &jpeg.Options{Quality: 95}))
	decodes("exif-rotate90.jpg", "jpeg", WithOrientation(turned.Bytes(), 6), RGB(pat), 12)
	// Bytes after EOI are ignored.
	decodes("trailing-garbage.jpg", "jpeg", append(bytes.Clone(baseline.Bytes()), "trailing bytes\x00\xff\xd9"...), RGB(pat), 12)
	// Named .png, holds a JPEG: formats go by content.
	decodes("actually-jpeg.png", "jpeg", baseline.Bytes(), RGB(pat), 12)

	// PNG: Go's encoder for what it writes, PNG above for the rest.
	pngOf := func(m image.Image) []byte {
		var buf bytes.Buffer
		must(png.Encode(&buf, m))
		return buf.Bytes()
	}
	decodes("rgb.png", "png", pngOf(RGB(pat)), RGB(pat), 0)
	translucent := Pattern(24, 16)
	for i := 3; i < len(translucent.Pix); i += 4 {
		translucent.Pix[i] = uint8(i * 7) // 0 to 255: composited over white
	}
	// The same colours, opaque: what a format without alpha keeps of them.
	opaqueTranslucent := image.NewNRGBA(translucent.Bounds())
	copy(opaqueTranslucent.Pix, translucent.Pix)
	for i := 3; i < len(opaqueTranslucent.Pix); i += 4 {
		opaqueTranslucent.Pix[i] = 0xff
	}
	decodes("rgba-translucent.png", "png", pngOf(translucent), RGB(translucent), 0)
	pal := image.NewPaletted(pat.Bounds(), palette.WebSafe)
	for yy := range ph {
		for xx := range pw {
			pal.Set(xx, yy, pat.At(xx, yy))
		}
	}
	decodes("palette.png", "png", pngOf(pal), RGB(pal), 0)
	trns := image.NewPaletted(image.Rect(0, 0, 20, 10), color.Palette{
		color.NRGBA{200, 10, 10, 255}, color.NRGBA{10, 200, 10, 128}, color.NRGBA{10, 10, 200, 0},
	})
	for i := range trns.Pix {
		trns.Pix[i] = uint8(i % 3)
	}
	// Go's encoder writes tRNS for a palette with alpha; PNG decoders hand
	// back straight colours for palettes.
	decodes("palette-trns.png", "png", pngOf(trns), RGB(trns), 0)
	rgb16 := image.NewRGBA64(pat.Bounds())
	rgba16 := image.NewNRGBA64(pat.Bounds())
	rgba16Want := image.NewNRGBA(pat.Bounds()) // its 8-bit colours and alpha
	gray16 := image.NewGray16(pat.Bounds())
	for yy := range ph {
		for xx := range pw {
			c := pat.NRGBAAt(xx, yy)
			v := func(u uint8) uint16 { return uint16(u)<<8 | uint16((xx*5+yy)&0xff) } // low byte noise: truncated
			rgb16.SetRGBA64(xx, yy, color.RGBA64{v(c.R), v(c.G), v(c.B), 0xffff})
			rgba16.SetNRGBA64(xx, yy, color.NRGBA64{v(c.R), v(c.G), v(c.B), uint16(xx * 1300)})
			rgba16Want.SetNRGBA(xx, yy, color.NRGBA{c.R, c.G, c.B, uint8(xx * 1300 >> 8)})
			gray16.SetGray16(xx, yy, color.Gray16{v(c.G)})
		}
	}
	decodes("rgb16.png", "png", pngOf(rgb16), RGB(pat), 0)
	// Composited at 16 bits, then cut to 8: within a level of the 8-bit sum.
	decodes("rgba16.png", "png", pngOf(rgba16), RGB(rgba16Want), 1)
	decodes("gray16.png", "png", pngOf(gray16), RGB(gray), 0)
	graySamples := func(xx, yy int) []int { return []int{int(gray.GrayAt(xx, yy).Y), 255 - 5*xx} }
	grayAlpha := image.NewNRGBA(pat.Bounds())
	for yy := range ph {
		for xx := range pw {
			v := gray.GrayAt(xx, yy).Y
			grayAlpha.SetNRGBA(xx, yy, color.NRGBA{v, v, v, uint8(255 - 5*xx)})
		}
	}
	decodes("gray-alpha.png", "png", PNG(pw, ph, 8, PNGGrayAlpha, false, graySamples), RGB(grayAlpha), 0)
	decodes("gray-alpha16.png", "png", PNG(pw, ph, 16, PNGGrayAlpha, false, func(xx, yy int) []int {
		s := graySamples(xx, yy)
		return []int{s[0]<<8 | 0x7f, s[1] << 8}
	}), RGB(grayAlpha), 1)
	rgbSamples := func(xx, yy int) []int {
		c := pat.NRGBAAt(xx, yy)
		return []int{int(c.R), int(c.G), int(c.B)}
	}
	decodes("interlaced.png", "png", PNG(pw, ph, 8, PNGRGB, true, rgbSamples), RGB(pat), 0)
	// Sizes where some Adam7 passes are empty.
	small := Pattern(3, 2)
	decodes("interlaced-3x2.png", "png", PNG(3, 2, 8, PNGRGB, true, func(xx, yy int) []int {
		c := small.NRGBAAt(xx, yy)
		return []int{int(c.R), int(c.G), int(c.B)}
	}), RGB(small), 0)
	// A 2-bit palette, interlaced, with tRNS.
	plte := Chunk("PLTE", []byte{255, 0, 0, 0, 255, 0, 0, 0, 255, 250, 250, 250})
	two := image.NewPaletted(image.Rect(0, 0, 13, 11), color.Palette{
		color.NRGBA{255, 0, 0, 255}, color.NRGBA{0, 255, 0, 0}, color.NRGBA{0, 0, 255, 100}, color.NRGBA{250, 250, 250, 255},
	})
	for i := range two.Pix {
		two.Pix[i] = uint8((i * 5 / 3) % 4)
	}
	decodes("palette-2bit-interlaced.png", "png", PNG(13, 11, 2, PNGPalette, true, func(xx, yy int) []int {
		return []int{int(two.ColorIndexAt(xx, yy))}
	}, plte, Chunk("tRNS", []byte{255, 0, 100})), RGB(two), 0)
	oneBit := image.NewGray(image.Rect(0, 0, 10, 3))
	for i := range oneBit.Pix {
		oneBit.Pix[i] = uint8(255 * (i % 3 % 2))
	}
	decodes("gray-1bit.png", "png", PNG(10, 3, 1, PNGGray, false, func(xx, yy int) []int {
		return []int{int(oneBit.GrayAt(xx, yy).Y) / 255}
	}), RGB(oneBit), 0)
	decodes("trailing-garbage.png", "png", append(pngOf(RGB(pat)), "after IEND"...), RGB(pat), 0)

	// GIF: the first frame, as PIL's Image.open shows.
	frame := func(seed int) *image.Paletted {
		m := image.NewPaletted(image.Rect(0, 0, 30, 20), palette.Plan9)
		for i := range m.Pix {
			m.Pix[i] = uint8(i*seed + seed)
		}
		return m
	}
	var still, anim bytes.Buffer
	must(gif.Encode(&still, frame(3), nil))
	decodes("still.gif", "gif", still.Bytes(), RGB(frame(3)), 0)
	must(gif.EncodeAll(&anim, &gif.GIF{Image: []*image.Paletted{frame(5), frame(7), frame(11)}, Delay: []int{10, 10, 10}}))
	decodes("animated.gif", "gif", anim.Bytes(), RGB(frame(5)), 0)

	// WebP: lossless from this package, lossy from cwebp.
	twoTone := image.NewNRGBA(image.Rect(0, 0, 21, 13))
	for yy := range 13 {
		for xx := range 21 {
			c := color.NRGBA{10, 20, 30, 255}
			if xx%3 == 0 {
				c.R = 220
			}
			if yy%2 == 0 {
				c.G = 180
			}
			if (xx+yy)%4 == 0 {
				c.B = 140
			}
			twoTone.SetNRGBA(xx, yy, c)
		}
	}
	decodes("lossless.webp", "webp", WebPLossless(twoTone), RGB(twoTone), 0)
	decodes("lossy.webp", "webp", mustHex(lossyWebP), RGB(Pattern(32, 32)), 16)
	alphaPattern := Pattern(32, 32)
	for i := 3; i < len(alphaPattern.Pix); i += 4 {
		alphaPattern.Pix[i] = uint8(8 * (i / 4 % 32))
	}
	decodes("lossy-alpha.webp", "webp", mustHex(lossyAlphaWebP), RGB(alphaPattern), 16)

	// BMP and TIFF: x/image's encoders.
	bmpOf := func(m image.Image) []byte {
		var buf bytes.Buffer
		must(bmp.Encode(&buf, m))
		return buf.Bytes()
	}
	decodes("rgb.bmp", "bmp", bmpOf(RGB(pat)), RGB(pat), 0)
	decodes("palette.bmp", "bmp", bmpOf(pal), RGB(pal), 0)
	// BMP's fourth byte is not alpha to x/image/bmp (nor to most viewers).
	decodes("rgba.bmp", "bmp", bmpOf(translucent), RGB(opaqueTranslucent), 0)
	tiffOf := func(m image.Image, c tiff.CompressionType) []byte {
		var buf bytes.Buffer
		must(tiff.Encode(&buf, m, &tiff.Options{Compression: c, Predictor: c == tiff.Deflate}))
		return buf.Bytes()
	}
	decodes("rgb.tiff", "tiff", tiffOf(RGB(pat), tiff.Uncompressed), RGB(pat), 0)
	decodes("deflate.tiff", "tiff", tiffOf(translucent, tiff.Deflate), RGB(translucent), 0)
	decodes("gray16.tiff", "tiff", tiffOf(gray16, tiff.Deflate), RGB(gray), 0)
	decodes("palette.tif", "tiff", tiffOf(pal, tiff.Uncompressed), RGB(pal), 0)

	// Not images, or formats we do not read.
	refused("empty.jpg", nil, decoder.ErrFormat)
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	refused("random.jpg", random, decoder.ErrFormat)
	refused("photo.heic", isoBMFF("heic", "mif1heic"), decoder.ErrFormat)
	refused("photo.avif", isoBMFF("avif", "avifmif1miaf"), decoder.ErrFormat)
	refused("drawing.svg", []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="20" fill="red"/></svg>`+"\n"), decoder.ErrFormat)
	refused("scan.pdf", []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"), decoder.ErrFormat)
	refused("error-page.jpg", []byte("<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n"), decoder.ErrFormat)
	refused("notes.txt.jpg", []byte("not a photo\n"), decoder.ErrFormat)
	// Valid JPEG variants that neither Go's parser nor our pipeline take.
	refused("12-bit.jpg", patchSOF(baseline.Bytes(), 0xC1, 12), decoder.ErrFormat)
	refused("lossless.jpg", patchSOF(baseline.Bytes(), 0xC3, 8), decoder.ErrFormat)
	refused("arithmetic.jpg", patchSOF(baseline.Bytes(), 0xC9, 8), decoder.ErrFormat)
	rle := bmpOf(pal)
	binary.LittleEndian.PutUint32(rle[30:], 1) // BI_RLE8
	refused("rle.bmp", rle, decoder.ErrFormat)
	refused("animated.webp", RIFF(
		RIFFChunk("VP8X", []byte{0x02, 0, 0, 0, 31, 0, 0, 31, 0, 0}),
		RIFFChunk("ANIM", make([]byte, 6)),
		RIFFChunk("ANMF", append(make([]byte, 16), mustHex(lossyWebP)[12:]...))), decoder.ErrFormat)

	// Corrupt or cut short.
	jpg := baseline.Bytes()
	refused("truncated.jpg", jpg[:len(jpg)/2], decoder.ErrCorrupt)
	refused("header-only.jpg", jpg[:40], decoder.ErrCorrupt)
	p := pngOf(RGB(pat))
	refused("truncated.png", p[:len(p)/2], decoder.ErrCorrupt)
	badCRC := bytes.Clone(p)
	badCRC[len(badCRC)-12-1] ^= 0xff // the last byte of IDAT's CRC
	refused("bad-crc.png", badCRC, decoder.ErrCorrupt)
	refused("zero-size.png", PNG(0, 0, 8, PNGRGB, false, rgbSamples), decoder.ErrCorrupt)
	refused("truncated.gif", anim.Bytes()[:anim.Len()/3], decoder.ErrCorrupt)
	lossless := WebPLossless(twoTone)
	refused("truncated.webp", lossless[:len(lossless)-8], decoder.ErrCorrupt)
	refused("truncated.bmp", bmpOf(pat)[:500], decoder.ErrCorrupt)
	refused("truncated.tiff", tiffOf(pat, tiff.Uncompressed)[:600], decoder.ErrCorrupt)
	add(Sample{Name: "garbage-scan.jpg", Data: garbageScan(jpg, rng), Err: decoder.ErrCorrupt, MayDecode: true, Format: "jpeg"})
	refused("scan-bomb.jpg", ManyScans(300), decoder.ErrCorrupt)

	// Decompression bombs: a small file whose header claims Bomb x Bomb
	// pixels, refused from the header.
	refused("bomb.jpg", JPEGHeader(Bomb, Bomb), decoder.ErrTooLarge)
	refused("bomb.png", PNGHeader(Bomb, Bomb), decoder.ErrTooLarge)
	gb := bytes.Clone(still.Bytes())
	binary.LittleEndian.PutUint16(gb[6:], Bomb)
	binary.LittleEndian.PutUint16(gb[8:], Bomb)
	refused("bomb.gif", gb, decoder.ErrTooLarge)
	bb := bmpOf(pat)
	binary.LittleEndian.PutUint32(bb[18:], Bomb)
	binary.LittleEndian.PutUint32(bb[22:], Bomb)
	refused("bomb.bmp", bb, decoder.ErrTooLarge)
	refused("bomb.tiff", patchTIFFSize(tiffOf(pat, tiff.Deflate), Bomb, Bomb), decoder.ErrTooLarge)
	refused("bomb.webp", WebPLosslessHeader(16384, 16384), decoder.ErrTooLarge)
	vp8 := mustHex(lossyWebP)
	// VP8 frame header after "RIFF....WEBPVP8 ....": 3-byte tag, start code, 14-bit sizes.
	binary.LittleEndian.PutUint16(vp8[26:], 16383)
	binary.LittleEndian.PutUint16(vp8[28:], 16383)
	refused("bomb-lossy.webp", vp8, decoder.ErrTooLarge)
	return s
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// planes splits img into component planes.
func planes(img *image.NRGBA, f func(color.NRGBA) []uint8) (a, b, c []uint8) {
	for i := 0; i < len(img.Pix); i += 4 {
		v := f(color.NRGBA{img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3]})
		a, b, c = append(a, v[0]), append(b, v[1]), append(c, v[2])
	}
	return a, b, c
}

// Inks returns a CMYK test image in four flat quadrants (cyan, magenta,
// half yellow with half black, a mix), each 8-pixel aligned so the JPEG
// blocks are flat.
func Inks(w, h int) *image.CMYK {
	img := image.NewCMYK(image.Rect(0, 0, w, h))
	quad := []color.CMYK{{255, 0, 0, 0}, {0, 255, 0, 0}, {0, 0, 255, 128}, {40, 80, 120, 30}}
	for y := range h {
		for x := range w {
			img.SetCMYK(x, y, quad[2*(y*2/h)+x*2/w])
		}
	}
	return img
}

// InksRGB is how libjpeg (and PIL) show inks: (255-c)(255-k)/255.
func InksRGB(inks *image.CMYK) *image.RGBA {
	b := inks.Bounds()
	out := image.NewRGBA(b)
	for i := 0; i < len(inks.Pix); i += 4 {
		k := 255 - int(inks.Pix[i+3])
		for ch := range 3 {
			out.Pix[i+ch] = uint8((255 - int(inks.Pix[i+ch])) * k / 255)
		}
		out.Pix[i+3] = 255
	}
	return out
}

// isoBMFF is the start of an HEIF/AVIF file: an ftyp box, then a meta box.
func isoBMFF(brand, compatible string) []byte {
	ftyp := append([]byte("ftyp"+brand+"\x00\x00\x00\x00"), compatible...)
	b := binary.BigEndian.AppendUint32(nil, uint32(4+len(ftyp)))
	b = append(b, ftyp...)
	b = append(b, 0, 0, 0, 0x21)
	b = append(b, "meta"...)
	return append(b, make([]byte, 0x21-8)...)
}

// patchSOF turns a baseline JPEG's SOF0 into another SOF marker and
// sample precision.
func patchSOF(jpg []byte, marker byte, precision byte) []byte {
	b := bytes.Clone(jpg)
	i := bytes.Index(b, []byte{0xFF, 0xC0})
	b[i+1], b[i+4] = marker, precision
	return b
}

// garbageScan keeps a JPEG's headers and replaces its entropy-coded data
// with random bytes (0xFF stuffed, so no marker appears).
func garbageScan(jpg []byte, rng *rand.Rand) []byte {
	i := bytes.Index(jpg, []byte{0xFF, 0xDA})
	i += 2 + int(binary.BigEndian.Uint16(jpg[i+2:]))
	b := bytes.Clone(jpg[:i])
	for range len(jpg) - i - 2 {
		v := byte(rng.Uint32())
		b = append(b, v)
		if v == 0xFF {
			b = append(b, 0)
		}
	}
	return append(b, 0xFF, 0xD9)
}

// ManyScans is a progressive JPEG with n scans: a DC scan, then the same
// AC band over and over (see decoder.MaxJPEGScans).
func ManyScans(n int) []byte {
	j := JPEG{Width: 16, Height: 16, Planes: [][]uint8{make([]uint8, 256)}, Adobe: -1, Progressive: true}
	b := j.Encode()
	// The AC scan of this flat gray image: SOS header then four EOBs.
	i := bytes.LastIndex(b, []byte{0xFF, 0xDA})
	ac := bytes.Clone(b[i : len(b)-2])
	out := bytes.Clone(b[:len(b)-2])
	for range n - 3 {
		out = append(out, ac...)
	}
	return append(out, 0xFF, 0xD9)
}

// patchTIFFSize rewrites ImageWidth and ImageLength in a little-endian
// TIFF's first IFD.
func patchTIFFSize(t []byte, w, h uint32) []byte {
	b := bytes.Clone(t)
	le := binary.LittleEndian
	ifd := int(le.Uint32(b[4:]))
	n := int(le.Uint16(b[ifd:]))
	for k := range n {
		e := b[ifd+2+12*k:]
		var v uint32
		switch le.Uint16(e) {
		case 256:
			v = w
		case 257:
			v = h
		default:
			continue
		}
		switch le.Uint16(e[2:]) {
		case 3: // SHORT
			le.PutUint16(e[8:], uint16(v))
		case 4: // LONG
			le.PutUint32(e[8:], v)
		}
	}
	return b
}
