package pipelines_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/pipelines"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

const seed = "../../shared/seed"

func TestMain(m *testing.M) {
	beam.Init()
	os.Exit(m.Run())
}

// runner is the in-process runner the tests use; the CLI's default is
// direct, and TestGCS runs on prism to cover the other local runner.
var runner = "direct"

// run executes a pipeline in process.
func run(t *testing.T, build func(s beam.Scope)) {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	build(s)
	if _, err := beam.Run(context.Background(), runner, p); err != nil {
		t.Fatalf("pipeline failed on %s: %v", runner, err)
	}
}

// notebook is the seed setup: pre-cropped photos, the notebook profile.
func notebook() pipelines.Common {
	return pipelines.Common{Detector: "none", Profile: "notebook", Shards: 3}
}

func runGallery(t *testing.T, c pipelines.GalleryConfig) *gallery.Manifest {
	t.Helper()
	if err := c.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	run(t, func(s beam.Scope) { pipelines.Gallery(s, c) })
	m, err := gallery.ReadManifest(context.Background(), c.Output)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func runIdentify(t *testing.T, c pipelines.IdentifyConfig) *tables.Marker {
	t.Helper()
	if err := c.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	run(t, func(s beam.Scope) { pipelines.Identify(s, c) })
	m, err := tables.ReadMarker(context.Background(), c.Output)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// copyFiles copies the named seed files into dir (created) and returns dir.
func copyFiles(t *testing.T, dir string, paths ...string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func seedFiles(t *testing.T, sub string, except ...string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(seed, sub, "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seed files in %s: %v", sub, err)
	}
	var out []string
	for _, p := range paths {
		skip := false
		for _, e := range except {
			skip = skip || filepath.Base(p) == e
		}
		if !skip {
			out = append(out, p)
		}
	}
	return out
}

// duck opens an in-memory DuckDB: the independent engine analysts use.
func duck(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// resultRow is what the tests read back from the results table.
type resultRow struct {
	uri, status, modelID, profile, galleryVersion, detector string
	identity                                                sql.NullString
	distance, margin                                        sql.NullFloat64
	accepted                                                bool
	threshold                                               float64
	thresholdSource                                         string
	runID                                                   string
	sourceRunID, err                                        sql.NullString
	embeddingLen                                            int
	faceIndex                                               sql.NullInt32
	candidates                                              []candidate
}

type candidate struct {
	Identity string  `json:"identity"`
	Distance float64 `json:"distance"`
}

// readResults reads every row of the results table in dir with DuckDB.
func readResults(t *testing.T, dir string) []resultRow {
	t.Helper()
	q := fmt.Sprintf(`SELECT image_uri, status, model_id, profile, gallery_version, detector, identity,
		distance, margin, accepted, threshold, threshold_source, run_id, source_run_id, error, coalesce(len(embedding), 0),
		face_index, to_json(candidates)::VARCHAR
		FROM read_parquet('%s') ORDER BY image_uri, face_index`, filepath.Join(dir, "*.parquet"))
	rows, err := duck(t).Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []resultRow
	for rows.Next() {
		var r resultRow
		var cands sql.NullString
		if err := rows.Scan(&r.uri, &r.status, &r.modelID, &r.profile, &r.galleryVersion, &r.detector, &r.identity,
			&r.distance, &r.margin, &r.accepted, &r.threshold, &r.thresholdSource, &r.runID, &r.sourceRunID, &r.err, &r.embeddingLen, &r.faceIndex, &cands); err != nil {
			t.Fatal(err)
		}
		if cands.Valid && cands.String != "null" {
			if err := json.Unmarshal([]byte(cands.String), &r.candidates); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type reference struct {
	Distances map[string]map[string]float64 `json:"distances"`
}

// whoAnswer is what `facebatch who` answers for a seed image: identities by
// reference distance, nearest first.
func whoAnswer(t *testing.T, file string) []candidate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(seed, "reference_facenet_keras.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	var cands []candidate
	for id, d := range ref.Distances[file] {
		cands = append(cands, candidate{id, d})
	}
	if len(cands) != 12 {
		t.Fatalf("reference has %d distances for %s", len(cands), file)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].Distance < cands[j].Distance })
	return cands
}

// TestIdentifyLocal runs both jobs on local files and checks the results
// table, read back with DuckDB, against `facebatch who`'s answers.
func TestIdentifyLocal(t *testing.T) {
	dir := t.TempDir()
	gm := runGallery(t, pipelines.GalleryConfig{
		Common: notebook(), Input: filepath.Join(seed, "gallery"), Output: filepath.Join(dir, "gallery"),
	})
	if gm.Photos != 12 || gm.Rejected != 0 || len(gm.Identities) != 12 || gm.Encoded != 12 {
		t.Fatalf("gallery manifest %+v", gm)
	}
	// Twelve photos are too few to measure an FPIR of 1%.
	if c := gm.Calibration; c == nil || c.Threshold != 0 || c.Note == "" {
		t.Errorf("calibration %+v, want none made and a note why", c)
	}

	// The camera shots plus two files that are not photos: every one must
	// come back as a row.
	photos := copyFiles(t, filepath.Join(dir, "photos"), seedFiles(t, "camera")...)
	if err := os.WriteFile(filepath.Join(photos, "notes.jpg"), []byte("not a photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	camera0, _ := os.ReadFile(filepath.Join(seed, "camera", "camera_0.jpg"))
	if err := os.WriteFile(filepath.Join(photos, "cut.jpg"), camera0[:len(camera0)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "results")
	cfg := pipelines.IdentifyConfig{
		Common: notebook(), Inputs: []string{photos}, Gallery: filepath.Join(dir, "gallery"), Output: out,
	}
	marker := runIdentify(t, cfg)
	if marker.Images != 8 || marker.Faces != 6 || marker.Rows != 8 {
		t.Errorf("marker: %d images, %d faces, %d rows; want 8, 6, 8", marker.Images, marker.Faces, marker.Rows)
	}

	rows := readResults(t, out)
	byImage := map[string]resultRow{}
	for _, r := range rows {
		if _, dup := byImage[r.uri]; dup {
			t.Errorf("%s has several rows", r.uri)
		}
		byImage[filepath.Base(r.uri)] = r
		if r.modelID != gm.ModelID || r.galleryVersion != gm.Version || r.threshold != 0.7 || r.thresholdSource != "profile" || r.profile != "notebook" || r.detector != "none" {
			t.Errorf("%s: provenance %s %s %v (%s) %s %s", r.uri, r.modelID, r.galleryVersion, r.threshold, r.thresholdSource, r.profile, r.detector)
		}
	}
	if len(byImage) != 8 {
		t.Fatalf("%d images in the results, want 8", len(byImage))
	}
	for _, tt := range []struct{ file, status string }{{"notes.jpg", "unsupported_format"}, {"cut.jpg", "decode_error"}} {
		if r := byImage[tt.file]; r.status != tt.status || r.faceIndex.Valid || r.identity.Valid {
			t.Errorf("%s: status %q face %v identity %v, want %s and nulls", tt.file, r.status, r.faceIndex, r.identity, tt.status)
		}
	}
	for i := range 6 {
		file := fmt.Sprintf("camera_%d.jpg", i)
		r, want := byImage[file], whoAnswer(t, file)
		if r.status != "ok" || !r.faceIndex.Valid || r.faceIndex.Int32 != 0 {
			t.Errorf("%s: status %q face %v", file, r.status, r.faceIndex)
			continue
		}
		if !r.identity.Valid || r.identity.String != want[0].Identity || !r.accepted ||
			math.Abs(r.distance.Float64-want[0].Distance) > 1e-4 {
			t.Errorf("%s: %v at %.5f (accepted %v), who says %s at %.5f", file, r.identity, r.distance.Float64, r.accepted, want[0].Identity, want[0].Distance)
		}
		if len(r.candidates) != 3 {
			t.Fatalf("%s: %d candidates, want 3", file, len(r.candidates))
		}
		for k, c := range r.candidates {
			if c.Identity != want[k].Identity || math.Abs(c.Distance-want[k].Distance) > 1e-4 {
				t.Errorf("%s candidate %d: %+v, want %+v", file, k, c, want[k])
			}
		}
		if m := want[1].Distance - want[0].Distance; math.Abs(r.margin.Float64-m) > 2e-4 {
			t.Errorf("%s: margin %.5f, want %.5f", file, r.margin.Float64, m)
		}
	}

	// A rerun into the same folder with fewer shards replaces the table.
	cfg.Shards = 1
	marker = runIdentify(t, cfg)
	parts, err := tables.Parts(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 || len(readResults(t, out)) != 8 || marker.Rows != 8 {
		t.Errorf("after rerun: %d parts, marker rows %d", len(parts), marker.Rows)
	}
	if _, err := os.Stat(filepath.Join(out, tables.TempDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staging folder left behind: %v", err)
	}
}

// TestCalibratedThreshold checks that identify uses the threshold the
// gallery job measured on its photos, unless given one, and that every row
// says which it used.
func TestCalibratedThreshold(t *testing.T) {
	dir := t.TempDir()
	// An FPIR of 10% can be measured on twelve photos: one of the twelve
	// searches may find another identity under the threshold.
	gm := runGallery(t, pipelines.GalleryConfig{
		Common: notebook(), Input: filepath.Join(seed, "gallery"), Output: filepath.Join(dir, "gallery"), CalibrateFPIR: 0.1,
	})
	c := gm.Calibration
	if c == nil || !(c.Threshold > 0 && c.Threshold < 2) || c.Searches != 12 || c.Identities != 12 || c.FalsePositives > 1 || c.TargetFPIR != 0.1 {
		t.Fatalf("calibration %+v, want a threshold from 12 searches with at most one under it", c)
	}
	photos := copyFiles(t, filepath.Join(dir, "photos"), seedFiles(t, "camera")...)
	for _, tt := range []struct {
		threshold float64
		want      float64
		source    string
	}{
		{0, c.Threshold, "gallery_calibration"},
		{0.7, 0.7, "flag"},
	} {
		out := filepath.Join(dir, tt.source)
		runIdentify(t, pipelines.IdentifyConfig{Common: notebook(), Inputs: []string{photos}, Gallery: filepath.Join(dir, "gallery"), Output: out, Matching: pipelines.Matching{Threshold: tt.threshold}})
		rows := readResults(t, out)
		if len(rows) != 6 {
			t.Fatalf("%d rows, want 6", len(rows))
		}
		for _, r := range rows {
			if r.threshold != tt.want || r.thresholdSource != tt.source {
				t.Errorf("%s: threshold %v (%s), want %v (%s)", r.uri, r.threshold, r.thresholdSource, tt.want, tt.source)
			}
			if r.accepted != (r.distance.Float64 < tt.want) {
				t.Errorf("%s: accepted %v at %.4f under threshold %v", r.uri, r.accepted, r.distance.Float64, tt.want)
			}
		}
	}
}

// TestIdentifyUnknown checks a person missing from the gallery is unknown.
func TestIdentifyUnknown(t *testing.T) {
	dir := t.TempDir()
	galleryPhotos := copyFiles(t, filepath.Join(dir, "known"), seedFiles(t, "gallery", "younes.jpg")...)
	runGallery(t, pipelines.GalleryConfig{Common: notebook(), Input: galleryPhotos, Output: filepath.Join(dir, "gallery")})
	photos := copyFiles(t, filepath.Join(dir, "photos"), filepath.Join(seed, "camera", "camera_0.jpg"), filepath.Join(seed, "camera", "camera_5.jpg"))
	out := filepath.Join(dir, "results")
	m := runIdentify(t, pipelines.IdentifyConfig{Common: notebook(), Inputs: []string{photos}, Gallery: filepath.Join(dir, "gallery"), Output: out})
	if m.Matched != 1 || m.Unknown != 1 {
		t.Errorf("marker: %d matched, %d unknown; want 1 and 1", m.Matched, m.Unknown)
	}
	for _, r := range readResults(t, out) {
		switch filepath.Base(r.uri) {
		case "camera_0.jpg": // younes, not in this gallery
			if r.identity.Valid || r.accepted || r.status != "ok" || !r.distance.Valid || r.distance.Float64 < 0.7 {
				t.Errorf("camera_0: identity %v accepted %v distance %v, want unknown", r.identity, r.accepted, r.distance)
			}
		case "camera_5.jpg":
			if r.identity.String != "arnaud" || !r.accepted {
				t.Errorf("camera_5: identity %v, want arnaud", r.identity)
			}
		}
	}
}

func TestModelMismatchRefused(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "gallery")
	runGallery(t, pipelines.GalleryConfig{Common: notebook(), Input: copyFiles(t, filepath.Join(dir, "g"), filepath.Join(seed, "gallery", "kian.jpg")), Output: out})
	path := filepath.Join(out, gallery.ManifestFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	other := notebook()
	other.Profile = "standardized"
	c := pipelines.IdentifyConfig{Common: other, Inputs: []string{seed}, Gallery: out, Output: filepath.Join(dir, "results")}
	if err := c.Prepare(context.Background()); !errors.Is(err, pipelines.ErrConfig) || !strings.Contains(err.Error(), `encoded with profile "notebook"`) {
		t.Errorf("Prepare with another profile: %v, want a refusal naming the gallery's profile", err)
	}

	m["model_id"] = "facenet-keras-0000000000000000"
	data, _ = json.Marshal(m)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c = pipelines.IdentifyConfig{Common: notebook(), Inputs: []string{seed}, Gallery: out, Output: filepath.Join(dir, "results")}
	err = c.Prepare(context.Background())
	if !errors.Is(err, pipelines.ErrModelMismatch) || !errors.Is(err, pipelines.ErrConfig) || !strings.Contains(err.Error(), "facebatch gallery --input") {
		t.Errorf("Prepare: %v, want a model mismatch saying how to re-encode", err)
	}
}

// TestGalleryIncremental checks --previous reuses unchanged photos, encodes
// new ones, and re-encodes everything when the model changes.
func TestGalleryIncremental(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	photos := filepath.Join(dir, "photos")
	for _, id := range []string{"kian", "dan", "tian"} {
		copyFiles(t, filepath.Join(photos, id), filepath.Join(seed, "gallery", id+".jpg"))
	}
	// A broken photo is rejected with its reason, not dropped.
	if err := os.WriteFile(filepath.Join(photos, "dan", "broken.jpg"), []byte{0xff, 0xd8, 0xff}, 0o644); err != nil {
		t.Fatal(err)
	}
	first := runGallery(t, pipelines.GalleryConfig{Common: notebook(), Input: photos, Output: filepath.Join(dir, "v1")})
	if first.Photos != 3 || first.Rejected != 1 || first.Encoded != 3 || first.Reused != 0 {
		t.Fatalf("first run: %+v", first)
	}
	rows, err := tables.ReadAll[gallery.Row](ctx, filepath.Join(dir, "v1"))
	if err != nil {
		t.Fatal(err)
	}
	rejected := 0
	for _, r := range rows {
		if r.Status != gallery.StatusOK {
			rejected++
			if r.Identity != "dan" || r.Error == nil || r.Embedding != nil {
				t.Errorf("rejected row %+v", r)
			}
		}
	}
	if rejected != 1 {
		t.Errorf("%d rejected rows, want 1", rejected)
	}

	// Same photos plus one new one: only the new one is encoded.
	copyFiles(t, filepath.Join(photos, "kian"), filepath.Join(seed, "camera", "camera_2.jpg"))
	second := runGallery(t, pipelines.GalleryConfig{Common: notebook(), Input: photos, Output: filepath.Join(dir, "v2"), Previous: filepath.Join(dir, "v1")})
	// Reused counts photos; the broken photo is rejected again.
	if second.Photos != 4 || second.Encoded != 1 || second.Reused != 3 || second.Rejected != 1 || second.Identities["kian"] != 2 {
		t.Errorf("second run: %+v", second)
	}
	if second.Version == first.Version {
		t.Error("a new photo did not change the gallery version")
	}
	// The nightly run updates the table in place.
	again := runGallery(t, pipelines.GalleryConfig{Common: notebook(), Input: photos, Output: filepath.Join(dir, "v2"), Previous: filepath.Join(dir, "v2")})
	if again.Version != second.Version || again.Encoded != 0 || again.Reused != 4 || again.Rows != 5 {
		t.Errorf("unchanged rerun in place: %+v (version was %s)", again, second.Version)
	}

	// A previous table from another model is not reused.
	rows, err = tables.ReadAll[gallery.Row](ctx, filepath.Join(dir, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		rows[i].ModelID = "facenet-keras-older"
	}
	old := filepath.Join(dir, "old-model")
	if err := tables.Write(ctx, filepath.Join(old, tables.PartName(0, 1)), rows); err != nil {
		t.Fatal(err)
	}
	oldManifest := *second
	oldManifest.ModelID = "facenet-keras-older"
	if err := tables.WriteJSON(ctx, filepath.Join(old, gallery.ManifestFile), oldManifest); err != nil {
		t.Fatal(err)
	}
	if err := tables.WriteJSON(ctx, filepath.Join(old, tables.MarkerFile), tables.Marker{Kind: "gallery"}); err != nil {
		t.Fatal(err)
	}
	fresh := runGallery(t, pipelines.GalleryConfig{Common: notebook(), Input: photos, Output: filepath.Join(dir, "v4"), Previous: old})
	if fresh.Reused != 0 || fresh.Encoded != 4 || fresh.Version != second.Version {
		t.Errorf("after a model change: %+v (want 4 encoded, 0 reused, version %s)", fresh, second.Version)
	}
}

// downloadParts copies a GCS table's parts to a local folder, for DuckDB,
// which has no GCS client here, and checks their number.
func downloadParts(t *testing.T, dir string, want int) string {
	t.Helper()
	ctx := context.Background()
	parts, err := tables.Parts(ctx, dir)
	if err != nil || len(parts) != want {
		t.Fatalf("parts of %s: %v, %v; want %d", dir, parts, err, want)
	}
	local := t.TempDir()
	for _, p := range parts {
		data, err := files.Read(ctx, p, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(local, files.Base(p)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return local
}

// TestGCS runs both jobs against a fake GCS server: photos and gallery are
// read from gs:// and the results written to gs://.
func TestGCS(t *testing.T) {
	ctx := context.Background()
	runner = "prism"
	defer func() { runner = "direct" }()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0, PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	t.Setenv("STORAGE_EMULATOR_HOST", srv.URL())
	srv.CreateBucket("photos")
	upload := func(name, path string) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "photos", Name: name}, Content: data})
	}
	for _, p := range seedFiles(t, "gallery") {
		id := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		upload("people/"+id+"/"+filepath.Base(p), p)
	}
	for _, p := range seedFiles(t, "camera") {
		upload("cameras/2026-11-28/front door/"+filepath.Base(p), p)
	}
	// A zero-byte "folder" object, as the console creates.
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "photos", Name: "cameras/2026-11-28/"}})

	gm := runGallery(t, pipelines.GalleryConfig{Common: notebook(), Input: "gs://photos/people", Output: "gs://photos/tables/gallery"})
	if gm.Photos != 12 || len(gm.Identities) != 12 {
		t.Fatalf("gallery on GCS: %+v", gm)
	}
	m := runIdentify(t, pipelines.IdentifyConfig{
		Common: notebook(), Inputs: []string{"gs://photos/cameras/**"}, Gallery: "gs://photos/tables/gallery", Output: "gs://photos/tables/results",
	})
	if m.Images != 6 || m.Matched != 6 {
		t.Errorf("identify on GCS: %+v", m)
	}
	// DuckDB has no GCS client here: copy the parts down and read them.
	local := downloadParts(t, "gs://photos/tables/results", 3)
	rows := readResults(t, local)
	if len(rows) != 6 {
		t.Fatalf("%d rows, want 6", len(rows))
	}
	for _, r := range rows {
		file := files.Base(r.uri)
		want := whoAnswer(t, file)[0]
		if !strings.HasPrefix(r.uri, "gs://photos/cameras/2026-11-28/front door/") || r.identity.String != want.Identity ||
			math.Abs(r.distance.Float64-want.Distance) > 1e-4 {
			t.Errorf("%s: %v at %v, want %+v", r.uri, r.identity, r.distance, want)
		}
	}
	if objs, _ := files.List(ctx, "gs://photos/tables/results/_temporary"); len(objs) != 0 {
		t.Errorf("staging objects left behind: %v", objs)
	}

	// A strict threshold leaves faces unknown: they are clustered, and the
	// clusters table lands beside the results, with the objects' times.
	m = runIdentify(t, pipelines.IdentifyConfig{
		Common: notebook(), Inputs: []string{"gs://photos/cameras/**"}, Gallery: "gs://photos/tables/gallery",
		Output: "gs://photos/tables/strict", Matching: pipelines.Matching{Threshold: 0.3, Cluster: true},
	})
	clusters, err := tables.ReadAll[results.ClusterRow](ctx, "gs://photos/tables/strict_clusters")
	if err != nil {
		t.Fatal(err)
	}
	var clustered int64
	for _, c := range clusters {
		clustered += c.Size
		if c.FirstSeen == nil || c.LastSeen == nil || *c.FirstSeen > *c.LastSeen {
			t.Errorf("cluster %d: seen %v..%v, want the objects' update times", c.ClusterID, c.FirstSeen, c.LastSeen)
		}
	}
	if m.Unknown < 2 || clustered != m.Unknown {
		t.Errorf("%d unknown faces, %d in the clusters table on GCS", m.Unknown, clustered)
	}
}
