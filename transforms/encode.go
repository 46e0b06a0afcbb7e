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
	// Inflight is the number of batches encoded at once while the bundle
	// goes on reading and decoding (0: 1).
	Inflight int
	// Session tunes TensorFlow's threads and devices.
	Session encoder.Session
}

// EncodeFaces sets each face's unit embedding, batching faces across photos.
// Face-less records pass through untouched.
func EncodeFaces(s beam.Scope, recs beam.PCollection, cfg EncodeConfig) beam.PCollection {
	s = s.Scope("transforms.EncodeFaces")
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 32
	}
	if cfg.Inflight <= 0 {
		cfg.Inflight = 1
	}
	return beam.ParDo(s, &encodeFn{Config: cfg}, recs)
}

// encodeFn hands each full batch to a goroutine and keeps taking records,
// so TensorFlow encodes one batch while the upstream steps of the same
// bundle read and decode the next: runners feed a bundle from a single
// goroutine, and without this the two would take turns on the CPU.
// Encoded batches are emitted from ProcessElement and FinishBundle, in the
// order they were submitted, since emitters are not safe for concurrent use.
type encodeFn struct {
	Config EncodeConfig

	enc      *encoder.Encoder
	pending  []FaceRecord
	inflight []*faceBatch
}

// faceBatch is one session run's faces and, once done is closed, its
// encodings.
type faceBatch struct {
	recs []FaceRecord
	embs [][]float32
	errs []error
	done chan struct{}
}

func (f *encodeFn) Setup() error {
	if err := encoder.PinProcess(f.Config.Session); err != nil {
		return err
	}
	var err error
	f.enc, err = sharedEncoder(f.Config.ModelDir, f.Config.Profile, f.Config.Session)
	return err
}

func (f *encodeFn) ProcessElement(ctx context.Context, r FaceRecord, emit func(FaceRecord)) error {
	if !r.HasFace() {
		emit(r)
		return nil
	}
	f.pending = append(f.pending, r)
	if len(f.pending) >= f.Config.BatchSize {
		f.submit(ctx)
	}
	return f.drain(ctx, emit, max(f.Config.Inflight, 1))
}

func (f *encodeFn) FinishBundle(ctx context.Context, emit func(FaceRecord)) error {
	f.submit(ctx)
	return f.drain(ctx, emit, 0)
}

// submit starts encoding the pending faces.
func (f *encodeFn) submit(ctx context.Context) {
	if len(f.pending) == 0 {
		return
	}
	b := &faceBatch{recs: f.pending, done: make(chan struct{})}
	f.pending = nil
	f.inflight = append(f.inflight, b)
	go func() {
		defer close(b.done)
		b.embs, b.errs = encodeBatch(ctx, f.enc, b.recs)
	}()
}

// drain emits every finished batch at the head of the queue, and waits
// for batches until at most limit are still running.
func (f *encodeFn) drain(ctx context.Context, emit func(FaceRecord), limit int) error {
	for len(f.inflight) > 0 {
		b := f.inflight[0]
		if len(f.inflight) > limit {
			<-b.done
		} else {
			select {
			case <-b.done:
			default:
				return nil
			}
		}
		f.inflight = f.inflight[1:]
		if err := ctx.Err(); err != nil {
			return err
		}
		for i, r := range b.recs {
			r.Pixels = nil
			r.Embedding = b.embs[i]
			if err := b.errs[i]; err != nil {
				r.Status, r.Error = statusOf(err), err.Error()
			} else {
				facesEncoded.Inc(ctx, 1)
			}
			emit(r)
		}
	}
	return nil
}

// encodeBatch encodes the faces in one session run. One bad face must not
// fail the batch: when the run fails, each face is retried alone.
func encodeBatch(ctx context.Context, enc *encoder.Encoder, recs []FaceRecord) ([][]float32, []error) {
	size := enc.Size()
	imgs := make([]image.Image, len(recs))
	for i, r := range recs {
		imgs[i] = &image.RGBA{Pix: r.Pixels, Stride: 4 * size.X, Rect: image.Rect(0, 0, size.X, size.Y)}
	}
	errs := make([]error, len(recs))
	embs, err := enc.Encode(ctx, imgs)
	if err == nil {
		return embs, errs
	}
	embs = make([][]float32, len(imgs))
	for i := range imgs {
		one, err := enc.Encode(ctx, imgs[i:i+1])
		if err != nil {
			errs[i] = err
			continue
		}
		embs[i] = one[0]
	}
	return embs, errs
}
