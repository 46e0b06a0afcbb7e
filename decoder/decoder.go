// Package decoder turns image bytes into RGB pixels exactly as the notebook
// saw them.
//
// The notebook decoded with PIL, i.e. libjpeg with the ISLOW integer DCT and
// fancy chroma upsampling. Go's image/jpeg differs from that by up to 40
// levels on chroma-subsampled files, which moves encodings visibly, so JPEGs
// are decoded by TensorFlow's DecodeJpeg (libjpeg-turbo, INTEGER_ACCURATE) in
// the runtime the encoder already links. That covers every JPEG libjpeg
// reads as 8-bit DCT: baseline and progressive, gray, YCbCr, RGB (Adobe
// transform 0), and CMYK/YCCK, which TensorFlow turns into RGB as
// (255-c)(255-k)/255 with Adobe's inverted storage honoured: the
// colours are right, within one level of PIL (TensorFlow truncates where PIL
// rounds). Go's image/jpeg would give the same colours, so there is no
// fallback to it.
//
// The other formats go through Go's decoders: PNG (every colour type and
// depth, palettes with tRNS, Adam7), GIF (the first frame), BMP, TIFF and
// WebP (lossy and lossless). The lossless ones are exact. Lossy WebP
// differs from libwebp's output by a few levels: x/image upsamples chroma
// without libwebp's "fancy" filter.
package decoder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // first frame, as PIL's Image.open does
	"image/jpeg"  // header parsing only: JPEG pixels come from TensorFlow
	"image/png"

	// The decoder owns the formats it reads: importing these registers
	// them with package image. BMP (uncompressed 1-32 bit), TIFF (baseline,
	// LZW, Deflate, PackBits) and WebP (lossy and lossless; not animated)
	// decode in Go; their unsupported variants are refused as ErrFormat.
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"
	tg "github.com/galeone/tfgo"
)

// DefaultMaxPixels refuses images over 64 megapixels before decoding: a
// small file can claim a huge canvas and exhaust memory. It admits the
// largest camera photos (a "50 MP" sensor writes 8688x5792, 50.3 MP; a
// "61 MP" one 9504x6336, 60.2 MP), which cost at most 256 MiB as RGBA.
const DefaultMaxPixels = 64_000_000

var (
	// ErrFormat means the bytes are not an image format we decode.
	ErrFormat = errors.New("decoder: unsupported image format")
	// ErrTooLarge means the header claims more pixels than allowed.
	ErrTooLarge = errors.New("decoder: image too large")
	// ErrCorrupt means the format was recognised but the data is broken.
	ErrCorrupt = errors.New("decoder: corrupt image")
)

// Decoder decodes images. It is safe for concurrent use.
type Decoder struct {
	maxPixels int
	session   *tf.Session
	input     tf.Output
	// pixels[k] and crops[k] decode at 1/ratios[k] scale in the DCT
	// domain, the whole JPEG or the crop window.
	pixels, crops []tf.Output
	window        tf.Output
	// resize shrinks raw pixels to size with area averaging.
	raw, size, resized tf.Output
}

// ratios are the scales libjpeg decodes at directly, as 1/ratio.
var ratios = []int{1, 2, 4, 8}

