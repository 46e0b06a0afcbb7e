// Package pipelines assembles the two Beam jobs from the steps in package
// transforms:
//
//	Gallery:  list photos → read → reuse or (find one face → encode) → gallery table
//	Identify: list images → read → find faces → encode → match (gallery side input) → results table
//	          (unknown faces → cluster, all together → cluster ids on the results rows; clusters table)
//
// Each job has a config with a Prepare method, which checks everything that
// can be checked before any work starts (and reads the manifests), and a
// builder that adds the job to a scope. Run runs a built job and returns
// what it counted.
package pipelines

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/models"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
	"github.com/facebatch/facebatch/transforms"
)

// ErrConfig is wrapped by every error that a user fixes by changing flags.
var ErrConfig = errors.New("bad configuration")

// ErrModelMismatch means the gallery was encoded by another model.
var ErrModelMismatch = errors.New("gallery was encoded by another model")

// Common holds the settings both jobs share.
type Common struct {
	// ModelDir is the exported model; Profile one of its profiles ("" = default).
	ModelDir string
	Profile  string
	// Detector is "mtcnn", "pigo" or "none"; "" means the profile's.
	Detector string
	// MinFaceSize is the smallest face side found; 0 means the detector's
	// default (pigo 40, mtcnn 20).
	MinFaceSize int
	// MaxBytes caps the bytes read per object, MaxPixels the decoded size.
	MaxBytes  int64
	MaxPixels int
	// Preview is the long side of the copy faces are found on in larger
	// photos (see faces.Finder.Preview); 0 means faces.DefaultPreview, a
	// negative value detects on the full-size photo.
	Preview int
	// BatchSize is the number of faces per model run.
	BatchSize int
	// Inflight is the number of batches encoded at once (0: 1).
	Inflight int
	// Session tunes TensorFlow's threads and devices.
	Session encoder.Session
	// Shards is the number of Parquet part files written.
	Shards int
	// RunID names this run in every row; "" makes one from the clock.
	RunID string

	// Filled by Prepare.
	manifest *models.Manifest
	profile  models.Profile
	cascade  []byte
	mtcnnDir string
}

// Defaults for the flags of both jobs.
const (
	DefaultMaxBytes  = 64 << 20
	DefaultBatchSize = 32
	DefaultShards    = 4
	DefaultTopK      = 3
	// MinPreview is the smallest preview side accepted.
	MinPreview = 160
)

