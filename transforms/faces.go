package transforms

import (
	"context"
	"fmt"
	"image"
	"runtime"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/results"
)

func init() {
	register.DoFn3x1[context.Context, Photo, func(FaceRecord), error](&findFacesFn{})
	register.Emitter1[FaceRecord]()
}

var (
	facesFound   = beam.NewCounter("facebatch", "faces")
	imagesNoFace = beam.NewCounter("facebatch", "images_no_face")
	imagesFailed = beam.NewCounter("facebatch", "images_failed")
)

// FaceConfig says how faces are found.
type FaceConfig struct {
	// Detector is "mtcnn", "pigo" or "none" (the whole image is the face).
	Detector string
	// MinFaceSize is the smallest face side searched, in pixels (0: the
	// detector's default).
	MinFaceSize int
	// MaxPixels refuses larger images before decoding them.
	MaxPixels int
	// Preview bounds the long side of the copy of a larger photo faces
	// are found on (faces.Finder.Preview); 0 detects on the photo itself.
	Preview int
	// Margin enlarges detected boxes before cropping.
	Margin float64
	// Template, when set, aligns faces with landmarks to these points of
	// the model input instead of cropping their boxes, with the transform
	// Align names (the profile's).
	Template *detector.Landmarks
	Align    string
	// Resize is the profile's resize method (see encoder.Resize).
	Resize string
	// Width and Height are the model's input size.
	Width, Height int
	// Parallelism bounds the photos decoded at once (0: GOMAXPROCS).
	Parallelism int
	// Cascade is pigo's cascade, read where the pipeline is built and
	// shipped to the workers with this config.
	Cascade []byte
	// MTCNNDir is the exported MTCNN detector, an absolute path the
	// workers can read (the launcher's $FACEBATCH_MTCNN).
	MTCNNDir string
	// Session sizes TensorFlow's threads (see encoder.PinProcess); the
	// decoder may be the process's first session.
	Session encoder.Session
	// Subject keeps, of a photo with several faces, only the face it is
	// of (faces.Photo.Dominant), for gallery photos; an ambiguous photo
	// becomes one face-less record with status several_faces.
	Subject bool
}

// FindFaces decodes each photo and emits one record per face, or one
// face-less record with a status (no_face, decode_error, ...) per photo
// without faces, so no photo is lost.
func FindFaces(s beam.Scope, photos beam.PCollection, cfg FaceConfig) beam.PCollection {
	s = s.Scope("transforms.FindFaces")
	return beam.ParDo(s, &findFacesFn{Config: cfg}, photos)
}

// findFacesFn decodes a bundle's photos on a bounded pool of goroutines:
// runners give a single machine one bundle at a time, so the parallelism
// has to come from inside the DoFn.
type findFacesFn struct {
	Config FaceConfig

	finder  *faces.Finder
	pending []Photo
	batch   int // photos per FindAll; 0 means faces.DefaultBatch (tests set less)
}

func (f *findFacesFn) Setup() error {
	if err := encoder.PinProcess(f.Config.Session); err != nil {
		return err
	}
	dec, err := sharedDecoder(f.Config.MaxPixels)
	if err != nil {
		return err
	}
	det, err := sharedDetector(f.Config.Detector, detector.Options{
		MinSize: f.Config.MinFaceSize, Cascade: f.Config.Cascade, MTCNNDir: f.Config.MTCNNDir,
	})
	if err != nil {
		return err
	}
	f.finder = &faces.Finder{
		Decoder:  dec,
		Detector: det,
		Size:     image.Pt(f.Config.Width, f.Config.Height),
		Margin:   f.Config.Margin,
		Resize:   f.Config.Resize,
		Template: f.Config.Template,
		Align:    f.Config.Align,
		Preview:  f.Config.Preview,
	}
	return nil
}

func (f *findFacesFn) workers() int {
	if f.Config.Parallelism > 0 {
		return f.Config.Parallelism
	}
	return runtime.GOMAXPROCS(0)
}

func (f *findFacesFn) batchSize() int {
	if f.batch > 0 {
		return f.batch
	}
	return faces.DefaultBatch
}

