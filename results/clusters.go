package results

// ClusterRow is one row of the clusters table: a group of unknown faces of
// one run that look like one person, ordered by size. The results rows of
// its faces carry its ClusterID.
type ClusterRow struct {
	RunID string `parquet:"run_id"`
	// ClusterID numbers the clusters from 1, largest first, then by the
	// medoid's image URI and face index: the same input gives the same ids.
	ClusterID int64 `parquet:"cluster_id"`
	// Size is the number of faces.
	Size int64 `parquet:"size"`
	// The medoid is the face nearest the others (smallest sum of squared
	// distances): the one to show for the cluster.
	MedoidImageURI  string `parquet:"medoid_image_uri"`
	MedoidFaceIndex int32  `parquet:"medoid_face_index"`
	MedoidBoxX      int32  `parquet:"medoid_box_x"`
	MedoidBoxY      int32  `parquet:"medoid_box_y"`
	MedoidBoxW      int32  `parquet:"medoid_box_w"`
	MedoidBoxH      int32  `parquet:"medoid_box_h"`
	// FirstSeen and LastSeen span the faces' photos: when each was taken
	// (EXIF DateTimeOriginal, the camera's clock read as UTC), else when
	// its object was last written. Null when no photo has either.
	FirstSeen *int64 `parquet:"first_seen,optional,timestamp(millisecond)"`
	LastSeen  *int64 `parquet:"last_seen,optional,timestamp(millisecond)"`
	// ExampleImageURIs are up to MaxExamples distinct images, the medoid's
	// first, then those of the faces nearest it.
	ExampleImageURIs []string `parquet:"example_image_uris,list"`
	// ClusterThreshold is the distance under which two faces were linked.
	ClusterThreshold float64 `parquet:"cluster_threshold"`
	ModelID          string  `parquet:"model_id"`
	Profile          string  `parquet:"profile"`
	GalleryVersion   string  `parquet:"gallery_version"`
}

// MaxExamples bounds ClusterRow.ExampleImageURIs.
const MaxExamples = 5
