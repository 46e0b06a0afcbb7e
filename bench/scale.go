package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	"github.com/facebatch/facebatch/cluster"
	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/models"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

// The nightly loop at scale runs on synthetic encodings: photos are not
// the point, and a million real faces are not at hand. People are blobs
// on the unit sphere: a face is its person's centre plus noise of a norm
// drawn from [minSpread, maxSpread], renormalised, which puts two faces of
// one person 0.4 to 0.9 apart, 0.70 on average, on both sides of the
// clustering threshold (0.72), as real faces are: some people's faces
// link up, some only partly.
const (
	minSpread, maxSpread = 0.3, 0.8
	// scalePartRows is the rows per results part, as a sharded identify
	// run writes them.
	scalePartRows = 100_000
	// Of the faces: known people (in the gallery), unknown people (blobs
	// of 1 to 40 faces), and faces of nobody else.
	knownShare, noiseShare = 0.60, 0.15
)

// scaleSet is one generated results table and its two galleries: one
// that knows the known people, and one of strangers only, against which
// every face is unknown (what clustering is measured on).
type scaleSet struct {
	faces                   int
	results, known, strange string
}

// makeScaleSet writes n synthetic faces with embeddings as a results table
// (the person is the image's folder, for scoring) and the galleries of
// identities people (two photos each), under dir.
func makeScaleSet(dir string, n, identities int, modelID, profile string) (*scaleSet, error) {
	ctx := context.Background()
	set := &scaleSet{faces: n, results: filepath.Join(dir, "results"), known: filepath.Join(dir, "gallery-known"), strange: filepath.Join(dir, "gallery-strangers")}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(n), uint64(identities)))
	const dim = 128
	centres := make([][]float32, identities)
	for i := range centres {
		centres[i] = randomUnit(rng, dim)
	}
	for _, g := range []struct {
		dir  string
		near bool
	}{{set.known, true}, {set.strange, false}} {
		var rows []gallery.Row
		for i, c := range centres {
			if !g.near {
				c = randomUnit(rng, dim)
			}
			for k := range 2 {
				rows = append(rows, gallery.Row{Identity: fmt.Sprintf("person%06d", i), ImageURI: fmt.Sprintf("synthetic-gallery/%06d-%d.jpg", i, k),
					Embedding: blobFace(rng, c), ModelID: modelID, Profile: profile, Detector: "synthetic", Status: gallery.StatusOK, RunID: "synthetic"})
			}
		}
		if err := writeGalleryTable(ctx, g.dir, rows, modelID, profile); err != nil {
			return nil, err
		}
	}

	parts := (n + scalePartRows - 1) / scalePartRows
	var w *tables.Writer[results.Row]
	written, unknownPeople := 0, 0
	var blob []float32
	blobLeft := 0
	for i := range n {
		if i%scalePartRows == 0 {
			if w != nil {
				if err := w.Close(); err != nil {
					return nil, err
				}
			}
			var err error
			if w, err = tables.Create[results.Row](ctx, filepath.Join(set.results, tables.PartName(i/scalePartRows, parts))); err != nil {
				return nil, err
			}
		}
		var person string
		var emb []float32
		switch u := rng.Float64(); {
		case u < knownShare:
			j := rng.IntN(identities)
			person, emb = fmt.Sprintf("known%06d", j), blobFace(rng, centres[j])
		case u < knownShare+noiseShare:
			person, emb = fmt.Sprintf("noise%07d", i), randomUnit(rng, dim)
		default:
			if blobLeft == 0 {
				blob, blobLeft = randomUnit(rng, dim), 1+rng.IntN(40)
				unknownPeople++
			}
			blobLeft--
			person, emb = fmt.Sprintf("unknown%06d", unknownPeople), blobFace(rng, blob)
		}
		r := results.Row{RunID: "synthetic", ImageURI: fmt.Sprintf("synthetic/%s/%08d.jpg", person, i), FaceIndex: ptr32(0),
			BoxX: ptr32(10), BoxY: ptr32(10), BoxW: ptr32(120), BoxH: ptr32(120), Detector: "synthetic",
			ModelID: modelID, Profile: profile, GalleryVersion: "none", Status: results.StatusOK, ThresholdSource: results.ThresholdProfile,
			Embedding: emb, ProcessedAt: time.Now().UnixMilli()}
		if err := w.Write(r); err != nil {
			return nil, err
		}
		written++
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	names, err := tables.Parts(ctx, set.results)
	if err != nil {
		return nil, err
	}
	m := tables.Marker{Kind: "results", RunID: "synthetic", Rows: int64(written), Images: int64(written), Faces: int64(written),
		ByStatus: []tables.StatusCount{{Status: results.StatusOK, Count: int64(written)}}, Files: names, CompletedAt: time.Now()}
	return set, tables.WriteJSON(ctx, filepath.Join(set.results, tables.MarkerFile), m)
}