func (f *findFacesFn) ProcessElement(ctx context.Context, p Photo, emit func(FaceRecord)) error {
	if p.Status != results.StatusOK {
		imagesFailed.Inc(ctx, 1)
		emit(photoRecord(p, p.Status, p.Error))
		return nil
	}
	f.pending = append(f.pending, p)
	if len(f.pending) >= f.batchSize()*f.workers() {
		f.flush(ctx, emit)
	}
	return nil
}

func (f *findFacesFn) FinishBundle(ctx context.Context, emit func(FaceRecord)) error {
	f.flush(ctx, emit)
	return nil
}

// flush finds the faces of the pending photos, a batch at a time on each
// worker (faces.Finder.FindAll), then emits in input order from this
// goroutine (emitters are not safe for concurrent use).
func (f *findFacesFn) flush(ctx context.Context, emit func(FaceRecord)) {
	out := make([][]FaceRecord, len(f.pending))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(f.workers(), len(f.pending)) {
		wg.Go(func() {
			for start := range jobs {
				batch := f.pending[start:min(start+f.batchSize(), len(f.pending))]
				data := make([][]byte, len(batch))
				for i, p := range batch {
					data[i] = p.Data
				}
				photos, errs := f.finder.FindAll(data)
				for i, p := range batch {
					out[start+i] = f.records(p, photos[i], errs[i])
				}
			}
		})
	}
	for start := 0; start < len(f.pending); start += f.batchSize() {
		jobs <- start
	}
	close(jobs)
	wg.Wait()
	for _, recs := range out {
		for _, r := range recs {
			switch {
			case r.HasFace():
				facesFound.Inc(ctx, 1)
			case r.Status == results.StatusNoFace:
				imagesNoFace.Inc(ctx, 1)
			default:
				imagesFailed.Inc(ctx, 1)
			}
			emit(r)
		}
	}
	f.pending = f.pending[:0]
}

// records are a photo's records: one per face kept, or one face-less
// record with the reason there is none.
func (f *findFacesFn) records(p Photo, photo faces.Photo, err error) []FaceRecord {
	if err != nil {
		rec := photoRecord(p, statusOf(err), err.Error())
		rec.Width, rec.Height = photo.Width, photo.Height
		return []FaceRecord{rec}
	}
	if len(photo.Faces) == 0 {
		rec := photoRecord(p, results.StatusNoFace, "no face found")
		rec.Width, rec.Height = photo.Width, photo.Height
		return []FaceRecord{rec}
	}
	if f.Config.Subject && len(photo.Faces) > 1 {
		face, ok := photo.Dominant()
		if !ok {
			rec := photoRecord(p, gallery.StatusSeveralFaces,
				fmt.Sprintf("%d faces found and none at least %d times the area of the others; a gallery photo must show one person clearly", len(photo.Faces), faces.Dominance))
			rec.Width, rec.Height, rec.Faces = photo.Width, photo.Height, len(photo.Faces)
			return []FaceRecord{rec}
		}
		ignored := len(photo.Faces) - 1
		photo.Faces = []faces.Face{face}
		recs := f.faceRecords(p, photo)
		recs[0].Ignored = ignored
		return recs
	}
	return f.faceRecords(p, photo)
}

// faceRecords are the photo's faces as records.
func (f *findFacesFn) faceRecords(p Photo, photo faces.Photo) []FaceRecord {
	var taken int64
	if t, ok := decoder.TakenAt(p.Data); ok {
		taken = t.UnixMilli()
	}
	recs := make([]FaceRecord, len(photo.Faces))
	for i, face := range photo.Faces {
		recs[i] = FaceRecord{
			Ref: p.Ref, SHA256: p.SHA256, Width: photo.Width, Height: photo.Height,
			Faces: len(photo.Faces), Index: i,
			X: face.Box.Min.X, Y: face.Box.Min.Y, W: face.Box.Dx(), H: face.Box.Dy(),
			Score:   face.Score,
			TakenAt: taken,
			Pixels:  face.Input.Pix,
			Status:  results.StatusOK,
		}
	}
	return recs
}
