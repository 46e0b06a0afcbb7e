package transforms

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
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
	register.Combiner3[faceSample, UnknownFace, faceSample](&sampleFn{})
	register.DoFn3x1[context.Context, faceSample, func(cellIndex), error](&trainFn{})
	register.DoFn4x1[context.Context, UnknownFace, func(*cellIndex) bool, func(int, cellFace), error](&probeFn{})
	register.DoFn4x1[context.Context, int, func(*cellFace) bool, func(faceEdges), error](&searchCellFn{})
	register.DoFn4x1[context.Context, int, func(*faceEdges) bool, func(uint64, uint64), error](&whispersFn{})
	register.DoFn2x0[UnknownFace, func(uint64, UnknownFace)](&keyFaceFn{})
	register.DoFn4x0[uint64, func(*UnknownFace) bool, func(*uint64) bool, func(uint64, UnknownFace)](&joinLabelFn{})
	register.DoFn4x0[context.Context, uint64, func(*UnknownFace) bool, func(clusterDraft)](&draftFn{})
	register.DoFn5x0[context.Context, int, func(*clusterDraft) bool, func(FaceCluster), func(results.ClusterRow)](&numberFn{})
	register.DoFn4x0[context.Context, results.Row, func(*FaceCluster) bool, func(results.Row)](&labelFn{})
	register.Iter1[UnknownFace]()
	register.Iter1[FaceCluster]()
	register.Iter1[cellIndex]()
	register.Iter1[cellFace]()
	register.Iter1[faceEdges]()
	register.Iter1[clusterDraft]()
	register.Iter1[uint64]()
	register.Emitter1[FaceCluster]()
	register.Emitter1[results.ClusterRow]()
	register.Emitter1[cellIndex]()
	register.Emitter2[int, cellFace]()
	register.Emitter1[faceEdges]()
	register.Emitter2[uint64, uint64]()
	register.Emitter2[uint64, UnknownFace]()
	register.Emitter1[clusterDraft]()
}

var facesClustered = beam.NewCounter("facebatch", "faces_clustered")

// DefaultClusterMinFaces is the fewest unknown faces a run clusters: one
// face alone is nobody's twin.
const DefaultClusterMinFaces = 2

// clusterSample is the most faces the coarse centroids are trained on: 32
// per cell up to 1,024 cells (2M faces at cluster.DefaultCellFaces), fewer
// per cell past that. 16 MB of encodings, in every bundle's accumulator.
const clusterSample = 1 << 15

// seenWorkers bounds the modification-time lookups in flight.
const seenWorkers = 16

// ClusterConfig is how unknown faces are clustered, and what the clusters
// table records about it.
type ClusterConfig struct {
	RunID     string
	Threshold float64
	MinFaces  int
	// Cells splits the neighbour search (see cluster.Train): 1 is the
	// exact all-pairs search, 0 cluster.PartitionsFor(the faces). Probes
	// is how many nearest cells each face searches (0: the default).
	Cells, Probes  int
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

// ClusterFaces groups the unknown faces of the whole run by identity (a
// cluster may span any images) and returns the results rows with their
// cluster ids, and the clusters table's rows. Fewer than cfg.MinFaces
// unknown faces are not clustered: their rows keep a null cluster id and
// there are no clusters.
//
// The work is spread like this: a sample of the faces trains coarse
// centroids (one worker); every face goes to the cells of its nearest
// centroids; each cell finds its faces' nearest neighbours (the costly
// part, cells in parallel); the neighbour graph, a few dozen edges per
// face, is labelled by Chinese whispers in one place; the faces are
// grouped by label to find each cluster's medoid (in parallel), and the
// clusters, one small record each, are numbered in one place: by size,
// then medoid. With one cell this is the exact search of cluster.Group,
// and gives the same clusters. The graph step holds every face's edges
// and key: about 0.5 GB at 1M faces; past a few million it would need a
// distributed label propagation instead.
func ClusterFaces(s beam.Scope, rows, unknown beam.PCollection, cfg ClusterConfig) (labelled, clusters beam.PCollection) {
	s = s.Scope("transforms.ClusterFaces")
	if cfg.MinFaces <= 0 {
		cfg.MinFaces = DefaultClusterMinFaces
	}
	if cfg.Probes <= 0 {
		cfg.Probes = cluster.DefaultProbes
	}
	sample := beam.Combine(s, &sampleFn{Size: clusterSample}, unknown)
	index := beam.ParDo(s, &trainFn{Config: cfg}, sample)
	probes := beam.ParDo(s, &probeFn{Probes: cfg.Probes}, unknown, beam.SideInput{Input: index})
	edges := beam.ParDo(s, &searchCellFn{Threshold: cfg.Threshold}, beam.GroupByKey(s, probes))
	labels := beam.ParDo(s, &whispersFn{Threshold: cfg.Threshold}, beam.GroupByKey(s, beam.AddFixedKey(s, edges)))
	byLabel := beam.ParDo(s, &joinLabelFn{}, beam.CoGroupByKey(s, beam.ParDo(s, &keyFaceFn{}, unknown), labels))
	drafts := beam.ParDo(s, &draftFn{Config: cfg}, beam.GroupByKey(s, byLabel))
	assigned, clusters := beam.ParDo2(s, &numberFn{Config: cfg}, beam.GroupByKey(s, beam.AddFixedKey(s, drafts)))
	labelled = beam.ParDo(s, &labelFn{}, rows, beam.SideInput{Input: assigned})
	return labelled, clusters
}

// faceID names a face in the graph by a hash of its image and index: 8
// bytes an edge instead of a URI. whispersFn refuses a collision.
func faceID(uri string, index int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(uri))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(index))
	h.Write(b[:])
	return h.Sum64()
}

