package pipelines

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/models"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
	"github.com/facebatch/facebatch/transforms"
)

// RematchConfig configures the rematch job: an earlier results table's
// faces labelled again against a (newer) gallery from the embeddings the
// table holds, without reading, decoding, detecting or encoding a photo.
type RematchConfig struct {
	// Results is a complete results table written with embeddings
	// (identify --with-embeddings, or rematch).
	Results string
	// Gallery is a gallery table of the same model and profile.
	Gallery string
	Output  string
	// ModelDir holds the model manifest, for the profile's default
	// thresholds; no model is loaded.
	ModelDir string
	// Matching is identify's, with the same defaults.
	Matching
	Shards int
	RunID  string

	modelID, profile, detector  string
	galleryVersion, sourceRunID string
}

// Prepare validates the config, and refuses a table and gallery of
// different models or profiles before any work.
func (c *RematchConfig) Prepare(ctx context.Context) error {
	switch {
	case c.Results == "":
		return fmt.Errorf("%w: --results is required", ErrConfig)
	case c.Gallery == "":
		return fmt.Errorf("%w: --gallery is required", ErrConfig)
	case c.Output == "":
		return fmt.Errorf("%w: --output is required", ErrConfig)
	}
	absolute(&c.Results, &c.Gallery, &c.Output, &c.ModelDir)
	if strings.TrimSuffix(c.Output, "/") == strings.TrimSuffix(c.Results, "/") {
		return fmt.Errorf("%w: --output must differ from --results: the table is read while the new one is written", ErrConfig)
	}
	marker, err := tables.ReadMarker(ctx, c.Results)
	if err != nil {
		return fmt.Errorf("%w: --results: %v", ErrConfig, err)
	}
	c.sourceRunID = marker.RunID
	first, err := firstFace(ctx, c.Results)
	if err != nil {
		return fmt.Errorf("%w: --results: %v", ErrConfig, err)
	}
	gm, err := gallery.ReadManifest(ctx, c.Gallery)
	if err != nil {
		return fmt.Errorf("%w: --gallery: %v", ErrConfig, err)
	}
	if first != nil && (first.ModelID != gm.ModelID || first.Profile != gm.Profile) {
		return fmt.Errorf("%w: %w: %s was made by model %s, profile %s; the gallery %s by %s, %s: rematch compares embeddings of one model and profile",
			ErrConfig, ErrModelMismatch, c.Results, first.ModelID, first.Profile, c.Gallery, gm.ModelID, gm.Profile)
	}
	c.modelID, c.profile, c.detector, c.galleryVersion = gm.ModelID, gm.Profile, gm.Detector, gm.Version
	if first != nil {
		c.detector = first.Detector
	}

	if c.ModelDir == "" {
		if c.ModelDir, err = models.DefaultDir(); err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
	}
	m, err := models.Load(c.ModelDir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if m.ModelID != c.modelID {
		return fmt.Errorf("%w: %w: the manifest in %s is model %s, the tables %s", ErrConfig, ErrModelMismatch, c.ModelDir, m.ModelID, c.modelID)
	}
	p, err := m.Profile(c.profile)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if err := c.Matching.check(c.Output, p); err != nil {
		return err
	}
	c.chooseThreshold(gm.Calibration, p)
	if c.Shards <= 0 {
		c.Shards = DefaultShards
	}
	if c.RunID == "" {
		c.RunID = NewRunID(time.Now())
	}
	return c.startOutputs(ctx, c.Output)
}

// SourceRunID is the run whose table is relabelled (after Prepare).
func (c *RematchConfig) SourceRunID() string { return c.sourceRunID }

// firstFace is the first face row of the table, nil when it has none.
func firstFace(ctx context.Context, dir string) (*results.Row, error) {
	var first *results.Row
	err := tables.Scan(ctx, dir, func(rows []results.Row) error {
		for i := range rows {
			if rows[i].FaceIndex != nil {
				r := rows[i]
				first = &r
				return errFound
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return nil, err
	}
	return first, nil
}

// errFound stops a scan early.
var errFound = errors.New("found")

// Rematch adds the rematch job to s and returns its result rows.
func Rematch(s beam.Scope, c RematchConfig) beam.PCollection {
	recs := transforms.ResultRecords(s, transforms.ReadResults(s, c.Results), c.modelID, c.profile)
	rows, unknown := transforms.MatchFacesFromTable(s, recs, c.Gallery, transforms.MatchConfig{
		RunID:           c.RunID,
		Threshold:       c.Threshold,
		ThresholdSource: c.ThresholdSource,
		SourceRunID:     c.sourceRunID,
		TopK:            c.TopK,
		ModelID:         c.modelID,
		Profile:         c.profile,
		Detector:        c.detector,
		GalleryVersion:  c.galleryVersion,
		// Kept, so that the next gallery can be rematched against this
		// table in turn.
		WithEmbeddings: true,
	})
	return c.Matching.write(s, rows, unknown,
		transforms.ClusterConfig{RunID: c.RunID, ModelID: c.modelID, Profile: c.profile, GalleryVersion: c.galleryVersion},
		transforms.SinkConfig{Dir: c.Output, Shards: c.Shards, RunID: c.RunID})
}
