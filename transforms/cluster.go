package transforms

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/facebatch/facebatch/cluster"
	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/results"
)

func init() {
	register.DoFn5x1[context.Context, int, func(*UnknownFace) bool, func(FaceCluster), func(results.ClusterRow), error](&clusterFn{})
	register.DoFn4x0[context.Context, results.Row, func(*FaceCluster) bool, func(results.Row)](&labelFn{})
	register.Iter1[UnknownFace]()
	register.Iter1[FaceCluster]()
	register.Emitter1[FaceCluster]()
	register.Emitter1[results.ClusterRow]()
}

var facesClustered = beam.NewCounter("facebatch", "faces_clustered")

// DefaultClusterMinFaces is the fewest unknown faces a run clusters: one
// face alone is nobody's twin.
const DefaultClusterMinFaces = 2

// seenWorkers bounds the modification-time lookups in flight.
const seenWorkers = 16

// ClusterConfig is how unknown faces are clustered, and what the clusters
// table records about it.
type ClusterConfig struct {
	RunID          string
	Threshold      float64
	MinFaces       int
	ModelID        string
	Profile        string
	GalleryVersion string
}

// FaceCluster assigns one face to a cluster.
type FaceCluster struct {
	URI       string
	Index     int
	ClusterID int64
}

// ClusterFaces groups the unknown faces of the whole run by identity (all
// of them in one place: a cluster may span any images) and returns the
// results rows with their cluster ids, and the clusters table's rows.
// Fewer than cfg.MinFaces unknown faces are not clustered: their rows keep
// a null cluster id and there are no clusters.
func ClusterFaces(s beam.Scope, rows, unknown beam.PCollection, cfg ClusterConfig) (labelled, clusters beam.PCollection) {
	s = s.Scope("transforms.ClusterFaces")
	if cfg.MinFaces <= 0 {
		cfg.MinFaces = DefaultClusterMinFaces
	}
	all := beam.GroupByKey(s, beam.AddFixedKey(s, unknown))
	assigned, clusters := beam.ParDo2(s, &clusterFn{Config: cfg}, all)
	labelled = beam.ParDo(s, &labelFn{}, rows, beam.SideInput{Input: assigned})
	return labelled, clusters
}

type clusterFn struct{ Config ClusterConfig }

func (f *clusterFn) ProcessElement(ctx context.Context, _ int, iter func(*UnknownFace) bool, assign func(FaceCluster), emit func(results.ClusterRow)) error {
	faces := collect(iter)
	if len(faces) < f.Config.MinFaces {
		log.Infof(ctx, "identify: %d unknown faces, fewer than %d: not clustered", len(faces), f.Config.MinFaces)
		return nil
	}
	// The runner delivers the faces in any order; sorting them makes the
	// clustering, and so the cluster ids, a function of the input alone.
	slices.SortFunc(faces, func(a, b UnknownFace) int {
		return cmp.Or(cmp.Compare(a.URI, b.URI), cmp.Compare(a.Index, b.Index))
	})
	encs := make([][]float32, len(faces))
	for i := range faces {
		encs[i] = faces[i].Embedding
	}
	res, err := cluster.Group(ctx, encs, cluster.Options{Threshold: f.Config.Threshold})
	if err != nil {
		return fmt.Errorf("transforms: clustering %d unknown faces: %w", len(faces), err)
	}
	seen := seenTimes(ctx, faces)
	for c, cl := range res.Clusters {
		id := int64(c + 1)
		for _, i := range cl.Members {
			assign(FaceCluster{URI: faces[i].URI, Index: faces[i].Index, ClusterID: id})
		}
		emit(f.row(id, cl, faces, encs, seen))
	}
	facesClustered.Inc(ctx, int64(len(faces)))
	log.Infof(ctx, "identify: %d unknown faces in %d clusters (threshold %g)", len(faces), len(res.Clusters), f.Config.Threshold)
	return nil
}

func (f *clusterFn) row(id int64, cl cluster.Cluster, faces []UnknownFace, encs [][]float32, seen map[string]int64) results.ClusterRow {
	m := faces[cl.Medoid]
	row := results.ClusterRow{
		RunID: f.Config.RunID, ClusterID: id, Size: int64(len(cl.Members)),
		MedoidImageURI: m.URI, MedoidFaceIndex: int32(m.Index),
		MedoidBoxX: int32(m.X), MedoidBoxY: int32(m.Y), MedoidBoxW: int32(m.W), MedoidBoxH: int32(m.H),
		ClusterThreshold: f.Config.Threshold, ModelID: f.Config.ModelID, Profile: f.Config.Profile,
		GalleryVersion: f.Config.GalleryVersion,
	}
	for _, i := range cl.Members {
		t, ok := seen[faces[i].URI]
		if !ok {
			continue
		}
		if row.FirstSeen == nil || t < *row.FirstSeen {
			row.FirstSeen = ptr(t)
		}
		if row.LastSeen == nil || t > *row.LastSeen {
			row.LastSeen = ptr(t)
		}
	}
	// Examples: the medoid's image, then those of the faces nearest it
	// (ties by input order, which is sorted).
	near := slices.Clone(cl.Members)
	medoid := encs[cl.Medoid]
	sim := func(i int) float64 {
		var d float64
		for k, v := range encs[i] {
			d += float64(v) * float64(medoid[k])
		}
		return d
	}
	slices.SortStableFunc(near, func(a, b int) int { return cmp.Compare(sim(b), sim(a)) })
	near = append([]int{cl.Medoid}, near...)
	for _, i := range near {
		if len(row.ExampleImageURIs) == results.MaxExamples {
			break
		}
		if !slices.Contains(row.ExampleImageURIs, faces[i].URI) {
			row.ExampleImageURIs = append(row.ExampleImageURIs, faces[i].URI)
		}
	}
	return row
}

// seenTimes returns, per image, when it was seen: taken (EXIF) if it says,
// else its object's modification time. Images with neither are left out.
func seenTimes(ctx context.Context, faces []UnknownFace) map[string]int64 {
	seen := map[string]int64{}
	var stat []string
	for _, f := range faces {
		if _, done := seen[f.URI]; done {
			continue
		}
		seen[f.URI] = f.TakenAt
		if f.TakenAt == 0 {
			stat = append(stat, f.URI)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan string)
	for range min(seenWorkers, len(stat)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for uri := range next {
				t, err := files.ModTime(ctx, uri)
				mu.Lock()
				if err == nil {
					seen[uri] = t.UnixMilli()
				} else {
					delete(seen, uri)
				}
				mu.Unlock()
			}
		}()
	}
	for _, uri := range stat {
		next <- uri
	}
	close(next)
	wg.Wait()
	return seen
}

// labelFn sets the cluster id on the rows of clustered faces.
type labelFn struct {
	once sync.Once
	ids  map[faceKey]int64
}

type faceKey struct {
	uri   string
	index int32
}

func (f *labelFn) ProcessElement(ctx context.Context, r results.Row, assigned func(*FaceCluster) bool, emit func(results.Row)) {
	// Materialise the side input once per DoFn instance, as matchFn does.
	f.once.Do(func() {
		f.ids = map[faceKey]int64{}
		for _, a := range collect(assigned) {
			f.ids[faceKey{a.URI, int32(a.Index)}] = a.ClusterID
		}
	})
	if r.FaceIndex != nil {
		if id, ok := f.ids[faceKey{r.ImageURI, *r.FaceIndex}]; ok {
			r.ClusterID = ptr(id)
		}
	}
	emit(r)
}