// New builds the JPEG decoding graph once; maxPixels <= 0 means DefaultMaxPixels.
func New(maxPixels int) (*Decoder, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	root := tg.NewRoot()
	d := &Decoder{maxPixels: maxPixels}
	d.input = op.Placeholder(root.SubScope("jpeg"), tf.String)
	d.window = op.Placeholder(root.SubScope("window"), tf.Int32)
	for _, r := range ratios {
		d.pixels = append(d.pixels, op.DecodeJpeg(root.SubScope(fmt.Sprintf("decode%d", r)), d.input,
			op.DecodeJpegChannels(3),
			op.DecodeJpegRatio(int64(r)),
			op.DecodeJpegDctMethod("INTEGER_ACCURATE"),
			op.DecodeJpegFancyUpscaling(true),
			op.DecodeJpegTryRecoverTruncated(false)))
		d.crops = append(d.crops, op.DecodeAndCropJpeg(root.SubScope(fmt.Sprintf("crop%d", r)), d.input, d.window,
			op.DecodeAndCropJpegChannels(3),
			op.DecodeAndCropJpegRatio(int64(r)),
			op.DecodeAndCropJpegDctMethod("INTEGER_ACCURATE"),
			op.DecodeAndCropJpegFancyUpscaling(true),
			op.DecodeAndCropJpegTryRecoverTruncated(false)))
	}
	s := root.SubScope("resize")
	d.raw = op.Placeholder(s.SubScope("raw"), tf.Uint8)
	d.size = op.Placeholder(s.SubScope("size"), tf.Int32)
	area := op.ResizeArea(s, op.ExpandDims(s, d.raw, op.Const(s.SubScope("axis"), int32(0))), d.size)
	d.resized = op.Squeeze(s, op.Cast(s, op.Round(s, area), tf.Uint8), op.SqueezeAxis([]int64{0}))
	graph, err := root.Finalize()
	if err != nil {
		return nil, fmt.Errorf("decoder: building the JPEG graph: %w", err)
	}
	if d.session, err = tf.NewSession(graph, nil); err != nil {
		return nil, fmt.Errorf("decoder: starting a TensorFlow session: %w", err)
	}
	return d, nil
}

// Close releases the TensorFlow session.
func (d *Decoder) Close() error { return d.session.Close() }

// Decode returns the image as opaque RGB (translucent pixels composited
// over white, see toRGB), turned upright by its EXIF orientation, and the
// format name. It is Open followed by Source.Full.
//
// Errors wrap ErrFormat (not an image, or a variant we do not read: HEIC,
// AVIF, SVG, PDF, 12-bit, lossless or arithmetic-coded JPEG, RLE BMP,
// animated WebP...), ErrTooLarge (the header claims more than the pixel
// limit: refused before any pixel memory is allocated) or ErrCorrupt
// (recognised but broken or truncated). A panic in a decoder becomes
// ErrCorrupt.
func (d *Decoder) Decode(data []byte) (*image.RGBA, string, error) {
	src, err := d.Open(data)
	if err != nil {
		return nil, src.Format(), err
	}
	img, err := src.Full()
	return img, src.Format(), err
}

