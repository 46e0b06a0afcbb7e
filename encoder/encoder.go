// Package encoder runs the FaceNet SavedModel on TensorFlow and turns face
// images into 128-number unit encodings, as the notebook's img_to_encoding.
package encoder

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"unsafe"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	tg "github.com/galeone/tfgo"

	"github.com/facebatch/facebatch/models"
)

// ErrEncode is wrapped by every error from running the model.
var ErrEncode = errors.New("encoder: encoding failed")

// Options tune how the model is loaded.
type Options struct {
	// Profile names the preprocessing profile of the manifest; "" is its default.
	Profile string
	// Session tunes TensorFlow's threads and devices.
	Session Session
}

// Encoder holds one loaded SavedModel. It is safe for concurrent use: all
// calls share one TensorFlow session, which is itself thread-safe.
type Encoder struct {
	manifest *models.Manifest
	profile  models.Profile
	model    *tg.Model
	input    tf.Output
	output   tf.Output
}

// Load reads the manifest in dir and loads the SavedModel it names.
func Load(dir string, opts Options) (*Encoder, error) {
	m, err := models.Load(dir)
	if err != nil {
		return nil, err
	}
	profile, err := m.Profile(opts.Profile)
	if err != nil {
		return nil, err
	}
	config, err := opts.Session.ConfigProto()
	if err != nil {
		return nil, err
	}
	e := &Encoder{manifest: m, profile: profile}
	// tfgo panics on every error; keep panics from crossing our API.
	err = protect(func() {
		e.model = tg.LoadModel(m.SavedModelDir(), m.Tags, &tf.SessionOptions{Config: config})
		e.input = e.model.Op(m.Input.Tensor.Op, m.Input.Tensor.Index)
		e.output = e.model.Op(m.Output.Op, m.Output.Index)
	})
	if err != nil {
		return nil, fmt.Errorf("encoder: loading %s: %w", m.SavedModelDir(), err)
	}
	return e, nil
}

// Manifest describes the loaded model.
func (e *Encoder) Manifest() *models.Manifest { return e.manifest }

// ModelID identifies the exported weights; every output row carries it.
func (e *Encoder) ModelID() string { return e.manifest.ModelID }

// Profile is the preprocessing profile in use.
func (e *Encoder) Profile() models.Profile { return e.profile }

// Size is the model's square input side in pixels.
func (e *Encoder) Size() image.Point {
	return image.Pt(e.manifest.Input.Width, e.manifest.Input.Height)
}

// Input is the image exactly as the model sees it, before the pixels become
// floats: resized to the model's input size with the profile's method.
func (e *Encoder) Input(img image.Image) *image.RGBA {
	w, h := e.manifest.Input.Width, e.manifest.Input.Height
	// Both resize methods map an image of the target size onto itself, and
	// the jobs hand over face crops already resized: skip the copy.
	if rgba, ok := img.(*image.RGBA); ok && rgba.Rect == image.Rect(0, 0, w, h) {
		return rgba
	}
	return Resize(img, w, h, e.profile.Resize)
}

// Encode returns one L2-normalised encoding per image, computed in one
// session run.
func (e *Encoder) Encode(ctx context.Context, imgs []image.Image) ([][]float32, error) {
	raw, err := e.EncodeRaw(ctx, imgs)
	if err != nil {
		return nil, err
	}
	for i, v := range raw {
		if err := Normalize(v); err != nil {
			return nil, fmt.Errorf("%w: image %d: %v", ErrEncode, i, err)
		}
	}
	return raw, nil
}

// EncodeRaw returns the model's outputs before normalisation (with the
// profile's Flip, the sum of the face's and its mirror image's).
func (e *Encoder) EncodeRaw(ctx context.Context, imgs []image.Image) ([][]float32, error) {
	if len(imgs) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := len(imgs)
	if e.profile.Flip {
		n *= 2
	}
	inputs := make([]*image.RGBA, 0, n)
	for _, img := range imgs {
		in := e.Input(img)
		inputs = append(inputs, in)
		if e.profile.Flip {
			inputs = append(inputs, mirror(in))
		}
	}
	out, err := e.run(inputs)
	if err != nil || !e.profile.Flip {
		return out, err
	}
	for i := range imgs {
		v, m := out[2*i], out[2*i+1]
		for k := range v {
			v[k] += m[k]
		}
		out[i] = v
	}
	return out[:len(imgs)], nil
}