// compareFaces orders faces by image, then index: the order the clusters
// are computed in, so that they depend on the faces alone.
func compareFaces(uriA string, indexA int, uriB string, indexB int) int {
	return cmp.Or(cmp.Compare(uriA, uriB), cmp.Compare(indexA, indexB))
}

// faceSample is a bottom-k sample: the faces with the smallest mixed ids,
// which any bundle order gives alike, and the count of all faces.
type faceSample struct {
	Count int64
	Faces []sampledFace // by Key, ascending
}

type sampledFace struct {
	Key       uint64
	Embedding []float32
}

type sampleFn struct{ Size int }

func (f *sampleFn) CreateAccumulator() faceSample { return faceSample{} }

func (f *sampleFn) AddInput(a faceSample, u UnknownFace) faceSample {
	a.Count++
	return f.keep(a, []sampledFace{{mix(faceID(u.URI, u.Index)), u.Embedding}})
}

func (f *sampleFn) MergeAccumulators(a, b faceSample) faceSample {
	a.Count += b.Count
	return f.keep(a, b.Faces)
}

func (f *sampleFn) ExtractOutput(a faceSample) faceSample { return a }

// keep merges more into a's sample, keeping the Size smallest keys.
func (f *sampleFn) keep(a faceSample, more []sampledFace) faceSample {
	for _, m := range more {
		if len(a.Faces) == f.Size && m.Key >= a.Faces[len(a.Faces)-1].Key {
			continue
		}
		i, _ := slices.BinarySearchFunc(a.Faces, m.Key, func(s sampledFace, k uint64) int { return cmp.Compare(s.Key, k) })
		a.Faces = slices.Insert(a.Faces, i, m)
		if len(a.Faces) > f.Size {
			a.Faces = a.Faces[:f.Size]
		}
	}
	return a
}

// mix spreads a face id's bits (SplitMix64's finaliser), so that the
// smallest keys are a uniform sample whatever the URIs look like.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// cellIndex is the trained centroids, the side input of probeFn.
type cellIndex struct {
	Dim       int
	Centroids []float32
}

type trainFn struct{ Config ClusterConfig }

func (f *trainFn) ProcessElement(ctx context.Context, s faceSample, emit func(cellIndex)) error {
	if s.Count < int64(f.Config.MinFaces) {
		log.Infof(ctx, "cluster: %d unknown faces, fewer than %d: not clustered", s.Count, f.Config.MinFaces)
		return nil
	}
	cells := f.Config.Cells
	if cells == 0 {
		cells = cluster.PartitionsFor(int(s.Count))
	}
	cells = min(cells, len(s.Faces))
	dim := len(s.Faces[0].Embedding)
	n := min(len(s.Faces), max(cells*cluster.SamplePerCell, 1))
	x := make([]float32, 0, n*dim)
	for _, sf := range s.Faces[:n] {
		if len(sf.Embedding) != dim {
			return fmt.Errorf("transforms: clustering: encodings of %d and %d values", dim, len(sf.Embedding))
		}
		x = append(x, sf.Embedding...)
	}
	ix, err := cluster.Train(ctx, x, dim, cells)
	if err != nil {
		return fmt.Errorf("transforms: clustering %d unknown faces: %w", s.Count, err)
	}
	log.Infof(ctx, "cluster: %d unknown faces in %d cells (centroids from %d faces)", s.Count, cells, n)
	emit(cellIndex{Dim: dim, Centroids: ix.Centroids()})
	return nil
}

// cellFace is a face sent to a cell: to search it, and when Own (the
// cell is its nearest) to be found there.
type cellFace struct {
	ID        uint64
	URI       string
	Index     int
	Own       bool
	Embedding []float32
}

