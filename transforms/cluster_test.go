package transforms

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"

	"github.com/facebatch/facebatch/cluster"
	"github.com/facebatch/facebatch/results"
)

// near returns a unit vector at distance about d from the unit vector c.
func near(rng *rand.Rand, c []float32, d float64) []float32 {
	v := make([]float32, len(c))
	var s float64
	for k := range v {
		v[k] = c[k] + float32(d/math.Sqrt(float64(len(c)))*rng.NormFloat64())
		s += float64(v[k]) * float64(v[k])
	}
	for k := range v {
		v[k] /= float32(math.Sqrt(s))
	}
	return v
}

func unit(rng *rand.Rand, dim int) []float32 {
	return near(rng, make([]float32, dim), 1)
}

func init() {
	register.DoFn1x0[results.Row](&captureRowFn{})
	register.DoFn1x0[results.ClusterRow](&captureClusterFn{})
}

// captured holds what a test pipeline wrote; the direct runner runs its
// DoFns in this process.
var captured struct {
	sync.Mutex
	rows     []results.Row
	clusters []results.ClusterRow
}

type captureRowFn struct{}

func (captureRowFn) ProcessElement(r results.Row) {
	captured.Lock()
	captured.rows = append(captured.rows, r)
	captured.Unlock()
}

type captureClusterFn struct{}

func (captureClusterFn) ProcessElement(r results.ClusterRow) {
	captured.Lock()
	captured.clusters = append(captured.clusters, r)
	captured.Unlock()
}

// runClusterFaces runs ClusterFaces on the faces (and a results row for
// each) and returns the cluster of each face, the clusters table sorted
// by id, and the faces_clustered counter.
func runClusterFaces(t *testing.T, cfg ClusterConfig, faces []UnknownFace) ([]FaceCluster, []results.ClusterRow, int64) {
	t.Helper()
	captured.Lock()
	captured.rows, captured.clusters = nil, nil
	captured.Unlock()
	rows := make([]results.Row, len(faces))
	for i, f := range faces {
		rows[i] = results.Row{ImageURI: f.URI, FaceIndex: ptr(int32(f.Index)), Status: results.StatusOK}
	}
	p, s := beam.NewPipelineWithRoot()
	labelled, clusters := ClusterFaces(s, beam.CreateList(s, rows), beam.CreateList(s, faces), cfg)
	beam.ParDo0(s, &captureRowFn{}, labelled)
	beam.ParDo0(s, &captureClusterFn{}, clusters)
	res, err := direct.Execute(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	var counted int64
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Name() == "faces_clustered" {
			counted += c.Result()
		}
	}
	captured.Lock()
	defer captured.Unlock()
	if len(captured.rows) != len(faces) {
		t.Fatalf("%d rows out of %d in", len(captured.rows), len(faces))
	}
	var assigned []FaceCluster
	for _, r := range captured.rows {
		if r.ClusterID != nil {
			assigned = append(assigned, FaceCluster{URI: r.ImageURI, Index: int(*r.FaceIndex), ClusterID: *r.ClusterID})
		}
	}
	slices.SortFunc(assigned, func(a, b FaceCluster) int { return compareFaces(a.URI, a.Index, b.URI, b.Index) })
	out := slices.Clone(captured.clusters)
	slices.SortFunc(out, func(a, b results.ClusterRow) int { return cmp.Compare(a.ClusterID, b.ClusterID) })
	return assigned, out, counted
}

