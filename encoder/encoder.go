// Package encoder runs the FaceNet SavedModel on TensorFlow and turns face
// images into 128-number unit encodings, as the notebook's img_to_encoding.
package encoder

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"math"

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
	// Session is passed to TensorFlow as is (thread counts, GPU options); nil
	// lets TensorFlow choose.
	Session *tf.SessionOptions
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
	e := &Encoder{manifest: m, profile: profile}
	// tfgo panics on every error; keep panics from crossing our API.
	err = protect(func() {
		e.model = tg.LoadModel(m.SavedModelDir(), m.Tags, opts.Session)
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
	return Resize(img, e.manifest.Input.Width, e.manifest.Input.Height, e.profile.Resize)
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
	w, h, c := e.manifest.Input.Width, e.manifest.Input.Height, e.manifest.Input.Channels
	n := len(imgs)
	if e.profile.Flip {
		n *= 2
	}
	batch := make([]float32, 0, n*w*h*c)
	for _, img := range imgs {
		in := e.Input(img)
		batch = appendPixels(batch, in, e.profile.Pixels)
		if e.profile.Flip {
			batch = appendPixels(batch, mirror(in), e.profile.Pixels)
		}
	}
	out, err := e.run(batch, n)
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

// run feeds n preprocessed images laid out NHWC in batch.
func (e *Encoder) run(batch []float32, n int) (out [][]float32, err error) {
	in := e.manifest.Input
	buf := make([]byte, 4*len(batch))
	for i, v := range batch {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	shape := []int64{int64(n), int64(in.Height), int64(in.Width), int64(in.Channels)}
	tensor, err := tf.ReadTensor(tf.Float, shape, bytes.NewReader(buf))
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
