package pipelines_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/facebatch/facebatch/pipelines"
	"github.com/facebatch/facebatch/promote"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

const lfwImages = "../../shared/lfw-dev/images"

// lfwPhotos copies photos of LFW people into dir/<person>/ (first, first+n)
// and returns their paths there by person.
func lfwPhotos(t *testing.T, dir string, people map[string][2]int) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for person, r := range people {
		paths, err := filepath.Glob(filepath.Join(lfwImages, person, "*.jpg"))
		if err != nil || len(paths) < r[0]+r[1] {
			t.Fatalf("lfw-dev has %d photos of %s, want %d (%v)", len(paths), person, r[0]+r[1], err)
		}
		sort.Strings(paths)
		copyFiles(t, filepath.Join(dir, person), paths[r[0]:r[0]+r[1]]...)
		for _, p := range paths[r[0] : r[0]+r[1]] {
			out[person] = append(out[person], filepath.Join(dir, person, filepath.Base(p)))
		}
	}
	return out
}

func standardized() pipelines.Common {
	return pipelines.Common{Detector: "pigo", Profile: "standardized", Shards: 2}
}

// subjects maps each photo to the results row of its largest face (LFW
// photos are centred on their person; others may stand behind).
func subjects(rows []results.Row) map[string]results.Row {
	out := map[string]results.Row{}
	for _, r := range rows {
		if r.BoxW == nil {
			continue
		}
		if best, ok := out[r.ImageURI]; !ok || *r.BoxW**r.BoxH > *best.BoxW**best.BoxH {
			out[r.ImageURI] = r
		}
	}
	return out
}