type probeFn struct {
	Probes int
	once   sync.Once
	index  *cluster.Index
	err    error
}

func (f *probeFn) ProcessElement(ctx context.Context, u UnknownFace, side func(*cellIndex) bool, emit func(int, cellFace)) error {
	f.once.Do(func() {
		var ci cellIndex
		if side(&ci) { // none: too few faces to cluster
			f.index, f.err = cluster.NewIndex(ci.Centroids, ci.Dim)
		}
	})
	if f.err != nil || f.index == nil {
		return f.err
	}
	id := faceID(u.URI, u.Index)
	for i, c := range f.index.Probe(u.Embedding, f.Probes) {
		emit(c, cellFace{ID: id, URI: u.URI, Index: u.Index, Own: i == 0, Embedding: u.Embedding})
	}
	return nil
}

// faceEdges is a face's nearest neighbours within one cell. The record
// from the face's own cell is Own; it names the face.
type faceEdges struct {
	ID    uint64
	URI   string
	Index int
	Own   bool
	To    []uint64
	Dots  []float32
}

type searchCellFn struct{ Threshold float64 }

func (f *searchCellFn) ProcessElement(ctx context.Context, _ int, iter func(*cellFace) bool, emit func(faceEdges)) error {
	faces := collect(iter)
	slices.SortFunc(faces, func(a, b cellFace) int { return compareFaces(a.URI, a.Index, b.URI, b.Index) })
	dim := len(faces[0].Embedding)
	var base []int
	q := make([]float32, 0, len(faces)*dim)
	for i, c := range faces {
		if len(c.Embedding) != dim {
			return fmt.Errorf("transforms: clustering: encodings of %d and %d values", dim, len(c.Embedding))
		}
		q = append(q, c.Embedding...)
		if c.Own {
			base = append(base, i)
		}
	}
	b := make([]float32, 0, len(base)*dim)
	for _, i := range base {
		b = append(b, faces[i].Embedding...)
	}
	minDot := float32(1 - f.Threshold*f.Threshold/2)
	found, err := cluster.Search(ctx, q, b, dim, cluster.DefaultMaxNeighbors, minDot,
		func(qi, bi int) bool { return faces[qi].ID == faces[base[bi]].ID })
	if err != nil {
		return fmt.Errorf("transforms: clustering a cell of %d faces: %w", len(faces), err)
	}
	for qi, ns := range found {
		c := &faces[qi]
		e := faceEdges{ID: c.ID, Own: c.Own, To: make([]uint64, len(ns)), Dots: make([]float32, len(ns))}
		if c.Own {
			e.URI, e.Index = c.URI, c.Index
		}
		for j, nb := range ns {
			e.To[j], e.Dots[j] = faces[base[nb.Row]].ID, nb.Dot
		}
		if c.Own || len(ns) > 0 {
			emit(e)
		}
	}
	return nil
}

type whispersFn struct{ Threshold float64 }

func (f *whispersFn) ProcessElement(ctx context.Context, _ int, iter func(*faceEdges) bool, emit func(uint64, uint64)) error {
	var nodes, others []faceEdges
	for {
		var e faceEdges
		if !iter(&e) {
			break
		}
		if e.Own {
			nodes = append(nodes, e)
		} else {
			others = append(others, e)
		}
	}
	slices.SortFunc(nodes, func(a, b faceEdges) int { return compareFaces(a.URI, a.Index, b.URI, b.Index) })
	at := make(map[uint64]int32, len(nodes))
	for i, n := range nodes {
		if j, dup := at[n.ID]; dup {
			return fmt.Errorf("transforms: clustering: %s face %d and %s face %d share the id %x (a hash collision, or a face given twice)",
				nodes[j].URI, nodes[j].Index, n.URI, n.Index, n.ID)
		}
		at[n.ID] = int32(i)
	}
	near := make([][]cluster.Neighbor, len(nodes))
	add := func(e faceEdges) error {
		i, ok := at[e.ID]
		if !ok {
			return fmt.Errorf("transforms: clustering: a face with id %x has no cell", e.ID)
		}
		for j, to := range e.To {
			near[i] = append(near[i], cluster.Neighbor{Row: int(at[to]), Dot: e.Dots[j]})
		}
		return nil
	}
	for _, e := range append(nodes, others...) {
		if err := add(e); err != nil {
			return err
		}
	}
	for i, ns := range near {
		near[i] = bestNeighbors(ns, cluster.DefaultMaxNeighbors)
	}
	labels, err := cluster.Labels(near, f.Threshold)
	if err != nil {
		return fmt.Errorf("transforms: clustering %d unknown faces: %w", len(nodes), err)
	}
	for i, l := range labels {
		emit(nodes[i].ID, nodes[l].ID)
	}
	return nil
}

