package runreport

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/report"
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
	sections := map[string]report.Section{}
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
