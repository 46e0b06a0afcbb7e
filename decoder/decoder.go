// Package decoder turns image bytes into RGB pixels exactly as the notebook
// saw them.
//
// The notebook decoded with PIL, i.e. libjpeg with the ISLOW integer DCT and
// fancy chroma upsampling. Go's image/jpeg differs from that by up to 40
// levels on chroma-subsampled files, which moves encodings visibly, so JPEGs
// are decoded by TensorFlow's DecodeJpeg (libjpeg-turbo, INTEGER_ACCURATE) in
// the runtime the encoder already links. Lossless formats go through Go's
// decoders, which are exact.
package decoder

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif"  // first frame, as PIL's Image.open does
	_ "image/jpeg" // header parsing only: JPEG pixels come from TensorFlow
	_ "image/png"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"
	tg "github.com/galeone/tfgo"
)

// DefaultMaxPixels refuses images over about 50 megapixels before decoding:
// a small file can claim a huge canvas and exhaust memory.
const DefaultMaxPixels = 50_000_000

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
	pixels    tf.Output
}

// New builds the JPEG decoding graph once; maxPixels <= 0 means DefaultMaxPixels.
func New(maxPixels int) (*Decoder, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	root := tg.NewRoot()
	input := op.Placeholder(root.SubScope("jpeg"), tf.String)
	pixels := op.DecodeJpeg(root.SubScope("decode"), input,
		op.DecodeJpegChannels(3),
		op.DecodeJpegDctMethod("INTEGER_ACCURATE"),
		op.DecodeJpegFancyUpscaling(true),
		op.DecodeJpegTryRecoverTruncated(false))
	graph, err := root.Finalize()
	if err != nil {
		return nil, fmt.Errorf("decoder: building the JPEG graph: %w", err)
	}
	session, err := tf.NewSession(graph, nil)
	if err != nil {
		return nil, fmt.Errorf("decoder: starting a TensorFlow session: %w", err)
	}
	return &Decoder{maxPixels: maxPixels, session: session, input: input, pixels: pixels}, nil
}

// Close releases the TensorFlow session.
func (d *Decoder) Close() error { return d.session.Close() }

// Decode returns the image as opaque RGB (alpha dropped, not blended, as
// PIL's convert("RGB") does), turned upright by its EXIF orientation, and
// the format name.
func (d *Decoder) Decode(data []byte) (img *image.RGBA, format string, err error) {
	// Go's image decoders have panicked on hostile input; never let one
	// take the worker down.
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("%w: decoder panic: %v", ErrCorrupt, r)
		}
	}()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if errors.Is(err, image.ErrFormat) {
		return nil, "", ErrFormat
	}
	if err != nil {
		return nil, format, fmt.Errorf("%w: %s header: %v", ErrCorrupt, format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, format, fmt.Errorf("%w: %s is %dx%d", ErrCorrupt, format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(d.maxPixels) {
		return nil, format, fmt.Errorf("%w: %dx%d is over %d pixels", ErrTooLarge, cfg.Width, cfg.Height, d.maxPixels)
	}
	if format == "jpeg" {
		if img, err = d.decodeJPEG(data, cfg); err != nil {
			return nil, format, err
		}
		// Cameras store the sensor's pixels and say in EXIF how to turn
		// them; detection needs the face upright.
		return Orient(img, Orientation(data)), format, nil
	}
	m, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, format, fmt.Errorf("%w: %s: %v", ErrCorrupt, format, err)
	}
	return toRGB(m), format, nil
}

func (d *Decoder) decodeJPEG(data []byte, cfg image.Config) (*image.RGBA, error) {
	in, err := tf.NewTensor(string(data))
	if err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	out, err := d.session.Run(map[tf.Output]*tf.Tensor{d.input: in}, []tf.Output{d.pixels}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: jpeg: %v", ErrCorrupt, err)
	}
	shape := out[0].Shape()
	if len(shape) != 3 || shape[2] != 3 {
		return nil, fmt.Errorf("%w: jpeg decoded to shape %v", ErrCorrupt, shape)
	}
	h, w := int(shape[0]), int(shape[1])
	if w != cfg.Width || h != cfg.Height {
		return nil, fmt.Errorf("%w: jpeg header says %dx%d, data %dx%d", ErrCorrupt, cfg.Width, cfg.Height, w, h)
	}
	var rgb bytes.Buffer
	rgb.Grow(w * h * 3)
	if _, err := out[0].WriteContentsTo(&rgb); err != nil {
		return nil, fmt.Errorf("decoder: reading pixels: %w", err)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	src, dst := rgb.Bytes(), img.Pix
	for i, j := 0, 0; i+2 < len(src); i, j = i+3, j+4 {
		dst[j], dst[j+1], dst[j+2], dst[j+3] = src[i], src[i+1], src[i+2], 0xff
	}
	return img, nil
}

// toRGB keeps each pixel's straight (non-premultiplied) colour and drops alpha.
func toRGB(m image.Image) *image.RGBA {
	b := m.Bounds()
	img := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(m.At(x, y)).(color.NRGBA)
			i := img.PixOffset(x-b.Min.X, y-b.Min.Y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 0xff
		}
	}
	return img
}
