// Package results defines the identify job's output tables: the results,
// one row per face plus one row per image that yielded no face, so every
// input image is accounted for; and the clusters of unknown faces.
package results

// Status values. Every row has exactly one.
const (
	// StatusOK: a face was found and encoded; identity says who (or null).
	StatusOK = "ok"
	// StatusNoFace: the image decoded but the detector found no face.
	StatusNoFace = "no_face"
	// StatusDecodeError: the format was recognised but the data is corrupt.
	StatusDecodeError = "decode_error"
	// StatusUnsupportedFormat: the bytes are not an image format we read.
	StatusUnsupportedFormat = "unsupported_format"
	// StatusTooLarge: the object is over --max-bytes or the image over --max-pixels.
	StatusTooLarge = "too_large"
	// StatusNotFound: the object vanished between listing and reading.
	StatusNotFound = "not_found"
	// StatusReadError: storage refused or failed the read.
	StatusReadError = "read_error"
	// StatusEncodeError: the model failed on this face.
	StatusEncodeError = "encode_error"
)

// Threshold sources (Row.ThresholdSource).
const (
	ThresholdFlag        = "flag"
	ThresholdCalibration = "gallery_calibration"
	ThresholdProfile     = "profile"
)

// Candidate is one gallery identity and its distance to the face.
type Candidate struct {
	Identity string  `parquet:"identity"`
	Distance float64 `parquet:"distance"`
}

// Row is one row of the results table. Nullable columns are pointers.
type Row struct {
	RunID       string  `parquet:"run_id"`
	ImageURI    string  `parquet:"image_uri"`
	ImageSHA256 *string `parquet:"image_sha256,optional"`
	ImageWidth  *int32  `parquet:"image_width,optional"`
	ImageHeight *int32  `parquet:"image_height,optional"`
	// FaceIndex numbers the faces of one image from 0; null on image rows.
	FaceIndex *int32 `parquet:"face_index,optional"`
	// The face box in original-image pixels, after EXIF orientation.
	BoxX          *int32   `parquet:"box_x,optional"`
	BoxY          *int32   `parquet:"box_y,optional"`
	BoxW          *int32   `parquet:"box_w,optional"`
	BoxH          *int32   `parquet:"box_h,optional"`
	Detector      string   `parquet:"detector"`
	DetectorScore *float32 `parquet:"detector_score,optional"`
	// Identity is the nearest gallery identity when its distance is under
	// the threshold, else null ("unknown").
	Identity *string  `parquet:"identity,optional"`
	Distance *float64 `parquet:"distance,optional"`
	Accepted bool     `parquet:"accepted"`
	// Margin is the runner-up's distance minus the nearest one's.
	Margin     *float64    `parquet:"margin,optional"`
	Candidates []Candidate `parquet:"candidates,list"`
	Threshold  float64     `parquet:"threshold"`
	// ThresholdSource says where Threshold came from: "flag"
	// (--threshold), "gallery_calibration" (measured on the gallery's
	// photos for a target FPIR, see gallery.Calibration) or "profile"
	// (the model profile's default).
	ThresholdSource string  `parquet:"threshold_source"`
	ModelID         string  `parquet:"model_id"`
	Profile         string  `parquet:"profile"`
	GalleryVersion  string  `parquet:"gallery_version"`
	Status          string  `parquet:"status"`
	Error           *string `parquet:"error,optional"`
	ProcessedAt     int64   `parquet:"processed_at,timestamp(millisecond)"`
	// Embedding is the unit encoding, written only with --with-embeddings:
	// it is biometric data.
	Embedding []float32 `parquet:"embedding,list,optional"`
	// ClusterID groups the unknown faces (status ok, identity null) that
	// look like one person: set on every one of them when identify
	// clustered them (a face like no other is a cluster of its own), null
	// otherwise. It keys the clusters table of the same run.
	ClusterID *int64 `parquet:"cluster_id,optional"`
	// SourceRunID is, on a table written by rematch, the run whose table
	// it labelled again; null on identify's.
	SourceRunID *string `parquet:"source_run_id,optional"`
}
