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
	"github.com/facebatch/facebatch/gemm"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

func init() {
	register.DoFn5x1[context.Context, FaceRecord, func(*gallery.Row) bool, func(results.Row), func(UnknownFace), error](&matchFn{})
	register.DoFn4x1[context.Context, FaceRecord, func(results.Row), func(UnknownFace), error](&matchTableFn{})
	register.Iter1[gallery.Row]()
	register.Emitter1[results.Row]()
	register.Emitter1[UnknownFace]()
}

var (
	facesMatched = beam.NewCounter("facebatch", "faces_matched")
	facesUnknown = beam.NewCounter("facebatch", "faces_unknown")
	imagesDone   = beam.NewCounter("facebatch", "images_done")
)

// Faces are matched matchBatch at a time, so that scanning the gallery is
// one matrix product per batch. From tfScanFrom encodings on, the product
// runs on TensorFlow's kernels (package gemm); below that, Go's loops cost
// less than a session run.
const (
	matchBatch = 256
	tfScanFrom = 4096
)

// MatchConfig is what every result row records about how it was made.
type MatchConfig struct {
	RunID     string
	Threshold float64
	// ThresholdSource is results.Row.ThresholdSource.
	ThresholdSource string
	// SourceRunID is results.Row.SourceRunID: the run rematch relabels.
	SourceRunID    string
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

// MatchFacesFromTable is MatchFaces with each worker reading the gallery
// table at dir itself, in Setup, instead of taking it as a side input. A
// runner holds a ParDo's main input until its side inputs are complete,
// and the direct runner does so in memory: rematch, whose input is a
// whole results table read at the matcher's speed, held 2.8 GB for 1M
// faces that way.
func MatchFacesFromTable(s beam.Scope, recs beam.PCollection, dir string, cfg MatchConfig) (rows, unknown beam.PCollection) {
	s = s.Scope("transforms.MatchFaces")
	return beam.ParDo2(s, &matchTableFn{Dir: dir, Config: cfg}, recs)
}

type matchTableFn struct {
	Dir    string
	Config MatchConfig

	m *matchFn
}

func (f *matchTableFn) Setup(ctx context.Context) error {
	rows, err := tables.ReadAll[gallery.Row](ctx, f.Dir)
	if err != nil {
		return fmt.Errorf("transforms: reading the gallery: %w", err)
	}
	f.m = &matchFn{Config: f.Config}
	f.m.gallery, err = newGallery(rows, f.Config.Threshold)
	return err
}

// newGallery is the matcher gallery of the table's rows, scanned on
// TensorFlow's kernels when it is large.
func newGallery(rows []gallery.Row, threshold float64) (*matcher.Gallery, error) {
	g, err := gallery.Build(rows, threshold)
	if err == nil && g.Len() >= tfScanFrom {
		g.SetScorer(gemm.NewScorer)
	}
	return g, err
}

func (f *matchTableFn) ProcessElement(ctx context.Context, r FaceRecord, emit func(results.Row), unknown func(UnknownFace)) error {
	return f.m.handle(ctx, r, emit, unknown)
}

func (f *matchTableFn) FinishBundle(ctx context.Context, emit func(results.Row), unknown func(UnknownFace)) error {
	return f.m.flush(ctx, emit, unknown)
}

func (f *matchTableFn) Teardown() error {
	if f.m != nil && f.m.gallery != nil {
		return f.m.gallery.Close()
	}
	return nil
}

type matchFn struct {
	Config MatchConfig

	once       sync.Once
	gallery    *matcher.Gallery
	galleryErr error
	pending    []FaceRecord // encoded faces waiting for a batch

	start, lastLog time.Time
	images, faces  int64
}

func (f *matchFn) ProcessElement(ctx context.Context, r FaceRecord, rows func(*gallery.Row) bool, emit func(results.Row), unknown func(UnknownFace)) error {
	// Materialise the side input once per DoFn instance: re-reading it per
	// element costs milliseconds each on a large gallery.
	f.once.Do(func() { f.gallery, f.galleryErr = newGallery(collect(rows), f.Config.Threshold) })
	if f.galleryErr != nil {
		return f.galleryErr
	}
	return f.handle(ctx, r, emit, unknown)
}

// handle matches r, once the gallery is in place.
func (f *matchFn) handle(ctx context.Context, r FaceRecord, emit func(results.Row), unknown func(UnknownFace)) error {
	f.progress(ctx, r)
	if r.HasFace() && r.Embedding != nil {
		f.pending = append(f.pending, r)
		if len(f.pending) >= matchBatch {
			return f.flush(ctx, emit, unknown)
		}
		return nil
	}
	out, err := resultRow(r, f.gallery, f.Config, time.Now())
	if err != nil {
		return err
	}
	f.emit(ctx, r, out, emit, unknown)
	return nil
}

func (f *matchFn) FinishBundle(ctx context.Context, _ func(*gallery.Row) bool, emit func(results.Row), unknown func(UnknownFace)) error {
	return f.flush(ctx, emit, unknown)
}

func (f *matchFn) Teardown() error {
	if f.gallery != nil {
		return f.gallery.Close()
	}
	return nil
}

// flush matches the pending faces in one IdentifyBatch call: the gallery
// scan becomes one matrix product for all of them.
func (f *matchFn) flush(ctx context.Context, emit func(results.Row), unknown func(UnknownFace)) error {
	if len(f.pending) == 0 {
		return nil
	}
	embs := make([][]float32, len(f.pending))
	for i, r := range f.pending {
		embs[i] = r.Embedding
	}
	now := time.Now()
	ids, batchErr := f.gallery.IdentifyBatch(embs, f.Config.TopK)
	for i, r := range f.pending {
		var out results.Row
		if batchErr != nil {
			// Find the face at fault and report it as resultRow does.
			var err error
			if out, err = resultRow(r, f.gallery, f.Config, now); err != nil {
				return err
			}
		} else {
			out = withMatch(baseRow(r, f.Config, now), r, ids[i], f.Config)
		}
		f.emit(ctx, r, out, emit, unknown)
	}
	f.pending = f.pending[:0]
	return nil
}

// emit counts and emits r's row; a face that matched no one also goes to
// unknown, with its embedding, for clustering.
func (f *matchFn) emit(ctx context.Context, r FaceRecord, out results.Row, emit func(results.Row), unknown func(UnknownFace)) {
	switch {
	case out.Accepted:
		facesMatched.Inc(ctx, 1)
	case out.Status == results.StatusOK && r.Embedding != nil:
		facesUnknown.Inc(ctx, 1)
		unknown(UnknownFace{URI: r.Ref.URI, Index: r.Index, X: r.X, Y: r.Y, W: r.W, H: r.H, TakenAt: r.TakenAt, Embedding: r.Embedding})
	}
	emit(out)
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
	row := baseRow(r, cfg, now)
	if !r.HasFace() || r.Embedding == nil { // no face, or the encoder failed on it; Status says how
		return row, nil
	}
	id, err := g.Identify(r.Embedding, cfg.TopK)
	if err != nil {
		return row, fmt.Errorf("transforms: matching %s face %d: %w", r.Ref.URI, r.Index, err)
	}
	return withMatch(row, r, id, cfg), nil
}

// baseRow is a record's row before matching: the image, the run, and the
// face's box when there is one.
func baseRow(r FaceRecord, cfg MatchConfig, now time.Time) results.Row {
	row := results.Row{
		RunID:           cfg.RunID,
		ImageURI:        r.Ref.URI,
		Detector:        cfg.Detector,
		Threshold:       cfg.Threshold,
		ThresholdSource: cfg.ThresholdSource,
		ModelID:         cfg.ModelID,
		Profile:         cfg.Profile,
		GalleryVersion:  cfg.GalleryVersion,
		Status:          r.Status,
		ProcessedAt:     now.UnixMilli(),
	}
	if r.SHA256 != "" {
		row.ImageSHA256 = ptr(r.SHA256)
	}
	if cfg.SourceRunID != "" {
		row.SourceRunID = ptr(cfg.SourceRunID)
	}
	if r.Width > 0 {
		row.ImageWidth, row.ImageHeight = ptr(int32(r.Width)), ptr(int32(r.Height))
	}
	if r.Error != "" {
		row.Error = ptr(r.Error)
	}
	if !r.HasFace() {
		return row
	}
	row.FaceIndex = ptr(int32(r.Index))
	row.BoxX, row.BoxY, row.BoxW, row.BoxH = ptr(int32(r.X)), ptr(int32(r.Y)), ptr(int32(r.W)), ptr(int32(r.H))
	row.DetectorScore = ptr(r.Score)
	return row
}

// withMatch fills in a face's match.
func withMatch(row results.Row, r FaceRecord, id matcher.Identification, cfg MatchConfig) results.Row {
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
	return row
}

func ptr[T any](v T) *T { return &v }