func writeGalleryTable(ctx context.Context, dir string, rows []gallery.Row, modelID, profile string) error {
	part := filepath.Join(dir, tables.PartName(0, 1))
	if err := tables.Write(ctx, part, rows); err != nil {
		return err
	}
	ids := map[string]int64{}
	for _, r := range rows {
		ids[r.Identity]++
	}
	gm := gallery.Manifest{Version: "synthetic-" + filepath.Base(dir), ModelID: modelID, Profile: profile, Detector: "synthetic",
		RunID: "synthetic", Rows: int64(len(rows)), Photos: int64(len(rows)), Identities: ids, CreatedAt: time.Now()}
	if err := tables.WriteJSON(ctx, filepath.Join(dir, gallery.ManifestFile), gm); err != nil {
		return err
	}
	m := tables.Marker{Kind: "gallery", RunID: "synthetic", Rows: int64(len(rows)), Files: []string{part}, CompletedAt: time.Now()}
	return tables.WriteJSON(ctx, filepath.Join(dir, tables.MarkerFile), m)
}

func randomUnit(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for k := range v {
		v[k] = float32(rng.NormFloat64())
	}
	return normalise(v)
}

// blobFace is a face of the person at centre: centre plus a random unit
// vector times a spread drawn from [minSpread, maxSpread], renormalised.
func blobFace(rng *rand.Rand, centre []float32) []float32 {
	noise := randomUnit(rng, len(centre))
	spread := float32(minSpread + (maxSpread-minSpread)*rng.Float64())
	v := make([]float32, len(centre))
	for k := range v {
		v[k] = centre[k] + spread*noise[k]
	}
	return normalise(v)
}

func normalise(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	s = math.Sqrt(s)
	for k := range v {
		v[k] = float32(float64(v[k]) / s)
	}
	return v
}

func ptr32(v int32) *int32 { return &v }

// scaleResult is one size's measurements.
type scaleResult struct {
	faces                       int
	rematchS, rematchRSS        float64 // seconds, bytes
	clusterTotalS, clusterRSS   float64 // rematch with clustering, all faces unknown
	precision, recall           float64 // against the synthetic people
	exactS, f1VsExact           float64 // 0 when the exact run was left out
	exactPrecision, exactRecall float64
	reportS, reportRSS          float64
	promoteS, promoteRSS        float64
	clusters                    int
	clusterS                    float64 // clusterTotalS - rematchS
	err                         error
}

// exactMaxFaces is the largest size the exact clustering is run at, for
// comparison: it grows as n², about 3 minutes at 100k on two cores.
const exactMaxFaces = 100_000