// bestNeighbors keeps the k best of a face's neighbours from all its
// cells, as the exact search would have: nearest first, the lower node on
// equal distances, each once.
func bestNeighbors(ns []cluster.Neighbor, k int) []cluster.Neighbor {
	slices.SortFunc(ns, func(a, b cluster.Neighbor) int {
		return cmp.Or(cmp.Compare(b.Dot, a.Dot), cmp.Compare(a.Row, b.Row))
	})
	ns = slices.CompactFunc(ns, func(a, b cluster.Neighbor) bool { return a.Row == b.Row })
	return ns[:min(k, len(ns))]
}

type keyFaceFn struct{}

func (keyFaceFn) ProcessElement(u UnknownFace, emit func(uint64, UnknownFace)) {
	emit(faceID(u.URI, u.Index), u)
}

// joinLabelFn keys each clustered face by its label.
type joinLabelFn struct{}

func (joinLabelFn) ProcessElement(_ uint64, faces func(*UnknownFace) bool, labels func(*uint64) bool, emit func(uint64, UnknownFace)) {
	var label uint64
	if !labels(&label) {
		return // not clustered: too few faces
	}
	var u UnknownFace
	for faces(&u) {
		emit(label, u)
	}
}

// clusterDraft is one cluster before it is numbered: its row without an
// id, and its members.
type clusterDraft struct {
	Row     results.ClusterRow
	Members []FaceCluster // without ClusterID
}

type draftFn struct{ Config ClusterConfig }

func (f *draftFn) ProcessElement(ctx context.Context, _ uint64, iter func(*UnknownFace) bool, emit func(clusterDraft)) {
	faces := collect(iter)
	slices.SortFunc(faces, func(a, b UnknownFace) int { return compareFaces(a.URI, a.Index, b.URI, b.Index) })
	encs := make([][]float32, len(faces))
	d := clusterDraft{Members: make([]FaceCluster, len(faces))}
	for i := range faces {
		encs[i] = faces[i].Embedding
		d.Members[i] = FaceCluster{URI: faces[i].URI, Index: faces[i].Index}
	}
	d.Row = f.row(cluster.Medoid(encs), faces, encs, seenTimes(ctx, faces))
	emit(d)
}

// row is the cluster's row but for its id; faces are its members.
func (f *draftFn) row(medoidAt int, faces []UnknownFace, encs [][]float32, seen map[string]int64) results.ClusterRow {
	m := faces[medoidAt]
	row := results.ClusterRow{
		RunID: f.Config.RunID, Size: int64(len(faces)),
		MedoidImageURI: m.URI, MedoidFaceIndex: int32(m.Index),
		MedoidBoxX: int32(m.X), MedoidBoxY: int32(m.Y), MedoidBoxW: int32(m.W), MedoidBoxH: int32(m.H),
		ClusterThreshold: f.Config.Threshold, ModelID: f.Config.ModelID, Profile: f.Config.Profile,
		GalleryVersion: f.Config.GalleryVersion,
	}
	for _, u := range faces {
		t, ok := seen[u.URI]
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
	near := make([]int, len(faces))
	for i := range near {
		near[i] = i
	}
	medoid := encs[medoidAt]
	sim := func(i int) float64 {
		var d float64
		for k, v := range encs[i] {
			d += float64(v) * float64(medoid[k])
		}
		return d
	}
	slices.SortStableFunc(near, func(a, b int) int { return cmp.Compare(sim(b), sim(a)) })
	near = append([]int{medoidAt}, near...)
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

// numberFn numbers the clusters: largest first, then by medoid, so the
// same faces give the same ids.
type numberFn struct{ Config ClusterConfig }

func (f *numberFn) ProcessElement(ctx context.Context, _ int, iter func(*clusterDraft) bool, assign func(FaceCluster), emit func(results.ClusterRow)) {
	drafts := collect(iter)
	slices.SortFunc(drafts, func(a, b clusterDraft) int {
		return cmp.Or(cmp.Compare(b.Row.Size, a.Row.Size),
			compareFaces(a.Row.MedoidImageURI, int(a.Row.MedoidFaceIndex), b.Row.MedoidImageURI, int(b.Row.MedoidFaceIndex)))
	})
	var faces int64
	for c, d := range drafts {
		id := int64(c + 1)
		for _, m := range d.Members {
			m.ClusterID = id
			assign(m)
		}
		d.Row.ClusterID = id
		emit(d.Row)
		faces += d.Row.Size
	}
	facesClustered.Inc(ctx, faces)
	log.Infof(ctx, "cluster: %d unknown faces in %d clusters (threshold %g)", faces, len(drafts), f.Config.Threshold)
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
