package transforms

import (
	"context"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

func init() {
	register.DoFn3x1[context.Context, string, func(gallery.Row), error](&readGalleryFn{})
	register.DoFn5x1[context.Context, Photo, func(*gallery.Row) bool, func(gallery.Row), func(Photo), error](&reuseFn{})
	register.DoFn3x0[context.Context, FaceRecord, func(gallery.Row)](&galleryRowFn{})
	register.Emitter1[gallery.Row]()
}

var (
	photosReused  = beam.NewCounter("facebatch", "gallery_reused")
	photosEncoded = beam.NewCounter("facebatch", "gallery_encoded")
)

// ReadGallery reads every row of the gallery table in dir. The table's
// completeness is checked where the pipeline is built (pipelines.Prepare),
// not here: a nightly run that updates a gallery in place removes the
// marker of the table it is about to read.
func ReadGallery(s beam.Scope, dir string) beam.PCollection {
	s = s.Scope("transforms.ReadGallery")
	return beam.ParDo(s, &readGalleryFn{}, beam.Create(s, dir))
}

type readGalleryFn struct{}

func (f *readGalleryFn) ProcessElement(ctx context.Context, dir string, emit func(gallery.Row)) error {
	parts, err := tables.Parts(ctx, dir)
	if err != nil {
		return err
	}
	for _, p := range parts {
		rows, err := tables.Read[gallery.Row](ctx, p)
		if err != nil {
			return err
		}
		for _, r := range rows {
			emit(r)
		}
	}
	return nil
}

// GalleryConfig is what every gallery row records about how it was made.
type GalleryConfig struct {
	RunID    string
	ModelID  string
	Profile  string
	Detector string
	// CalibrateFPIR, when > 0, has the table's manifest carry the
	// threshold for this FPIR, measured on its own photos
	// (gallery.Calibrate).
	CalibrateFPIR float64
}

// ReuseGallery splits photos into rows reused from the previous gallery
// table (same bytes, model, profile and detector: encoding again would give
// the same row) and photos that must be encoded.
func ReuseGallery(s beam.Scope, photos, previous beam.PCollection, cfg GalleryConfig) (reused, toEncode beam.PCollection) {
	s = s.Scope("transforms.ReuseGallery")
	return beam.ParDo2(s, &reuseFn{Config: cfg}, photos, beam.SideInput{Input: previous})
}

type reuseKey struct{ sha, model, profile, detector string }

type reuseFn struct {
	Config GalleryConfig

	previous map[reuseKey]gallery.Row
}

func (f *reuseFn) ProcessElement(ctx context.Context, p Photo, prev func(*gallery.Row) bool, reused func(gallery.Row), encode func(Photo)) error {
	if f.previous == nil {
		f.previous = map[reuseKey]gallery.Row{}
		for _, r := range collect(prev) {
			if r.ImageSHA256 != nil {
				f.previous[reuseKey{*r.ImageSHA256, r.ModelID, r.Profile, r.Detector}] = r
			}
		}
	}
	if p.Status == results.StatusOK {
		if r, ok := f.previous[reuseKey{p.SHA256, f.Config.ModelID, f.Config.Profile, f.Config.Detector}]; ok {
			// The photo may have moved: name and identity come from this run.
			r.ImageURI, r.Identity = p.Ref.URI, p.Ref.Identity
			photosReused.Inc(ctx, 1)
			reused(r)
			return nil
		}
	}
	encode(p)
	return nil
}

// GalleryRows turns encoded (or rejected) records into gallery rows.
func GalleryRows(s beam.Scope, recs beam.PCollection, cfg GalleryConfig) beam.PCollection {
	s = s.Scope("transforms.GalleryRows")
	return beam.ParDo(s, &galleryRowFn{Config: cfg}, recs)
}

type galleryRowFn struct {
	Config GalleryConfig
}

func (f *galleryRowFn) ProcessElement(ctx context.Context, r FaceRecord, emit func(gallery.Row)) {
	row := gallery.Row{
		Identity:  r.Ref.Identity,
		ImageURI:  r.Ref.URI,
		ModelID:   f.Config.ModelID,
		Profile:   f.Config.Profile,
		Detector:  f.Config.Detector,
		Status:    r.Status,
		RunID:     f.Config.RunID,
		EncodedAt: time.Now().UnixMilli(),
	}
	if r.SHA256 != "" {
		row.ImageSHA256 = ptr(r.SHA256)
	}
	if r.Error != "" {
		row.Error = ptr(r.Error)
	}
	if r.HasFace() {
		row.BoxX, row.BoxY, row.BoxW, row.BoxH = ptr(int32(r.X)), ptr(int32(r.Y)), ptr(int32(r.W)), ptr(int32(r.H))
		row.DetectorScore = ptr(r.Score)
		if r.Ignored > 0 {
			row.IgnoredFaces = ptr(int32(r.Ignored))
		}
		row.Embedding = r.Embedding
		if r.Embedding != nil {
			photosEncoded.Inc(ctx, 1)
		}
	}
	emit(row)
}
