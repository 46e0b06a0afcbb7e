package transforms

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/results"
)

func init() {
	register.DoFn5x1[context.Context, FaceRecord, func(*gallery.Row) bool, func(results.Row), func(UnknownFace), error](&matchFn{})
	register.Iter1[gallery.Row]()
	register.Emitter1[results.Row]()
	register.Emitter1[UnknownFace]()
}

var (
	facesMatched = beam.NewCounter("facebatch", "faces_matched")
	facesUnknown = beam.NewCounter("facebatch", "faces_unknown")
	imagesDone   = beam.NewCounter("facebatch", "images_done")
)

// MatchConfig is what every result row records about how it was made.
type MatchConfig struct {
	RunID          string
	Threshold      float64
	TopK           int
	ModelID        string
	Profile        string
	Detector       string
	GalleryVersion string
	WithEmbeddings bool
	// ProgressEvery is the interval between progress log lines (0: 10s).
	ProgressEvery time.Duration
}

// MatchFaces labels each face with the nearest gallery identity (or
// unknown) and turns every record into a results row. galleryRows is the
// gallery table, used as a side input. The faces that matched no one also
// come out as UnknownFaces, for ClusterFaces.
func MatchFaces(s beam.Scope, recs, galleryRows beam.PCollection, cfg MatchConfig) (rows, unknown beam.PCollection) {
	s = s.Scope("transforms.MatchFaces")
	return beam.ParDo2(s, &matchFn{Config: cfg}, recs, beam.SideInput{Input: galleryRows})
}

type matchFn struct {
	Config MatchConfig

	once       sync.Once
	gallery    *matcher.Gallery
	galleryErr error

	start, lastLog time.Time
	images, faces  int64
}

func (f *matchFn) ProcessElement(ctx context.Context, r FaceRecord, rows func(*gallery.Row) bool, emit func(results.Row), unknown func(UnknownFace)) error {
	// Materialise the side input once per DoFn instance: re-reading it per
	// element costs milliseconds each on a large gallery.
	f.once.Do(func() {
		f.gallery, f.galleryErr = gallery.Build(collect(rows), f.Config.Threshold)
	})
	if f.galleryErr != nil {
		return f.galleryErr
	}
	out, err := resultRow(r, f.gallery, f.Config, time.Now())
	if err != nil {
		return err
	}
	f.progress(ctx, r)
	switch {
	case out.Accepted:
		facesMatched.Inc(ctx, 1)
	case out.Status == results.StatusOK && r.Embedding != nil:
		facesUnknown.Inc(ctx, 1)
		unknown(UnknownFace{URI: r.Ref.URI, Index: r.Index, X: r.X, Y: r.Y, W: r.W, H: r.H, TakenAt: r.TakenAt, Embedding: r.Embedding})
	}
	emit(out)
	return nil
}

func (f *matchFn) progress(ctx context.Context, r FaceRecord) {
	now := time.Now()
	if f.start.IsZero() {
		f.start, f.lastLog = now, now
	}
	if r.Index <= 0 {
		f.images++
		imagesDone.Inc(ctx, 1)
	}
	if r.HasFace() {
		f.faces++
	}
	every := f.Config.ProgressEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	if now.Sub(f.lastLog) >= every {
		f.lastLog = now
		rate := float64(f.images) / now.Sub(f.start).Seconds()
		log.Infof(ctx, "identify: %d images, %d faces, %.1f images/s", f.images, f.faces, rate)
	}
}

// resultRow is the results row for one record.
func resultRow(r FaceRecord, g *matcher.Gallery, cfg MatchConfig, now time.Time) (results.Row, error) {
	row := results.Row{
		RunID:          cfg.RunID,
		ImageURI:       r.Ref.URI,
		Detector:       cfg.Detector,
		Threshold:      cfg.Threshold,
		ModelID:        cfg.ModelID,
		Profile:        cfg.Profile,
		GalleryVersion: cfg.GalleryVersion,
		Status:         r.Status,
		ProcessedAt:    now.UnixMilli(),
	}
	if r.SHA256 != "" {
		row.ImageSHA256 = ptr(r.SHA256)
	}
	if r.Width > 0 {
		row.ImageWidth, row.ImageHeight = ptr(int32(r.Width)), ptr(int32(r.Height))
	}
	if r.Error != "" {
		row.Error = ptr(r.Error)
	}
	if !r.HasFace() {
		return row, nil
	}
	row.FaceIndex = ptr(int32(r.Index))
	row.BoxX, row.BoxY, row.BoxW, row.BoxH = ptr(int32(r.X)), ptr(int32(r.Y)), ptr(int32(r.W)), ptr(int32(r.H))
	row.DetectorScore = ptr(r.Score)
	if r.Embedding == nil { // the encoder failed on this face; Status says how
		return row, nil
	}
	id, err := g.Identify(r.Embedding, cfg.TopK)
	if err != nil {
		return row, fmt.Errorf("transforms: matching %s face %d: %w", r.Ref.URI, r.Index, err)
	}
	row.Distance = ptr(id.Distance)
	row.Accepted = id.Accepted
	if id.Accepted {
		row.Identity = ptr(id.Identity)
	}
	if !math.IsInf(id.Margin, 1) { // +Inf: no runner-up in the gallery
		row.Margin = ptr(id.Margin)
	}
	for _, c := range id.Candidates {
		row.Candidates = append(row.Candidates, results.Candidate{Identity: c.Identity, Distance: c.Distance})
	}
	if cfg.WithEmbeddings {
		row.Embedding = r.Embedding
	}
	return row, nil
}

func ptr[T any](v T) *T { return &v }