func TestClusterFn(t *testing.T) {
	dir := t.TempDir()
	// Photos on disk give modification times; one object is gone.
	mtime := map[string]time.Time{
		"a1.jpg": time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC),
		"a2.jpg": time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC),
		"b1.jpg": time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC),
		"x.jpg":  time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for name, when := range mtime {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("not read"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
	}
	uri := func(name string) string { return filepath.Join(dir, name) }
	taken := time.Date(2021, 12, 25, 10, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	a, b := unit(rng, 128), unit(rng, 128)
	faces := []UnknownFace{
		// Person A: five faces in four photos, one of which (gone.jpg)
		// has an EXIF date and no object any more.
		{URI: uri("a1.jpg"), Index: 0, X: 1, Y: 2, W: 50, H: 60, Embedding: near(rng, a, 0.3)},
		{URI: uri("a2.jpg"), Index: 0, X: 3, Y: 4, W: 50, H: 60, Embedding: near(rng, a, 0.3)},
		{URI: uri("a2.jpg"), Index: 2, X: 5, Y: 6, W: 50, H: 60, Embedding: near(rng, a, 0.3)},
		{URI: uri("gone.jpg"), Index: 1, W: 40, H: 40, TakenAt: taken.UnixMilli(), Embedding: near(rng, a, 0.3)},
		{URI: uri("x.jpg"), Index: 0, W: 40, H: 40, Embedding: near(rng, a, 0.3)},
		// Person B: two faces, one photo.
		{URI: uri("b1.jpg"), Index: 0, W: 40, H: 40, Embedding: near(rng, b, 0.3)},
		{URI: uri("b1.jpg"), Index: 1, W: 40, H: 40, Embedding: near(rng, b, 0.3)},
		// A stranger, in a photo that no longer exists and has no date.
		{URI: uri("lost.jpg"), Index: 0, W: 40, H: 40, Embedding: unit(rng, 128)},
	}
	cfg := ClusterConfig{RunID: "r1", Threshold: 0.75, MinFaces: 2, ModelID: "m", Profile: "p", GalleryVersion: "g"}
	assigned, rows, counted := runClusterFaces(t, cfg, faces)

	// The same faces in another order give the same answer.
	shuffled := slices.Clone(faces)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	assigned2, rows2, _ := runClusterFaces(t, cfg, shuffled)
	if !reflect.DeepEqual(assigned, assigned2) || !reflect.DeepEqual(rows, rows2) {
		t.Errorf("another input order gave another clustering")
	}

	ids := map[string]int64{}
	for _, f := range assigned {
		ids[filepath.Base(f.URI)+"#"+string(rune('0'+f.Index))] = f.ClusterID
	}
	if len(assigned) != len(faces) {
		t.Fatalf("%d faces assigned, want %d", len(assigned), len(faces))
	}
	want := map[string]int64{"a1.jpg#0": 1, "a2.jpg#0": 1, "a2.jpg#2": 1, "gone.jpg#1": 1, "x.jpg#0": 1, "b1.jpg#0": 2, "b1.jpg#1": 2, "lost.jpg#0": 3}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("cluster ids %v, want %v", ids, want)
	}
	if len(rows) != 3 {
		t.Fatalf("%d cluster rows, want 3", len(rows))
	}
	ms := func(t time.Time) *int64 { v := t.UnixMilli(); return &v }
	for i, tc := range []struct {
		size        int64
		first, last *int64
		examples    int
	}{
		{5, ms(taken), ms(mtime["a2.jpg"]), 4},
		{2, ms(mtime["b1.jpg"]), ms(mtime["b1.jpg"]), 1},
		{1, nil, nil, 1},
	} {
		r := rows[i]
		if r.ClusterID != int64(i+1) || r.Size != tc.size {
			t.Errorf("row %d: cluster %d size %d, want %d size %d", i, r.ClusterID, r.Size, i+1, tc.size)
		}
		if !reflect.DeepEqual(r.FirstSeen, tc.first) || !reflect.DeepEqual(r.LastSeen, tc.last) {
			t.Errorf("cluster %d: seen %v..%v, want %v..%v", r.ClusterID, deref(r.FirstSeen), deref(r.LastSeen), deref(tc.first), deref(tc.last))
		}
		if len(r.ExampleImageURIs) != tc.examples || r.ExampleImageURIs[0] != r.MedoidImageURI {
			t.Errorf("cluster %d: examples %v, want %d distinct starting with the medoid's %s", r.ClusterID, r.ExampleImageURIs, tc.examples, r.MedoidImageURI)
		}
		if r.RunID != "r1" || r.ModelID != "m" || r.Profile != "p" || r.GalleryVersion != "g" || r.ClusterThreshold != 0.75 {
			t.Errorf("cluster %d: provenance %+v", r.ClusterID, r)
		}
		// The medoid is a member, with its own box.
		found := false
		for _, f := range faces {
			if f.URI == r.MedoidImageURI && f.Index == int(r.MedoidFaceIndex) {
				found = f.X == int(r.MedoidBoxX) && f.Y == int(r.MedoidBoxY) && f.W == int(r.MedoidBoxW) && f.H == int(r.MedoidBoxH) &&
					ids[filepath.Base(f.URI)+"#"+string(rune('0'+f.Index))] == r.ClusterID
			}
		}
		if !found {
			t.Errorf("cluster %d: medoid %s face %d is not a member with its box", r.ClusterID, r.MedoidImageURI, r.MedoidFaceIndex)
		}
	}
	if counted != int64(len(faces)) {
		t.Errorf("faces_clustered = %d, want %d", counted, len(faces))
	}

	// Too few faces: nothing clustered.
	if assigned, rows, _ := runClusterFaces(t, cfg, faces[:1]); len(assigned)+len(rows) != 0 {
		t.Errorf("one face: %d assignments, %d clusters; want none", len(assigned), len(rows))
	}
}

