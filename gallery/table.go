package gallery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/tables"
)

// Statuses of gallery rows besides the image statuses of package results.
const (
	StatusOK           = "ok"
	StatusNoFace       = "no_face"
	StatusSeveralFaces = "several_faces"
)

// Row is one row of the gallery table: one reference photo, encoded when its
// status is ok, or rejected with the reason (the user must fix that photo).
type Row struct {
	Identity      string   `parquet:"identity"`
	ImageURI      string   `parquet:"image_uri"`
	ImageSHA256   *string  `parquet:"image_sha256,optional"`
	BoxX          *int32   `parquet:"box_x,optional"`
	BoxY          *int32   `parquet:"box_y,optional"`
	BoxW          *int32   `parquet:"box_w,optional"`
	BoxH          *int32   `parquet:"box_h,optional"`
	DetectorScore *float32 `parquet:"detector_score,optional"`
	// IgnoredFaces counts the other faces found in the photo and left
	// out, the subject dominating them (faces.Dominance); null when it
	// showed one face.
	IgnoredFaces *int32    `parquet:"ignored_faces,optional"`
	Embedding    []float32 `parquet:"embedding,list,optional"`
	ModelID      string    `parquet:"model_id"`
	Profile      string    `parquet:"profile"`
	Detector     string    `parquet:"detector"`
	Status       string    `parquet:"status"`
	Error        *string   `parquet:"error,optional"`
	// RunID is the run that encoded the photo; a reused row keeps it.
	RunID     string `parquet:"run_id"`
	EncodedAt int64  `parquet:"encoded_at,timestamp(millisecond)"`
}

// Digest identifies an ok row for the gallery version: identity, photo
// bytes, model, profile and detector. The embedding is left out on purpose:
// it is a function of those, and its last bits vary with the batch it was
// encoded in.
func (r *Row) Digest() [32]byte {
	return sha256.Sum256([]byte(strings.Join([]string{r.Identity, deref(r.ImageSHA256), r.ModelID, r.Profile, r.Detector}, "\x00")))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Version is the gallery version: a hash of the sorted row digests, so the
// same photos encoded by the same model give the same version whatever the
// sharding or order.
func Version(digests [][32]byte) string {
	sorted := append([][32]byte(nil), digests...)
	sort.Slice(sorted, func(i, j int) bool { return string(sorted[i][:]) < string(sorted[j][:]) })
	h := sha256.New()
	for _, d := range sorted {
		h.Write(d[:])
	}
	return "g-" + hex.EncodeToString(h.Sum(nil))[:16]
}

// ManifestFile sits next to the gallery table's parts.
const ManifestFile = "gallery.json"

// Manifest summarises a gallery table.
type Manifest struct {
	Version  string `json:"version"`
	ModelID  string `json:"model_id"`
	Profile  string `json:"profile"`
	Detector string `json:"detector"`
	RunID    string `json:"run_id"`
	// Rows counts every row; Photos the ok ones.
	Rows     int64 `json:"rows"`
	Photos   int64 `json:"photos"`
	Rejected int64 `json:"rejected"`
	// SubjectKept counts the ok photos that showed several faces and kept
	// the dominant one.
	SubjectKept int64 `json:"subject_kept"`
	Reused      int64 `json:"reused"`
	Encoded     int64 `json:"encoded"`
	// Identities maps each identity to its number of ok photos.
	Identities map[string]int64 `json:"identities"`
	// Calibration is the threshold for identification against this
	// gallery, measured on its photos; nil when the job was told not to.
	Calibration *Calibration `json:"calibration,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
}

// ErrNoGallery means the folder holds no complete gallery table.
var ErrNoGallery = errors.New("gallery: no gallery table")

// ReadManifest reads dir/gallery.json of a complete gallery table.
func ReadManifest(ctx context.Context, dir string) (*Manifest, error) {
	if _, err := tables.ReadMarker(ctx, dir); err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrNoGallery, dir, err)
	}
	data, err := files.Read(ctx, files.Join(dir, ManifestFile), 16<<20)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrNoGallery, dir, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w at %s: %s: %v", ErrNoGallery, dir, ManifestFile, err)
	}
	if m.ModelID == "" || m.Version == "" {
		return nil, fmt.Errorf("%w at %s: %s lacks model_id or version", ErrNoGallery, dir, ManifestFile)
	}
	return &m, nil
}

// Build turns the ok rows into a matcher gallery.
func Build(rows []Row, threshold float64) (*matcher.Gallery, error) {
	g, err := matcher.NewGallery(threshold)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		if rows[i].Status != StatusOK {
			continue
		}
		if err := g.Add(rows[i].Identity, rows[i].Embedding); err != nil {
			return nil, fmt.Errorf("gallery: row for %s: %w", rows[i].ImageURI, err)
		}
	}
	if g.Len() == 0 {
		return nil, fmt.Errorf("%w: no encoded photos", matcher.ErrEmptyGallery)
	}
	return g, nil
}
