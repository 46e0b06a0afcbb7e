package transforms

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

func init() {
	register.DoFn3x1[context.Context, []byte, func(string), error](&listPartsFn{})
	register.DoFn3x1[context.Context, string, func(results.Row), error](&readPartFn{})
	register.DoFn2x1[results.Row, func(FaceRecord), error](&recordFn{})
	register.Emitter1[string]()
}

// NotRematched starts the error of a face row rematch could not label
// again: the table it read holds no embedding for it.
const NotRematched = "not rematched: the source row has no embedding (run identify with --with-embeddings)"

// ReadResults reads a results table, one part per worker at a time: the
// parts are listed when the pipeline runs and spread by a reshuffle.
func ReadResults(s beam.Scope, dir string) beam.PCollection {
	s = s.Scope("transforms.ReadResults")
	parts := beam.ParDo(s, &listPartsFn{Dir: dir}, beam.Impulse(s))
	return beam.ParDo(s, &readPartFn{}, beam.Reshuffle(s, parts))
}

type listPartsFn struct{ Dir string }

func (f *listPartsFn) ProcessElement(ctx context.Context, _ []byte, emit func(string)) error {
	parts, err := tables.Parts(ctx, f.Dir)
	if err != nil {
		return err
	}
	for _, p := range parts {
		emit(p)
	}
	return nil
}

type readPartFn struct{}

// ProcessElement streams the part: a part of a million-face run with
// embeddings is hundreds of MB.
func (f *readPartFn) ProcessElement(ctx context.Context, part string, emit func(results.Row)) error {
	return tables.ScanPart(ctx, part, func(rows []results.Row) error {
		for _, r := range rows {
			emit(r)
		}
		return nil
	})
}

// ResultRecords turns the rows of an earlier results table back into the
// records MatchFaces labels: a face row with its embedding is matched
// again; a face row without one keeps its status and says why it was not
// (NotRematched); an image row (no face, unreadable) passes through.
// Every row must come from modelID and profile, the gallery's: an
// embedding of another model is not comparable, and the job fails.
func ResultRecords(s beam.Scope, rows beam.PCollection, modelID, profile string) beam.PCollection {
	s = s.Scope("transforms.ResultRecords")
	return beam.ParDo(s, &recordFn{ModelID: modelID, Profile: profile}, rows)
}

type recordFn struct{ ModelID, Profile string }

func (f *recordFn) ProcessElement(r results.Row, emit func(FaceRecord)) error {
	if r.ModelID != f.ModelID || r.Profile != f.Profile {
		return fmt.Errorf("transforms: %s was made by model %s, profile %s; the gallery by %s, %s: %w",
			r.ImageURI, r.ModelID, r.Profile, f.ModelID, f.Profile, ErrMismatch)
	}
	rec := FaceRecord{Ref: ImageRef{URI: r.ImageURI}, Index: -1, Status: r.Status, Embedding: r.Embedding}
	if r.ImageSHA256 != nil {
		rec.SHA256 = *r.ImageSHA256
	}
	if r.ImageWidth != nil && r.ImageHeight != nil {
		rec.Width, rec.Height = int(*r.ImageWidth), int(*r.ImageHeight)
	}
	if r.Error != nil {
		rec.Error = *r.Error
	}
	if r.FaceIndex != nil {
		rec.Index = int(*r.FaceIndex)
		rec.X, rec.Y, rec.W, rec.H = int(orZero(r.BoxX)), int(orZero(r.BoxY)), int(orZero(r.BoxW)), int(orZero(r.BoxH))
		rec.Score = orZero(r.DetectorScore)
		if rec.Status == results.StatusOK && len(rec.Embedding) == 0 {
			rec.Embedding, rec.Error = nil, NotRematched
		}
	}
	emit(rec)
	return nil
}

// ErrMismatch means a row and the gallery come from different models or
// profiles.
var ErrMismatch = errors.New("model or profile mismatch")

func orZero[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
