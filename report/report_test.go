package report

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/report/html"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

const seed = "../../shared/seed"

func ptr[T any](v T) *T { return &v }

// face is an ok results row for a 96x96 seed photo.
func face(uri string, identity string, dist float64, cluster *int64) results.Row {
	r := results.Row{RunID: "run-1", ImageURI: uri, FaceIndex: ptr[int32](0),
		BoxX: ptr[int32](10), BoxY: ptr[int32](10), BoxW: ptr[int32](70), BoxH: ptr[int32](70),
		Detector: "none", Distance: ptr(dist), Threshold: 0.7, ModelID: "m", Profile: "notebook",
		GalleryVersion: "g-1", Status: results.StatusOK, ClusterID: cluster,
		Candidates: []results.Candidate{{Identity: identity, Distance: dist}}}
	if dist < r.Threshold {
		r.Identity, r.Accepted = ptr(identity), true
	}
	return r
}

// TestBuildGCS reports on a run whose tables and photos are all on (fake)
// GCS, as after a Dataflow run.
func TestBuildGCS(t *testing.T) {
	ctx := context.Background()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0, PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	t.Setenv("STORAGE_EMULATOR_HOST", srv.URL())
	srv.CreateBucket("b")
	upload := func(name, path string) string {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "b", Name: name}, Content: data})
		return "gs://b/" + name
	}
	cam := func(i string) string {
		return upload("cameras/camera_"+i+".jpg", filepath.Join(seed, "camera", "camera_"+i+".jpg"))
	}
	one := int64(1)
	rows := []results.Row{
		face(cam("0"), "younes", 0.60, nil),
		face(cam("1"), "bertrand", 0.54, nil),
		face(cam("3"), "bertrand", 0.39, nil),
		face(cam("2"), "kian", 1.01, &one),
		face(cam("5"), "arnaud", 0.75, &one),
		face("gs://b/cameras/gone.jpg", "younes", 0.9, nil),
		{RunID: "run-1", ImageURI: "gs://b/cameras/broken.jpg", Status: results.StatusDecodeError, Error: ptr("decoder: corrupt"),
			Threshold: 0.7, ModelID: "m", Profile: "notebook", GalleryVersion: "g-1", Detector: "none"},
	}
	write := func(dir string, rows any, marker tables.Marker) {
		var err error
		switch r := rows.(type) {
		case []results.Row:
			err = tables.Write(ctx, dir+"/"+tables.PartName(0, 1), r)
		case []gallery.Row:
			err = tables.Write(ctx, dir+"/"+tables.PartName(0, 1), r)
		case []results.ClusterRow:
			err = tables.Write(ctx, dir+"/"+tables.PartName(0, 1), r)
		}
		if err == nil {
			err = tables.WriteJSON(ctx, dir+"/"+tables.MarkerFile, marker)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	write("gs://b/tables/results", rows, tables.Marker{Kind: "results", RunID: "run-1", Images: 7, Faces: 6, Matched: 3, Unknown: 3})
	var galRows []gallery.Row
	for _, id := range []string{"younes", "bertrand", "kian", "arnaud"} {
		galRows = append(galRows, gallery.Row{Identity: id, ImageURI: upload("people/"+id+".jpg", filepath.Join(seed, "gallery", id+".jpg")),
			Status: gallery.StatusOK, ModelID: "m", Profile: "notebook", Detector: "none"})
	}
	write("gs://b/tables/gallery", galRows, tables.Marker{Kind: "gallery"})
	if err := tables.WriteJSON(ctx, "gs://b/tables/gallery/"+gallery.ManifestFile, gallery.Manifest{Version: "g-1", ModelID: "m"}); err != nil {
		t.Fatal(err)
	}
	write("gs://b/tables/results_clusters", []results.ClusterRow{{RunID: "run-1", ClusterID: 1, Size: 2, MedoidImageURI: rows[3].ImageURI,
		MedoidBoxX: 10, MedoidBoxY: 10, MedoidBoxW: 70, MedoidBoxH: 70, ExampleImageURIs: []string{rows[3].ImageURI, rows[4].ImageURI}}},
		tables.Marker{Kind: "clusters"})

	// The trailing slash must not change where the clusters table is looked for.
	page, sum, err := Build(ctx, Options{Results: "gs://b/tables/results/", Gallery: "gs://b/tables/gallery"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Images != 7 || sum.Faces != 6 || sum.Matched != 3 || sum.Unknown != 3 || len(sum.Identities) != 2 ||
		sum.ByStatus[results.StatusOK] != 6 || sum.ByStatus[results.StatusDecodeError] != 1 || !sum.Clustered || sum.Clusters != 1 ||
		!slices.Equal(sum.Thresholds, []float64{0.7}) || !slices.Equal(sum.RunIDs, []string{"run-1"}) {
		t.Errorf("summary %+v", sum)
	}
	sections := map[string]html.Section{}
	for _, s := range page.Sections {
		sections[s.ID] = s
	}
	captions := func(id string) (out []string) {
		for _, g := range sections[id].Groups {
			var cs []string
			for _, f := range g.Faces {
				if f.Image == "" {
					t.Errorf("%s: %q has no picture", id, f.Caption)
				}
				cs = append(cs, f.Caption)
			}
			out = append(out, g.Title+": "+strings.Join(cs, ", "))
		}
		return out
	}
	want := map[string][]string{
		"identities": {"bertrand: 2 faces: 0.390, 0.540", "younes: 1 face: 0.600"},
		"near-threshold": {
			"matched younes: 0.600, 0.100 under the threshold: face, gallery: younes (its photo)",
			"matched bertrand: 0.540, 0.160 under the threshold: face, gallery: bertrand (its photo)",
			"matched bertrand: 0.390, 0.310 under the threshold: face, gallery: bertrand (its photo)",
			"unknown: nearest arnaud at 0.750, 0.050 over the threshold: face, gallery: arnaud (its photo)",
			"unknown: nearest younes at 0.900, 0.200 over the threshold: face (photo unavailable: files: not found: gs://b/cameras/gone.jpg), gallery: younes (its photo)",
			"unknown: nearest kian at 1.010, 0.310 over the threshold: face, gallery: kian (its photo)",
		},
		"clusters": {"cluster 1: 2 faces: medoid, nearest arnaud 0.750"},
		"problems": {"decode_error: 1 image: broken.jpg: decoder: corrupt"},
	}
	for id, w := range want {
		if got := captions(id); !slices.Equal(got, w) {
			t.Errorf("%s:\n%q\nwant\n%q", id, got, w)
		}
	}
	if len(sections["distances"].Charts) != 1 {
		t.Errorf("distances: %d charts", len(sections["distances"].Charts))
	}

	// Fewer strips than identities: the ones with the most faces.
	page, _, err = Build(ctx, Options{Results: "gs://b/tables/results", MaxIdentities: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := page.Sections[2]; len(got.Groups) != 1 || got.Groups[0].Title != "bertrand: 2 faces" || !strings.Contains(got.Note, "The 1 identities with the most faces, of 2.") {
		t.Errorf("MaxIdentities 1: %q, %+v", got.Note, got.Groups)
	}

	// Another gallery version: a warning. No gallery: no gallery photos,
	// and the page says why. No clusters table: no clustering.
	if err := tables.WriteJSON(ctx, "gs://b/tables/gallery/"+gallery.ManifestFile, gallery.Manifest{Version: "g-2", ModelID: "m"}); err != nil {
		t.Fatal(err)
	}
	page, _, err = Build(ctx, Options{Results: "gs://b/tables/results", Gallery: "gs://b/tables/gallery"})
	if err != nil {
		t.Fatal(err)
	}
	if note := page.Sections[3].Note; !strings.Contains(note, "Warning: the gallery at gs://b/tables/gallery is version g-2") {
		t.Errorf("no version warning: %q", note)
	}
	page, sum, err = Build(ctx, Options{Results: "gs://b/tables/results", Clusters: "gs://b/none"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Clustered || page.Sections[4].Empty != "no clustering in this run" || len(page.Sections[4].Groups) != 0 {
		t.Errorf("without a clusters table: %+v", page.Sections[4])
	}
	if note := page.Sections[3].Note; !strings.Contains(note, "pass --gallery") {
		t.Errorf("near-threshold note without a gallery: %q", note)
	}
	for _, g := range page.Sections[3].Groups {
		if len(g.Faces) != 1 {
			t.Errorf("without a gallery, %q shows %d pictures", g.Title, len(g.Faces))
		}
	}
}

func TestBuildNoTable(t *testing.T) {
	if _, _, err := Build(context.Background(), Options{Results: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no complete results table") {
		t.Errorf("Build on an empty folder: %v", err)
	}
}

// writeJPEG writes a 96x96 photo to path, its colours shifted by tint.
func writeJPEG(t *testing.T, path string, tint uint8) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 96, 96))
	for y := range 96 {
		for x := range 96 {
			img.Set(x, y, color.RGBA{uint8(x * 2), uint8(y * 2), uint8(x+y) + tint, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBuildLargeTable reports on a table of more rows than a scan's batch
// and a part's row group, mostly images without a face, with a few faces
// placed early and late: the counts take every row, and each section
// shows its few rows, chosen by its order and by table order on ties.
func TestBuildLargeTable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	photo := map[string]string{}
	for i, p := range []string{"p0", "p1", "p2", "p3"} {
		photo[p] = filepath.Join(dir, p+".jpg")
		writeJPEG(t, photo[p], uint8(40*i))
	}
	one, two := int64(1), int64(2)
	faceOf := func(p string, index int32, identity string, dist float64, cluster *int64) results.Row {
		r := face(photo[p], identity, dist, cluster)
		r.FaceIndex = ptr(index)
		r.Embedding = make([]float32, 128)
		r.Candidates = append(r.Candidates, results.Candidate{Identity: "zed", Distance: 1.3})
		return r
	}
	// The faces of each photo, and where in the table they go.
	faces := map[int][]results.Row{
		100:   {faceOf("p0", 0, "ann", 0.50, nil), faceOf("p0", 1, "ann", 0.30, nil), faceOf("p0", 2, "dan", 0.75, &one)},
		5_000: {faceOf("p1", 0, "ann", 0.30, nil), faceOf("p1", 1, "ann", 0.60, nil), faceOf("p1", 2, "dan", 0.80, &one)},
		11_000: {faceOf("p3", 0, "bob", 0.40, nil), faceOf("p3", 1, "bob", 0.45, nil),
			faceOf("p3", 2, "dan", 0.72, &one), faceOf("p3", 3, "eve", 1.20, &one)},
		20_000: {faceOf("p2", 0, "ann", 0.20, nil), faceOf("p2", 1, "ann", 0.65, nil),
			faceOf("p2", 2, "cy", 0.55, nil), faceOf("p2", 3, "eve", 0.90, &two)},
	}
	const rows = 25_000
	var all []results.Row
	var noFace []string
	for i := 0; len(all) < rows; i++ {
		if f, ok := faces[i]; ok {
			all = append(all, f...)
			continue
		}
		// Named so that URI order is not table order.
		r := results.Row{RunID: "run-1", ImageURI: filepath.Join(dir, fmt.Sprintf("none-%05d.jpg", 99_999-i)), Status: results.StatusNoFace,
			Threshold: 0.7, ModelID: "m", Profile: "notebook", GalleryVersion: "g-1", Detector: "none"}
		if i == 7_000 || i == 23_000 {
			r.Status, r.Error = results.StatusDecodeError, ptr("decoder: corrupt")
		} else {
			noFace = append(noFace, r.ImageURI)
		}
		all = append(all, r)
	}
	resultsDir := filepath.Join(dir, "results")
	for part, rs := range [][]results.Row{all[:rows/2], all[rows/2:]} {
		w, err := tables.Create[results.Row](ctx, filepath.Join(resultsDir, tables.PartName(part, 2)))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(rs...); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	clusters := []results.ClusterRow{
		{RunID: "run-1", ClusterID: 2, Size: 1, MedoidImageURI: photo["p2"], MedoidFaceIndex: 3,
			MedoidBoxX: 10, MedoidBoxY: 10, MedoidBoxW: 70, MedoidBoxH: 70},
		{RunID: "run-1", ClusterID: 1, Size: 4, MedoidImageURI: photo["p0"], MedoidFaceIndex: 2,
			MedoidBoxX: 10, MedoidBoxY: 10, MedoidBoxW: 70, MedoidBoxH: 70, ExampleImageURIs: []string{photo["p0"], photo["p3"], photo["p1"]}},
	}
	for _, err := range []error{
		tables.WriteJSON(ctx, filepath.Join(resultsDir, tables.MarkerFile), tables.Marker{}),
		tables.Write(ctx, filepath.Join(resultsDir+"_clusters", tables.PartName(0, 1)), clusters),
		tables.WriteJSON(ctx, filepath.Join(resultsDir+"_clusters", tables.MarkerFile), tables.Marker{}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}

	page, sum, err := Build(ctx, Options{Results: resultsDir, Strip: 3, MaxIdentities: 2, Risky: 2, MaxClusters: 1, Examples: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Rows: rows, Images: len(noFace) + 2 + 4, Faces: 14, Matched: 9, Unknown: 5,
		ByStatus:   map[string]int{results.StatusOK: 4, results.StatusNoFace: len(noFace), results.StatusDecodeError: 2},
		Identities: map[string]int{"ann": 6, "bob": 2, "cy": 1}, Clustered: true, Clusters: 2}
	if sum.Rows != want.Rows || sum.Images != want.Images || sum.Faces != want.Faces || sum.Matched != want.Matched ||
		sum.Unknown != want.Unknown || !maps.Equal(sum.ByStatus, want.ByStatus) || !maps.Equal(sum.Identities, want.Identities) ||
		sum.Clustered != want.Clustered || sum.Clusters != want.Clusters {
		t.Errorf("summary\n%+v\nwant\n%+v", *sum, want)
	}
	sections := map[string]html.Section{}
	for _, s := range page.Sections {
		sections[s.ID] = s
	}
	// Each group: its title [note], then each picture's caption (title).
	groups := func(id string) (out []string) {
		for _, g := range sections[id].Groups {
			line := g.Title + " [" + g.Note + "]:"
			for _, f := range g.Faces {
				if f.Image == "" {
					t.Errorf("%s: %q has no picture", id, f.Caption)
				}
				// Only the images without a face are not there.
				caption, _, unavailable := strings.Cut(f.Caption, " (photo unavailable")
				if unavailable && id != "problems" {
					t.Errorf("%s: %q", id, f.Caption)
				}
				line += " " + caption + " (" + strings.TrimPrefix(f.Title, dir+"/") + ")"
			}
			out = append(out, line)
		}
		return out
	}
	slices.Sort(noFace)
	base := func(uri string) string { return strings.TrimPrefix(uri, dir+"/") }
	for id, w := range map[string][]string{
		"identities": {
			"ann: 6 faces [the nearest 3 of 6]: 0.200 (p2.jpg face 0) 0.300 (p0.jpg face 1) 0.300 (p1.jpg face 0)",
			"bob: 2 faces []: 0.400 (p3.jpg face 0) 0.450 (p3.jpg face 1)",
		},
		"near-threshold": {
			"matched ann: 0.650, 0.050 under the threshold [p2.jpg face 1]: face (p2.jpg face 1)",
			"matched ann: 0.600, 0.100 under the threshold [p1.jpg face 1]: face (p1.jpg face 1)",
			"unknown: nearest dan at 0.720, 0.020 over the threshold [p3.jpg face 2]: face (p3.jpg face 2)",
			"unknown: nearest dan at 0.750, 0.050 over the threshold [p0.jpg face 2]: face (p0.jpg face 2)",
		},
		"clusters": {
			"cluster 1: 4 faces []: medoid (p0.jpg) nearest dan 0.720 (p3.jpg face 2) nearest eve 1.200 (p3.jpg face 3)",
		},
		"problems": {
			"decode_error: 2 images []: none-76999.jpg: decoder: corrupt (none-76999.jpg) none-92999.jpg: decoder: corrupt (none-92999.jpg)",
			fmt.Sprintf("no_face: %d images [the first 3 of %d]: %[3]s (%[3]s) %[4]s (%[4]s) %[5]s (%[5]s)", len(noFace), len(noFace),
				base(noFace[0]), base(noFace[1]), base(noFace[2])),
		},
	} {
		if got := groups(id); !slices.Equal(got, w) {
			t.Errorf("%s:\n%q\nwant\n%q", id, got, w)
		}
	}
	if note := sections["identities"].Note; !strings.Contains(note, "The 2 identities with the most faces, of 3.") {
		t.Errorf("identities note: %q", note)
	}
	if note := sections["clusters"].Note; !strings.Contains(note, "The 1 largest of 2 clusters.") {
		t.Errorf("clusters note: %q", note)
	}
	if len(sections["distances"].Charts) != 1 {
		t.Errorf("distances: %d charts", len(sections["distances"].Charts))
	}
}
