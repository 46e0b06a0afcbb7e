package transforms

import (
	"context"
	"image"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/facebatch/facebatch/encoder"
)

func init() {
	register.DoFn3x1[context.Context, FaceRecord, func(FaceRecord), error](&encodeFn{})
}

var facesEncoded = beam.NewCounter("facebatch", "faces_encoded")

// EncodeConfig says which model encodes the faces, and in what batches.
type EncodeConfig struct {
	ModelDir string
	Profile  string
	// BatchSize is the number of faces per TensorFlow session run.
	BatchSize int
}

// EncodeFaces sets each face's unit embedding, batching faces across photos.
// Face-less records pass through untouched.
func EncodeFaces(s beam.Scope, recs beam.PCollection, cfg EncodeConfig) beam.PCollection {
	s = s.Scope("transforms.EncodeFaces")
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 32
	}
	return beam.ParDo(s, &encodeFn{Config: cfg}, recs)
}

type encodeFn struct {
	Config EncodeConfig

	enc     *encoder.Encoder
	pending []FaceRecord
}

func (f *encodeFn) Setup() error {
	var err error
	f.enc, err = sharedEncoder(f.Config.ModelDir, f.Config.Profile)
	return err
}

func (f *encodeFn) ProcessElement(ctx context.Context, r FaceRecord, emit func(FaceRecord)) error {
	if !r.HasFace() {
		emit(r)
		return nil
	}
	f.pending = append(f.pending, r)
	if len(f.pending) >= f.Config.BatchSize {
		return f.flush(ctx, emit)
	}
	return nil
}

func (f *encodeFn) FinishBundle(ctx context.Context, emit func(FaceRecord)) error {
	return f.flush(ctx, emit)
}

func (f *encodeFn) flush(ctx context.Context, emit func(FaceRecord)) error {
	if len(f.pending) == 0 {
		return nil
	}
	size := f.enc.Size()
	imgs := make([]image.Image, len(f.pending))
	for i, r := range f.pending {
		imgs[i] = &image.RGBA{Pix: r.Pixels, Stride: 4 * size.X, Rect: image.Rect(0, 0, size.X, size.Y)}
	}
	embs, err := f.enc.Encode(ctx, imgs)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		// One bad face must not fail the batch: retry alone to find it.
		embs = make([][]float32, len(imgs))
		for i := range imgs {
			one, err := f.enc.Encode(ctx, imgs[i:i+1])
			if err != nil {
				f.pending[i].Status, f.pending[i].Error = statusOf(err), err.Error()
				continue
			}
			embs[i] = one[0]
		}
	}
	for i := range f.pending {
		r := f.pending[i]
		r.Pixels = nil
		r.Embedding = embs[i]
		if r.Embedding != nil {
			facesEncoded.Inc(ctx, 1)
		}
		emit(r)
	}
	f.pending = f.pending[:0]
	return nil
}