// TestClusterFacesCells runs the job's partitioned search on one fixture:
// with one cell it is cluster.Group's exact clustering, ids and all; with
// several it stays within 1% pairwise F1 of it.
func TestClusterFacesCells(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var faces []UnknownFace
	var encs [][]float32
	for p := range 150 {
		c := unit(rng, 128)
		for i := range 1 + rng.IntN(12) {
			e := near(rng, c, 0.45)
			faces = append(faces, UnknownFace{URI: fmt.Sprintf("/photos/p%03d-%d.jpg", p, i), Embedding: e})
		}
	}
	slices.SortFunc(faces, func(a, b UnknownFace) int { return compareFaces(a.URI, a.Index, b.URI, b.Index) })
	for _, f := range faces {
		encs = append(encs, f.Embedding)
	}
	exact, err := cluster.Group(context.Background(), encs, cluster.Options{Threshold: 0.75, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int, len(faces))
	for i, l := range exact.Labels {
		want[i] = l + 1
	}
	for _, cells := range []int{1, 6} {
		assigned, rows, _ := runClusterFaces(t, ClusterConfig{Threshold: 0.75, Cells: cells}, faces)
		got := make([]int, len(assigned))
		for i, a := range assigned {
			got[i] = int(a.ClusterID)
		}
		if len(got) != len(faces) {
			t.Fatalf("%d cells: %d faces assigned of %d", cells, len(got), len(faces))
		}
		p, r := cluster.Pairwise(want, got)
		t.Logf("%d cells: %d clusters (exact %d), pairwise against exact p=%.4f r=%.4f", cells, len(rows), len(exact.Clusters), p, r)
		if cells == 1 && !slices.Equal(got, want) {
			t.Errorf("one cell: cluster ids differ from cluster.Group's")
		}
		if f1 := 2 * p * r / (p + r); f1 < 0.99 {
			t.Errorf("%d cells: F1 against exact %.4f, want at least 0.99", cells, f1)
		}
	}
}

func TestLabelFn(t *testing.T) {
	idx := func(i int32) *int32 { return &i }
	assigned := []FaceCluster{{URI: "a.jpg", Index: 0, ClusterID: 7}, {URI: "a.jpg", Index: 2, ClusterID: 9}}
	in := []results.Row{
		{ImageURI: "a.jpg", FaceIndex: idx(0), Status: results.StatusOK},
		{ImageURI: "a.jpg", FaceIndex: idx(1), Status: results.StatusOK, Identity: ptr("ann")},
		{ImageURI: "a.jpg", FaceIndex: idx(2), Status: results.StatusOK},
		{ImageURI: "b.jpg", Status: results.StatusNoFace},
	}
	want := []*int64{ptr(int64(7)), nil, ptr(int64(9)), nil}
	fn := &labelFn{}
	for i, r := range in {
		j := 0
		side := func(a *FaceCluster) bool {
			if j == len(assigned) {
				return false
			}
			*a = assigned[j]
			j++
			return true
		}
		var got []results.Row
		fn.ProcessElement(context.Background(), r, side, func(r results.Row) { got = append(got, r) })
		if len(got) != 1 || !reflect.DeepEqual(got[0].ClusterID, want[i]) {
			t.Errorf("row %d: %d rows out, cluster id %v; want one row with %v", i, len(got), got, deref(want[i]))
		}
	}
}