// scale measures the nightly loop on n synthetic faces against a gallery
// of identities people: rematch alone, rematch with clustering (every face
// unknown), the exact clustering where feasible, then report and promote
// on the clustered table.
func (b *bench) scale(n, identities int) scaleResult {
	res := scaleResult{faces: n}
	m, err := models.Load(b.modelDir)
	if err != nil {
		res.err = err
		return res
	}
	dir := filepath.Join(b.work, "scale-"+sizeLabel(n))
	set, err := makeScaleSet(dir, n, identities, m.ModelID, b.profile)
	if err != nil {
		res.err = fmt.Errorf("generating %d faces: %w", n, err)
		return res
	}
	run := func(tag string, args ...string) (float64, float64, error) {
		run, err := b.runFacebatch(filepath.Join(dir, tag+".log"), args...)
		if err != nil {
			return 0, 0, err
		}
		return run.wall.Seconds(), float64(run.peakRSS), nil
	}
	rematch := func(gal, out string, extra ...string) []string {
		return append([]string{"rematch", "--results", set.results, "--gallery", gal, "--output", filepath.Join(dir, out), "--model", b.modelDir}, extra...)
	}
	if res.rematchS, res.rematchRSS, err = run("rematch", rematch(set.known, "rematched", "--cluster=false")...); err != nil {
		res.err = err
		return res
	}
	clustered := filepath.Join(dir, "clustered")
	if res.clusterTotalS, res.clusterRSS, err = run("cluster", rematch(set.strange, "clustered", "--cluster")...); err != nil {
		res.err = err
		return res
	}
	res.clusterS = res.clusterTotalS - res.rematchS
	truth, got, err := clusterLabels(clustered)
	if err != nil {
		res.err = err
		return res
	}
	res.precision, res.recall = cluster.Pairwise(truth, got)
	res.clusters = distinct(got)
	if n <= exactMaxFaces {
		exactOut := filepath.Join(dir, "clustered-exact")
		var total float64
		if total, _, err = run("cluster-exact", rematch(set.strange, "clustered-exact", "--cluster", "--cluster-cells", "1")...); err != nil {
			res.err = err
			return res
		}
		res.exactS = total - res.rematchS
		_, exact, err := clusterLabels(exactOut)
		if err != nil {
			res.err = err
			return res
		}
		res.exactPrecision, res.exactRecall = cluster.Pairwise(truth, exact)
		p, r := cluster.Pairwise(exact, got)
		res.f1VsExact = 2 * p * r / (p + r)
	}
	if res.reportS, res.reportRSS, err = run("report", "report", "--results", clustered, "--gallery", set.strange, "--html", filepath.Join(dir, "report.html")); err != nil {
		res.err = err
		return res
	}
	// The photos do not exist: promote reads the table, finds the cluster
	// and skips every face, which is the part that grows with the table.
	res.promoteS, res.promoteRSS, err = run("promote", "gallery", "promote", "--results", clustered, "--cluster", "1", "--identity", "Bench Person",
		"--gallery-input", filepath.Join(dir, "promoted"))
	res.err = err
	return res
}

// clusterLabels reads a clustered table's unknown faces: the synthetic
// person of each (its image's folder) and its cluster id, in table order.
func clusterLabels(dir string) (truth, got []int, err error) {
	people := map[string]int{}
	err = tables.Scan(context.Background(), dir, func(rows []results.Row) error {
		for _, r := range rows {
			if r.FaceIndex == nil || r.Accepted { // a face may lie near a stranger
				continue
			}
			if r.ClusterID == nil {
				return fmt.Errorf("%s: %s has no cluster id", dir, r.ImageURI)
			}
			person := filepath.Base(filepath.Dir(r.ImageURI))
			id, ok := people[person]
			if !ok {
				id = len(people)
				people[person] = id
			}
			truth, got = append(truth, id), append(got, int(*r.ClusterID))
		}
		return nil
	})
	return truth, got, err
}

func distinct(v []int) int {
	seen := map[int]bool{}
	for _, x := range v {
		seen[x] = true
	}
	return len(seen)
}

// sizeLabel writes 100000 as 100k and 1000000 as 1m.
func sizeLabel(n int) string {
	switch {
	case n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "m"
	case n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// scaleSummary is the SUMMARY fields of the scale runs: rematch and report
// at the largest size, clustering at each.
func scaleSummary(rs []scaleResult) string {
	if len(rs) == 0 {
		return ""
	}
	last := rs[len(rs)-1]
	f := []string{
		fmt.Sprintf("rematch_rows_s=%.0f", float64(last.faces)/last.rematchS),
		fmt.Sprintf("rematch_rss_mb=%.0f", last.rematchRSS/(1<<20)),
	}
	f1 := "n/a"
	for _, r := range rs {
		f = append(f, fmt.Sprintf("cluster_%s_s=%.1f", sizeLabel(r.faces), r.clusterS))
		if r.exactS > 0 {
			f1 = fmt.Sprintf("%.4f", r.f1VsExact)
		}
	}
	f = append(f, "cluster_f1_vs_exact="+f1,
		fmt.Sprintf("report_rss_mb=%.0f", last.reportRSS/(1<<20)),
		fmt.Sprintf("promote_rss_mb=%.0f", last.promoteRSS/(1<<20)))
	return strings.Join(f, " ")
}