// Open reads and checks data's header, without decoding pixels: the
// format, the size against the pixel limit, the EXIF orientation. Its
// errors are Decode's; the Source is never nil, and names the format when
// the header gave one.
func (d *Decoder) Open(data []byte) (src *Source, err error) {
	src = &Source{d: d, data: data, orient: OrientNormal}
	// Go's image decoders have panicked on hostile input; never let one
	// take the worker down.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoder panic: %v", ErrCorrupt, r)
		}
	}()
	if animatedWebP(data) {
		src.format = "webp"
		return src, fmt.Errorf("%w: animated WebP", ErrFormat)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if errors.Is(err, image.ErrFormat) {
		if what := sniff(data); what != "" {
			return src, fmt.Errorf("%w: %s", ErrFormat, what)
		}
		return src, ErrFormat
	}
	src.format = format
	if err != nil {
		return src, refusal(format+" header", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return src, fmt.Errorf("%w: %s is %dx%d", ErrCorrupt, format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(d.maxPixels) {
		return src, fmt.Errorf("%w: %dx%d is over %d pixels", ErrTooLarge, cfg.Width, cfg.Height, d.maxPixels)
	}
	src.stored = image.Pt(cfg.Width, cfg.Height)
	if format == "jpeg" {
		if n := jpegScans(data); n > MaxJPEGScans {
			return src, fmt.Errorf("%w: jpeg has over %d scans", ErrCorrupt, MaxJPEGScans)
		}
		// Cameras store the sensor's pixels and say in EXIF how to turn
		// them; detection needs the face upright.
		src.orient = Orientation(data)
	}
	return src, nil
}

// refusal wraps a Go decoder's error: a valid but unimplemented feature
// means a format we do not read (ErrFormat); anything else is ErrCorrupt.
func refusal(what string, err error) error {
	var (
		jpegErr jpeg.UnsupportedError
		pngErr  png.UnsupportedError
		tiffErr tiff.UnsupportedError
	)
	if errors.As(err, &jpegErr) || errors.As(err, &pngErr) || errors.As(err, &tiffErr) || errors.Is(err, bmp.ErrUnsupported) {
		return fmt.Errorf("%w: %s: %v", ErrFormat, what, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
}

// sniff names the common things that are not images we read, for the
// error message; "" when it cannot tell.
func sniff(data []byte) string {
	head := bytes.ToLower(bytes.TrimSpace(data[:min(len(data), 512)]))
	switch {
	case len(data) == 0:
		return "empty file"
	case len(data) >= 12 && string(data[4:8]) == "ftyp":
		brand := string(data[8:12])
		switch brand {
		case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1":
			return "HEIF/HEIC (ftyp " + brand + ")"
		case "avif", "avis":
			return "AVIF (ftyp " + brand + ")"
		}
		return fmt.Sprintf("ISO media file (ftyp %q)", brand)
	case bytes.HasPrefix(data, []byte("%PDF-")):
		return "PDF"
	case bytes.Contains(head, []byte("<svg")):
		return "SVG"
	case bytes.HasPrefix(head, []byte("<!doctype html")) || bytes.HasPrefix(head, []byte("<html")):
		return "HTML"
	}
	return ""
}

// animatedWebP reports whether data is an extended WebP with the animation
// flag: x/image/webp reads still images only.
func animatedWebP(data []byte) bool {
	return len(data) >= 21 && string(data[:4]) == "RIFF" && string(data[8:16]) == "WEBPVP8X" && data[20]&0x02 != 0
}

// MaxJPEGScans bounds the scans of a (progressive) JPEG. libjpeg walks
// every block of the image in every scan (about 2 ms a scan on a 16
// megapixel canvas, measured here), and with end-of-band runs a scan over
// the whole canvas takes a few bytes: a small file of thousands of scans
// would hold a worker for minutes. Encoders write about 10 (libjpeg's
// default progression); none writes hundreds.
const MaxJPEGScans = 256

// jpegScans counts the SOS markers of a JPEG, walking its marker segments
// and skipping entropy-coded data; it stops counting past MaxJPEGScans, at
// EOI, or where the structure breaks (the decoder reports that).
func jpegScans(data []byte) int {
	n := 0
	for i := 2; i+1 < len(data) && n <= MaxJPEGScans; {
		if data[i] != 0xFF {
			return n
		}
		m := data[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0xD9: // EOI
			return n
		case m == 0x01 || m == 0xD8 || (m >= 0xD0 && m <= 0xD7): // no length
			i += 2
			continue
		}
		if i+3 >= len(data) {
			return n
		}
		i += 2 + int(binary.BigEndian.Uint16(data[i+2:]))
		if m != 0xDA {
			continue
		}
		n++
		// Entropy-coded data runs to the next marker other than a stuffed
		// zero or a restart marker.
		for ; i+1 < len(data); i++ {
			if next := data[i+1]; data[i] == 0xFF && next != 0 && (next < 0xD0 || next > 0xD7) {
				break
			}
		}
	}
	return n
}

// run runs one fetch of the decoding graph and returns its uint8 pixels,
// checking they are w x h RGB.
func (d *Decoder) run(feeds map[tf.Output]*tf.Tensor, fetch tf.Output, w, h int) (*image.RGBA, error) {
	out, err := d.session.Run(feeds, []tf.Output{fetch}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: jpeg: %v", ErrCorrupt, err)
	}
	shape := out[0].Shape()
	if len(shape) != 3 || shape[2] != 3 {
		return nil, fmt.Errorf("%w: jpeg decoded to shape %v", ErrCorrupt, shape)
	}
	if gh, gw := int(shape[0]), int(shape[1]); gw != w || gh != h {
		return nil, fmt.Errorf("%w: jpeg header says %dx%d, data %dx%d", ErrCorrupt, w, h, gw, gh)
	}
	return rgba(out[0], w, h)
}

// rgba copies a uint8 [h, w, 3] tensor into a new opaque RGBA image.
func rgba(t *tf.Tensor, w, h int) (*image.RGBA, error) {
	var rgb bytes.Buffer
	rgb.Grow(w * h * 3)
	if _, err := t.WriteContentsTo(&rgb); err != nil {
		return nil, fmt.Errorf("decoder: reading pixels: %w", err)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	src, dst := rgb.Bytes(), img.Pix
	for i, j := 0, 0; i+2 < len(src); i, j = i+3, j+4 {
		dst[j], dst[j+1], dst[j+2], dst[j+3] = src[i], src[i+1], src[i+2], 0xff
	}
	return img, nil
}

// toRGB composites the image over white, the background browsers and
// photo viewers show transparent pixels on: a GIF or PNG cut-out of a
// person on a transparent background is a face on white to anyone who
// looks at it, and should be to the detector (black, what dropping alpha
// gives a transparent pixel, is not). Opaque pixels keep their colour
// exactly, as PIL's convert("RGB") does; for translucent ones PIL drops
// alpha instead. The common layouts are read directly: going through the
// premultiplied color.Color of a 16-bit or WebP pixel would round it.
func toRGB(m image.Image) *image.RGBA {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	set := func(x, y int, r, g, bl uint8) {
		i := y*img.Stride + 4*x
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = r, g, bl, 0xff
	}
	// over sets a straight-colour pixel of alpha a, composited over white.
	over := func(x, y int, r, g, bl, a uint8) {
		if a != 0xff {
			r, g, bl = onWhite(r, a), onWhite(g, a), onWhite(bl, a)
		}
		set(x, y, r, g, bl)
	}
	switch src := m.(type) {
	case *image.NRGBA:
		for y := range h {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range w {
				over(x, y, row[4*x], row[4*x+1], row[4*x+2], row[4*x+3])
			}
		}
		return img
	case *image.NRGBA64:
		for y := range h {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range w {
				p := row[8*x : 8*x+8]
				a := uint32(p[6])<<8 | uint32(p[7])
				c := func(i int) uint8 { return onWhite16(uint32(p[i])<<8|uint32(p[i+1]), a) }
				set(x, y, c(0), c(2), c(4))
			}
		}
		return img
	case *image.Gray:
		for y := range h {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range w {
				set(x, y, row[x], row[x], row[x])
			}
		}
		return img
	case *image.Gray16:
		for y := range h {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range w {
				set(x, y, row[2*x], row[2*x], row[2*x])
			}
		}
		return img
	case *image.Paletted:
		var pal [256]color.NRGBA
		for i, c := range src.Palette {
			if i < len(pal) {
				pal[i] = color.NRGBAModel.Convert(c).(color.NRGBA)
			}
		}
		for y := range h {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range w {
				// An index past the palette (At would panic) is black.
				c := pal[row[x]]
				if int(row[x]) >= len(src.Palette) {
					c = color.NRGBA{A: 0xff}
				}
				over(x, y, c.R, c.G, c.B, c.A)
			}
		}
		return img
	case *image.NYCbCrA:
		// The colour planes give the straight colour, the A plane alpha.
		for y := range h {
			for x := range w {
				c := color.NRGBAModel.Convert(src.YCbCr.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				over(x, y, c.R, c.G, c.B, src.A[src.AOffset(b.Min.X+x, b.Min.Y+y)])
			}
		}
		return img
	}
	for y := range h {
		for x := range w {
			c := color.NRGBAModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			over(x, y, c.R, c.G, c.B, c.A)
		}
	}
	return img
}

// onWhite is the straight colour value v of alpha a over white, rounded.
func onWhite(v, a uint8) uint8 {
	return uint8((uint32(v)*uint32(a) + 0xff*(0xff-uint32(a)) + 0x7f) / 0xff)
}

// onWhite16 is onWhite for 16-bit values, to 8 bits (the high byte, as the
// opaque case takes it).
func onWhite16(v, a uint32) uint8 {
	return uint8((v*a + 0xffff*(0xffff-a) + 0x7fff) / 0xffff >> 8)
}