// mirror returns img flipped left to right.
func mirror(img *image.RGBA) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		src := img.Pix[img.PixOffset(b.Min.X, y):img.PixOffset(b.Max.X, y)]
		dst := out.Pix[out.PixOffset(b.Min.X, y):out.PixOffset(b.Max.X, y)]
		for x := 0; x < len(src); x += 4 {
			copy(dst[len(dst)-4-x:len(dst)-x], src[x:x+4])
		}
	}
	return out
}

// run feeds the model-sized images in one batch. The float pixels are
// written straight into TensorFlow's tensor buffer: a batch of 64 is 20 MB,
// and building it in Go first would double the copying and the garbage.
func (e *Encoder) run(imgs []*image.RGBA) (out [][]float32, err error) {
	in := e.manifest.Input
	n := len(imgs)
	shape := []int64{int64(n), int64(in.Height), int64(in.Width), int64(in.Channels)}
	tensor, err := tf.ReadTensor(tf.Float, shape, &pixelReader{imgs: imgs, pixels: e.profile.Pixels})
	if err != nil {
		return nil, fmt.Errorf("%w: building the input tensor: %v", ErrEncode, err)
	}
	var results []*tf.Tensor
	if err := protect(func() {
		results = e.model.Exec([]tf.Output{e.output}, map[tf.Output]*tf.Tensor{e.input: tensor})
	}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEncode, err)
	}
	got, ok := results[0].Value().([][]float32)
	if !ok || len(got) != n {
		return nil, fmt.Errorf("%w: output shape %v, want [%d %d]", ErrEncode, results[0].Shape(), n, e.manifest.EmbeddingSize)
	}
	for i, v := range got {
		if len(v) != e.manifest.EmbeddingSize {
			return nil, fmt.Errorf("%w: encoding %d has %d values, want %d", ErrEncode, i, len(v), e.manifest.EmbeddingSize)
		}
	}
	return got, nil
}

// pixelReader streams a batch of images as the profile's float pixels in
// host byte order, the layout of a TensorFlow float tensor.
type pixelReader struct {
	imgs   []*image.RGBA
	pixels string
	buf    []float32 // the current image's floats
	rest   []byte    // the part of buf not read yet
}

func (r *pixelReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.rest) == 0 {
			if len(r.imgs) == 0 {
				if n == 0 {
					return 0, io.EOF
				}
				break
			}
			r.buf = appendPixels(r.buf[:0], r.imgs[0], r.pixels)
			r.imgs = r.imgs[1:]
			r.rest = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(r.buf))), 4*len(r.buf))
		}
		c := copy(p[n:], r.rest)
		r.rest = r.rest[c:]
		n += c
	}
	return n, nil
}

// appendPixels appends the profile's float input, RGB order: x/255
// ("div255"), or the image standardised to zero mean and unit variance
// ("standardize", with the std floored at 1/sqrt(n) as FaceNet's
// prewhiten does, so a flat image does not blow up).
func appendPixels(dst []float32, img *image.RGBA, pixels string) []float32 {
	start := len(dst)
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, y):img.PixOffset(b.Max.X, y)]
		for i := 0; i < len(row); i += 4 {
			dst = append(dst, float32(row[i]), float32(row[i+1]), float32(row[i+2]))
		}
	}
	vals := dst[start:]
	if pixels != "standardize" {
		for i := range vals {
			vals[i] /= 255
		}
		return dst
	}
	var sum, sq float64
	for _, v := range vals {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(vals))
	mean := sum / n
	std := math.Max(math.Sqrt(math.Max(sq/n-mean*mean, 0)), 1/math.Sqrt(n))
	for i, v := range vals {
		vals[i] = float32((float64(v) - mean) / std)
	}
	return dst
}

// Normalize scales v to unit L2 length in place.
func Normalize(v []float32) error {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	norm := math.Sqrt(sum)
	if norm == 0 || math.IsNaN(norm) || math.IsInf(norm, 0) {
		return fmt.Errorf("cannot normalise a vector of norm %v", norm)
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / norm)
	}
	return nil
}

// protect turns a panic in fn (tfgo's way of reporting errors) into an error.
func protect(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			switch r := r.(type) {
			case error:
				err = r
			default:
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	fn()
	return nil
}