func (c *Common) prepare() error {
	if c.ModelDir == "" {
		dir, err := models.DefaultDir()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
		c.ModelDir = dir
	}
	absolute(&c.ModelDir)
	m, err := models.Load(c.ModelDir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	p, err := m.Profile(c.Profile)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if c.Profile == "" {
		c.Profile = m.DefaultProfile
	}
	c.manifest, c.profile = m, p
	if c.Detector == "" {
		c.Detector = p.Detector
	}
	if !slices.Contains(detector.Names, c.Detector) {
		return fmt.Errorf("%w: --detector %q: want one of %v", ErrConfig, c.Detector, detector.Names)
	}
	switch c.Detector {
	case "pigo":
		if c.cascade, err = detector.ReadCascade(""); err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
	case "mtcnn":
		// Workers load the nets from this folder, so it travels in the
		// job's config as an absolute path; reading the manifest here
		// turns a missing export into a config error, before any work.
		if c.mtcnnDir, err = models.DefaultMTCNNDir(); err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
		absolute(&c.mtcnnDir)
		if _, err := models.LoadMTCNN(c.mtcnnDir); err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
	}
	if c.MaxBytes < 0 || c.MaxPixels < 0 || c.BatchSize < 0 || c.Inflight < 0 || c.Shards < 0 || c.MinFaceSize < 0 {
		return fmt.Errorf("%w: negative limits", ErrConfig)
	}
	if c.MinFaceSize != 0 && c.MinFaceSize < detector.SmallestMinSize {
		return fmt.Errorf("%w: --min-face %d: want at least %d", ErrConfig, c.MinFaceSize, detector.SmallestMinSize)
	}
	switch {
	case c.Preview == 0:
		c.Preview = faces.DefaultPreview
	case c.Preview > 0 && c.Preview < MinPreview:
		return fmt.Errorf("%w: --preview %d: want at least %d, or -1 to detect on the full-size photo", ErrConfig, c.Preview, MinPreview)
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	if c.RunID == "" {
		c.RunID = NewRunID(time.Now())
	}
	return nil
}

// absolute makes local paths absolute: workers started by a runner need not
// share the launcher's working folder. gs:// URIs and "" are left alone.
func absolute(paths ...*string) {
	for _, p := range paths {
		if *p != "" && !files.IsGCS(*p) {
			if abs, err := filepath.Abs(*p); err == nil {
				*p = abs
			}
		}
	}
}

// NewRunID names a run after its start time.
func NewRunID(t time.Time) string { return t.UTC().Format("20060102T150405.000Z") }

// ModelID is the model the job encodes with (after Prepare).
func (c *Common) ModelID() string { return c.manifest.ModelID }

func (c *Common) faceConfig() transforms.FaceConfig {
	return transforms.FaceConfig{
		Detector:    c.Detector,
		MinFaceSize: c.MinFaceSize,
		MaxPixels:   c.MaxPixels,
		Preview:     max(c.Preview, 0),
		Margin:      c.profile.Margin,
		Template:    faces.Template(c.profile),
		Align:       c.profile.Align,
		Resize:      c.profile.Resize,
		Width:       c.manifest.Input.Width,
		Height:      c.manifest.Input.Height,
		Cascade:     c.cascade,
		MTCNNDir:    c.mtcnnDir,
		Session:     c.Session,
	}
}

func (c *Common) encodeConfig() transforms.EncodeConfig {
	return transforms.EncodeConfig{ModelDir: c.ModelDir, Profile: c.Profile, BatchSize: c.BatchSize, Inflight: c.Inflight, Session: c.Session}
}

// startOutput checks the output can be written and removes an earlier
// run's marker, so readers never take a half-rewritten table for complete.
func startOutput(ctx context.Context, dir string) error {
	if dir == "" {
		return fmt.Errorf("%w: --output is required", ErrConfig)
	}
	probe := files.Join(dir, ".facebatch-write-probe")
	if err := files.Write(ctx, probe, nil); err != nil {
		return fmt.Errorf("%w: output %s is not writable: %v", ErrConfig, dir, err)
	}
	if err := files.Remove(ctx, probe); err != nil {
		return fmt.Errorf("%w: output %s: %v", ErrConfig, dir, err)
	}
	return files.Remove(ctx, files.Join(dir, tables.MarkerFile))
}

// GalleryConfig configures the gallery job.
type GalleryConfig struct {
	Common
	// Input is a folder / gs:// prefix of <identity>/<photo>, or a CSV of identity,uri.
	Input  string
	Output string
	// Previous is an earlier gallery table whose rows are reused when the
	// photo bytes, model, profile and detector are unchanged.
	Previous string
	// CalibrateFPIR is the FPIR the table's stored threshold is measured
	// for (gallery.Calibrate); 0 means gallery.DefaultCalibrationFPIR,
	// negative not to calibrate.
	CalibrateFPIR float64
}

// Prepare validates the config and fills in defaults.
func (c *GalleryConfig) Prepare(ctx context.Context) error {
	if c.Input == "" {
		return fmt.Errorf("%w: --input is required", ErrConfig)
	}
	absolute(&c.Input, &c.Output, &c.Previous)
	if err := c.Common.prepare(); err != nil {
		return err
	}
	switch {
	case c.CalibrateFPIR == 0:
		c.CalibrateFPIR = gallery.DefaultCalibrationFPIR
	case c.CalibrateFPIR >= 1:
		return fmt.Errorf("%w: --calibrate-fpir %v is not below 1", ErrConfig, c.CalibrateFPIR)
	}
	if _, err := transforms.GalleryPhotos(ctx, c.Input); err != nil {
		return fmt.Errorf("%w: --input: %v", ErrConfig, err)
	}
	if c.Previous != "" {
		if _, err := gallery.ReadManifest(ctx, c.Previous); err != nil {
			return fmt.Errorf("%w: --previous: %v", ErrConfig, err)
		}
	}
	return startOutput(ctx, c.Output)
}

// Gallery adds the gallery job to s and returns its rows.
func Gallery(s beam.Scope, c GalleryConfig) beam.PCollection {
	meta := transforms.GalleryConfig{RunID: c.RunID, ModelID: c.ModelID(), Profile: c.Profile, Detector: c.Detector, CalibrateFPIR: c.CalibrateFPIR}
	photos := transforms.ReadImages(s, transforms.ListGallery(s, c.Input), c.MaxBytes)
	previous := beam.CreateList(s.Scope("NoPrevious"), []gallery.Row{})
	if c.Previous != "" {
		previous = transforms.ReadGallery(s, c.Previous)
	}
	reused, fresh := transforms.ReuseGallery(s, photos, previous, meta)
	fc := c.faceConfig()
	fc.Subject = true
	recs := transforms.FindFaces(s, fresh, fc)
	recs = transforms.EncodeFaces(s, recs, c.encodeConfig())
	rows := beam.Flatten(s, reused, transforms.GalleryRows(s, recs, meta))
	transforms.WriteGallery(s, rows, transforms.SinkConfig{Dir: c.Output, Shards: c.Shards, RunID: c.RunID, Precision: c.Session.Precision(), Gallery: meta})
	return rows
}

// IdentifyConfig configures the identify job.
type IdentifyConfig struct {
	Common
	// Inputs are folders, gs:// prefixes or globs of images.
	Inputs []string
	// Manifest is a text file of image URIs, one per line.
	Manifest string
	// Gallery is a gallery table written by the gallery job.
	Gallery        string
	Output         string
	WithEmbeddings bool
	Matching

	galleryVersion string
}

// Matching is how identify and rematch label faces and group the unknown
// ones.
type Matching struct {
	// Threshold accepts distances below it; 0 means the gallery's
	// calibrated one when it has one, else the profile's. Prepare sets
	// ThresholdSource to say which (results.ThresholdFlag, ...).
	Threshold       float64
	ThresholdSource string
	TopK            int
	// Cluster groups the unknown faces by identity (when there are at
	// least transforms.DefaultClusterMinFaces) into the clusters table and
	// the results' cluster_id column.
	Cluster bool
	// ClusterThreshold links two unknown faces below this distance; 0
	// means the profile's (see models.Profile.ClusterThreshold).
	ClusterThreshold float64
	// ClusterCells splits the clustering's neighbour search into cells
	// of similar faces, searched in parallel (see cluster.Train): 1 is
	// the exact all-pairs search, 0 picks by the number of unknown faces
	// (cluster.PartitionsFor: exact up to 50,000). ClusterProbes is how
	// many nearest cells each face searches (0: cluster.DefaultProbes).
	ClusterCells, ClusterProbes int
	// ClustersOutput is the clusters table; "" means Output + "_clusters".
	ClustersOutput string
}

// check validates the settings and fills in the defaults that need no
// gallery; output is the results table.
func (m *Matching) check(output string, p models.Profile) error {
	if m.Threshold != 0 && !(m.Threshold > 0 && m.Threshold <= 2) {
		return fmt.Errorf("%w: --threshold %v is outside (0, 2]", ErrConfig, m.Threshold)
	}
	if m.TopK <= 0 {
		m.TopK = DefaultTopK
	}
	if !m.Cluster {
		return nil
	}
	if m.ClusterThreshold == 0 {
		m.ClusterThreshold = p.ClusterThreshold()
	}
	if !(m.ClusterThreshold > 0 && m.ClusterThreshold <= 2) {
		return fmt.Errorf("%w: --cluster-threshold %v is outside (0, 2]", ErrConfig, m.ClusterThreshold)
	}
	if m.ClusterCells < 0 || m.ClusterProbes < 0 {
		return fmt.Errorf("%w: --cluster-cells and --cluster-probes must not be negative", ErrConfig)
	}
	if m.ClustersOutput == "" && output != "" {
		m.ClustersOutput = strings.TrimSuffix(output, "/") + ClustersSuffix
	}
	absolute(&m.ClustersOutput)
	if output != "" && m.ClustersOutput == output {
		return fmt.Errorf("%w: --clusters-output must differ from --output", ErrConfig)
	}
	return nil
}

// chooseThreshold settles the threshold once the gallery is known: the
// flag, else the gallery's calibrated one, else the profile's.
func (m *Matching) chooseThreshold(cal *gallery.Calibration, p models.Profile) {
	switch {
	case m.Threshold != 0:
		m.ThresholdSource = results.ThresholdFlag
	case cal != nil && cal.Threshold > 0:
		m.Threshold, m.ThresholdSource = cal.Threshold, results.ThresholdCalibration
	default:
		m.Threshold, m.ThresholdSource = p.Threshold, results.ThresholdProfile
	}
}

// startOutputs starts the results table, and the clusters table when the
// unknown faces are clustered.
func (m *Matching) startOutputs(ctx context.Context, output string) error {
	if err := startOutput(ctx, output); err != nil {
		return err
	}
	if m.Cluster {
		return startOutput(ctx, m.ClustersOutput)
	}
	return nil
}

// ClustersSuffix names the default clusters table after the results table.
const ClustersSuffix = "_clusters"

// Prepare validates the config, reads the gallery manifest and refuses a
// gallery encoded by another model.
func (c *IdentifyConfig) Prepare(ctx context.Context) error {
	if len(c.Inputs) == 0 && c.Manifest == "" {
		return fmt.Errorf("%w: --input or --manifest is required", ErrConfig)
	}
	if c.Gallery == "" {
		return fmt.Errorf("%w: --gallery is required", ErrConfig)
	}
	for i := range c.Inputs {
		absolute(&c.Inputs[i])
	}
	absolute(&c.Manifest, &c.Gallery, &c.Output)
	if err := c.Common.prepare(); err != nil {
		return err
	}
	if err := c.Matching.check(c.Output, c.profile); err != nil {
		return err
	}
	gm, err := gallery.ReadManifest(ctx, c.Gallery)
	if err != nil {
		return fmt.Errorf("%w: --gallery: %v", ErrConfig, err)
	}
	if gm.ModelID != c.ModelID() {
		return fmt.Errorf("%w: %w: %s was encoded by %s, this run encodes with %s; re-encode it: facebatch gallery --input <gallery photos> --output %s",
			ErrConfig, ErrModelMismatch, c.Gallery, gm.ModelID, c.ModelID(), c.Gallery)
	}
	// Encodings made with different preprocessing are not comparable: the
	// distances, and so the threshold, would be meaningless.
	if gm.Profile != c.Profile {
		return fmt.Errorf("%w: %s was encoded with profile %q, this run uses %q; pass --profile %s or re-encode the gallery with --profile %s",
			ErrConfig, c.Gallery, gm.Profile, c.Profile, gm.Profile, c.Profile)
	}
	c.galleryVersion = gm.Version
	c.chooseThreshold(gm.Calibration, c.profile)
	// An input that matches nothing is a mistake to report now, not a run
	// that writes an empty table and a success marker.
	for _, in := range c.Inputs {
		uris, err := files.List(ctx, in)
		if err != nil {
			return fmt.Errorf("%w: --input %s: %v", ErrConfig, in, err)
		}
		if len(uris) == 0 {
			return fmt.Errorf("%w: --input %s matched no objects", ErrConfig, in)
		}
	}
	if c.Manifest != "" {
		if ok, err := files.Exists(ctx, c.Manifest); err != nil || !ok {
			return fmt.Errorf("%w: --manifest %s cannot be read (%v)", ErrConfig, c.Manifest, err)
		}
	}
	return c.startOutputs(ctx, c.Output)
}

// Identify adds the identify job to s and returns its result rows.
func Identify(s beam.Scope, c IdentifyConfig) beam.PCollection {
	var refs []beam.PCollection
	if len(c.Inputs) > 0 {
		refs = append(refs, transforms.ListImages(s, c.Inputs))
	}
	if c.Manifest != "" {
		refs = append(refs, transforms.ListManifest(s, c.Manifest))
	}
	photos := transforms.ReadImages(s, beam.Flatten(s, refs...), c.MaxBytes)
	recs := transforms.FindFaces(s, photos, c.faceConfig())
	recs = transforms.EncodeFaces(s, recs, c.encodeConfig())
	rows, unknown := transforms.MatchFaces(s, recs, transforms.ReadGallery(s, c.Gallery), transforms.MatchConfig{
		RunID:           c.RunID,
		Threshold:       c.Threshold,
		ThresholdSource: c.ThresholdSource,
		TopK:            c.TopK,
		ModelID:         c.ModelID(),
		Profile:         c.Profile,
		Detector:        c.Detector,
		GalleryVersion:  c.galleryVersion,
		WithEmbeddings:  c.WithEmbeddings,
	})
	return c.Matching.write(s, rows, unknown,
		transforms.ClusterConfig{RunID: c.RunID, ModelID: c.ModelID(), Profile: c.Profile, GalleryVersion: c.galleryVersion},
		transforms.SinkConfig{Dir: c.Output, Shards: c.Shards, RunID: c.RunID, Precision: c.Session.Precision()})
}

// write clusters the unknown faces when m asks for it, which sets their
// rows' cluster_id, writes the clusters table, and writes the results
// table; run carries the provenance the clusters table records.
func (m Matching) write(s beam.Scope, rows, unknown beam.PCollection, run transforms.ClusterConfig, out transforms.SinkConfig) beam.PCollection {
	if m.Cluster {
		run.Threshold, run.Cells, run.Probes = m.ClusterThreshold, m.ClusterCells, m.ClusterProbes
		var clusters beam.PCollection
		rows, clusters = transforms.ClusterFaces(s, rows, unknown, run)
		transforms.WriteClusters(s, clusters, transforms.SinkConfig{Dir: m.ClustersOutput, RunID: run.RunID})
	}
	transforms.WriteResults(s, rows, out)
	return rows
}