// TestClusterPromote is the loop the clusters exist for: identify finds a
// stranger many times, the stranger's faces form a cluster, a person names
// it, promote writes its faces into the gallery's photos, the nightly
// gallery run encodes them, and identify then names the stranger, in photos
// it has never seen too.
func TestClusterPromote(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const stranger = "David_Beckham"
	known := lfwPhotos(t, filepath.Join(dir, "gallery-photos"), map[string][2]int{"Tony_Blair": {0, 3}, "Silvio_Berlusconi": {0, 3}, "Wen_Jiabao": {0, 3}})
	seen := lfwPhotos(t, filepath.Join(dir, "day1"), map[string][2]int{
		stranger: {0, 8}, "Tony_Blair": {3, 2}, "Silvio_Berlusconi": {3, 2},
		"Andre_Agassi": {0, 1}, "Nicole_Kidman": {0, 1}, "Hugo_Chavez": {0, 1}, "Jennifer_Garner": {0, 1},
	})
	later := lfwPhotos(t, filepath.Join(dir, "day2"), map[string][2]int{stranger: {8, 4}})
	if len(known) != 3 {
		t.Fatal("gallery photos missing")
	}
	galleryDir := filepath.Join(dir, "gallery")
	runGallery(t, pipelines.GalleryConfig{Common: standardized(), Input: filepath.Join(dir, "gallery-photos"), Output: galleryDir})

	identify := func(out, runID string, inputs ...string) pipelines.IdentifyConfig {
		c := pipelines.IdentifyConfig{Common: standardized(), Inputs: inputs, Gallery: galleryDir, Output: out, Matching: pipelines.Matching{Cluster: true}}
		c.RunID = runID
		return c
	}
	out := filepath.Join(dir, "results")
	cfg := identify(out, "day1", filepath.Join(dir, "day1"))
	marker := runIdentify(t, cfg)
	clustersDir := out + pipelines.ClustersSuffix // the default
	rows, err := tables.ReadAll[results.Row](ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	clusters, err := tables.ReadAll[results.ClusterRow](ctx, clustersDir)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := tables.ReadMarker(ctx, clustersDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("day 1: %d faces, %d matched, %d unknown in %d clusters", marker.Faces, marker.Matched, marker.Unknown, len(clusters))

	// Every unknown face has a cluster, every other row none; the clusters
	// account for exactly the unknown faces.
	sizes := map[int64]int64{}
	for _, r := range rows {
		unknown := r.Status == results.StatusOK && r.Identity == nil
		if unknown != (r.ClusterID != nil) {
			t.Errorf("%s face %v: status %s identity %v, cluster %v", r.ImageURI, r.FaceIndex, r.Status, r.Identity, r.ClusterID)
		}
		if r.ClusterID != nil {
			sizes[*r.ClusterID]++
		}
	}
	if cm.Rows != int64(len(clusters)) || cm.Faces != marker.Unknown {
		t.Errorf("clusters marker: %d clusters of %d faces, want %d of %d", cm.Rows, cm.Faces, len(clusters), marker.Unknown)
	}
	for i, c := range clusters {
		if c.ClusterID != int64(i+1) || c.Size != sizes[c.ClusterID] || (i > 0 && c.Size > clusters[i-1].Size) {
			t.Errorf("cluster row %d: id %d size %d (faces with the id: %d); want ids from 1, largest first", i, c.ClusterID, c.Size, sizes[c.ClusterID])
		}
	}

	// The stranger's photos: clusters of his alone. The threshold favours
	// precision, so he may be split (LFW photos of one man span years and
	// poses), but his largest cluster holds several photos.
	subject := subjects(rows)
	votes := map[int64]int{}
	for _, p := range seen[stranger] {
		if r := subject[p]; r.ClusterID != nil {
			votes[*r.ClusterID]++
		}
	}
	members := map[int64]int{}
	for _, r := range rows {
		if r.ClusterID != nil && votes[*r.ClusterID] > 0 {
			members[*r.ClusterID]++
			if !strings.Contains(r.ImageURI, stranger) {
				t.Errorf("cluster %d holds %s face %d, not the stranger's", *r.ClusterID, r.ImageURI, *r.FaceIndex)
			}
		}
	}
	largest := slices.Max(slices.Collect(maps.Values(votes)))
	t.Logf("the stranger's 8 photos fall in clusters (id: photos) %v", votes)
	if largest < 3 {
		t.Fatalf("at most %d of the stranger's 8 photos share a cluster (%v), want at least 3", largest, votes)
	}
	// A person looking at the clusters names those that show him more than once.
	var decisions []promote.Decision
	faces := 0
	for id, n := range votes {
		if n >= 2 {
			decisions = append(decisions, promote.Decision{ClusterID: id, Identity: stranger})
			faces += members[id]
		}
	}

	t.Run("deterministic", func(t *testing.T) {
		again := identify(filepath.Join(dir, "results-again"), "day1", filepath.Join(dir, "day1"))
		runIdentify(t, again)
		rows2, err := tables.ReadAll[results.Row](ctx, again.Output)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := clusterIDs(rows), clusterIDs(rows2); !reflect.DeepEqual(a, b) {
			t.Errorf("cluster ids differ between two runs:\n%v\n%v", a, b)
		}
		p1, _ := tables.Parts(ctx, clustersDir)
		p2, _ := tables.Parts(ctx, again.Output+pipelines.ClustersSuffix)
		if len(p1) != 1 || len(p2) != 1 {
			t.Fatalf("clusters parts %v and %v, want one each", p1, p2)
		}
		b1, _ := os.ReadFile(p1[0])
		b2, _ := os.ReadFile(p2[0])
		if !bytes.Equal(b1, b2) {
			t.Errorf("the clusters table differs between two runs of the same input")
		}
	})

	t.Run("duckdb", func(t *testing.T) {
		got := readClusters(t, clustersDir)
		if len(got) != len(clusters) {
			t.Fatalf("DuckDB reads %d clusters, Go %d", len(got), len(clusters))
		}
		for i, c := range clusters {
			if !reflect.DeepEqual(got[i], c) {
				t.Errorf("cluster %d through DuckDB:\n%+v\nwant\n%+v", c.ClusterID, got[i], c)
			}
		}
		// And the join an analyst would write.
		var n int64
		q := fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s') r JOIN read_parquet('%s') c USING (cluster_id)`,
			filepath.Join(out, "*.parquet"), filepath.Join(clustersDir, "*.parquet"))
		if err := duck(t).QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != marker.Unknown {
			t.Errorf("results joined to clusters: %d rows, want %d unknown faces", n, marker.Unknown)
		}
	})

	// Promote, twice (the same files: promotion is idempotent).
	for range 2 {
		promoted, err := promote.Run(ctx, promote.Config{Results: out, GalleryInput: filepath.Join(dir, "gallery-photos")}, decisions)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range promoted {
			n += len(p.Files)
			if len(p.Skipped) > 0 {
				t.Errorf("cluster %d: skipped %v", p.ClusterID, p.Skipped)
			}
		}
		if n != faces {
			t.Errorf("promoted %d faces of clusters %v, want %d", n, decisions, faces)
		}
	}
	written, _ := filepath.Glob(filepath.Join(dir, "gallery-photos", stranger, "*.jpg"))
	if len(written) != faces {
		t.Errorf("%d files in the gallery folder after promoting twice, want %d", len(written), faces)
	}

	// The nightly gallery run picks them up; the next identify names him.
	gm := runGallery(t, pipelines.GalleryConfig{Common: standardized(), Input: filepath.Join(dir, "gallery-photos"), Output: galleryDir, Previous: galleryDir})
	if gm.Identities[stranger] < int64(faces)-1 {
		t.Errorf("gallery has %d photos of %s, want about %d (all: %v)", gm.Identities[stranger], stranger, faces, gm.Identities)
	}
	out2 := filepath.Join(dir, "results-day2")
	runIdentify(t, identify(out2, "day2", filepath.Join(dir, "day1", stranger), filepath.Join(dir, "day2")))
	rows2, err := tables.ReadAll[results.Row](ctx, out2)
	if err != nil {
		t.Fatal(err)
	}
	named, total := 0, 0
	subject2 := subjects(rows2)
	for _, p := range append(slices.Clone(seen[stranger]), later[stranger]...) {
		r, ok := subject2[p]
		total++
		if ok && r.Identity != nil && *r.Identity == stranger {
			named++
		} else {
			t.Logf("%s: named %v", filepath.Base(p), identityOf(r))
		}
	}
	t.Logf("after promotion: the stranger named in %d of %d photos (4 never seen before)", named, total)
	if named < total-1 {
		t.Errorf("the promoted person is named in %d of %d photos, want at least %d", named, total, total-1)
	}
}

func identityOf(r results.Row) string {
	if r.Identity == nil {
		return "unknown"
	}
	return *r.Identity
}

// clusterIDs maps "uri#face" to the cluster id of every clustered face.
func clusterIDs(rows []results.Row) map[string]int64 {
	out := map[string]int64{}
	for _, r := range rows {
		if r.ClusterID != nil {
			out[fmt.Sprintf("%s#%d", r.ImageURI, *r.FaceIndex)] = *r.ClusterID
		}
	}
	return out
}

// readClusters reads the clusters table with DuckDB, by cluster id.
func readClusters(t *testing.T, dir string) []results.ClusterRow {
	t.Helper()
	q := fmt.Sprintf(`SELECT run_id, cluster_id, size, medoid_image_uri, medoid_face_index,
		medoid_box_x, medoid_box_y, medoid_box_w, medoid_box_h, first_seen, last_seen,
		to_json(example_image_uris)::VARCHAR, cluster_threshold, model_id, profile, gallery_version
		FROM read_parquet('%s') ORDER BY cluster_id`, filepath.Join(dir, "part-*.parquet"))
	rows, err := duck(t).Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []results.ClusterRow
	for rows.Next() {
		var c results.ClusterRow
		var first, last sql.NullTime
		var examples string
		if err := rows.Scan(&c.RunID, &c.ClusterID, &c.Size, &c.MedoidImageURI, &c.MedoidFaceIndex,
			&c.MedoidBoxX, &c.MedoidBoxY, &c.MedoidBoxW, &c.MedoidBoxH, &first, &last,
			&examples, &c.ClusterThreshold, &c.ModelID, &c.Profile, &c.GalleryVersion); err != nil {
			t.Fatal(err)
		}
		for _, p := range []struct {
			t   sql.NullTime
			dst **int64
		}{{first, &c.FirstSeen}, {last, &c.LastSeen}} {
			if p.t.Valid {
				ms := p.t.Time.UnixMilli()
				*p.dst = &ms
			}
		}
		if err := json.Unmarshal([]byte(examples), &c.ExampleImageURIs); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
