package report

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

// The distance histogram spans [0, distanceMax], the range of the L2
// distance between unit encodings, in distanceBins bins.
const (
	distanceMax  = 2.0
	distanceBins = 40
)

// A kept row is a trimmed copy of a results row that a section shows, and
// its place in the table, which breaks ties in the table's order.
type kept struct {
	row results.Row
	seq int64
}

// tally is what the report keeps of the results rows, gathered in one pass
// over them: the counts, and for each section only the rows it can show.
// Its memory grows with the identities seen and the sections' sizes, not
// with the rows: a run's table can be far bigger than memory.
type tally struct {
	sum   *Summary
	seq   int64 // rows seen
	strip int   // the most faces kept per identity, images per status
	// embeddings says to keep the near-threshold faces' embeddings, which
	// pick the gallery photo shown beside each.
	embeddings bool

	runs, models, profiles, versions, detectors set
	thresholds                                  map[float64]bool

	// distances counts the distances of faces, accepted ones in [0], the
	// others in [1]; distanced is how many faces that is.
	distances [2][distanceBins]int
	distanced int

	identities    map[string]*counted // matched faces, the nearest first
	near, unknown *bounded[kept]      // closest under the threshold, and over it
	clusters      map[int64]*examples // the clusters shown
	problems      map[string]*counted // rows without a face by status, by URI
}

// counted counts rows and keeps the first few in some order.
type counted struct {
	n   int
	top *bounded[kept]
}

// examples are the faces shown of a cluster besides its medoid.
type examples struct {
	cluster results.ClusterRow
	top     *bounded[kept]
}

// Orders of the kept rows: ascending by a key, then in the table's order,
// as the stable sorts of the whole table that they replace.
var (
	byDistance = ascending(func(r *results.Row) float64 { return *r.Distance })
	// The matches closest under the threshold, and the unknown faces
	// closest over it.
	byUnder = ascending(func(r *results.Row) float64 { return r.Threshold - *r.Distance })
	byOver  = ascending(func(r *results.Row) float64 { return *r.Distance - r.Threshold })
	byURI   = ascending(func(r *results.Row) string { return r.ImageURI })
)

func ascending[K cmp.Ordered](key func(*results.Row) K) func(a, b kept) bool {
	return func(a, b kept) bool {
		return cmp.Or(cmp.Compare(key(&a.row), key(&b.row)), cmp.Compare(a.seq, b.seq)) < 0
	}
}

// newTally starts a tally for the sections opt asks for, and the clusters
// shown.
func newTally(opt Options, shown []results.ClusterRow) *tally {
	t := &tally{
		sum:        &Summary{ByStatus: map[string]int{}, Identities: map[string]int{}},
		strip:      opt.Strip,
		embeddings: opt.Gallery != "",
		runs:       set{}, models: set{}, profiles: set{}, versions: set{}, detectors: set{},
		thresholds: map[float64]bool{},
		identities: map[string]*counted{},
		near:       newBounded(opt.Risky, byUnder),
		unknown:    newBounded(opt.Risky, byOver),
		clusters:   map[int64]*examples{},
		problems:   map[string]*counted{},
	}
	for _, c := range shown {
		// The faces of the example images first, in the order listed.
		rank := map[string]int{}
		for i, u := range c.ExampleImageURIs {
			if _, ok := rank[u]; !ok {
				rank[u] = i
			}
		}
		byRank := ascending(func(r *results.Row) int {
			if i, ok := rank[r.ImageURI]; ok {
				return i
			}
			return math.MaxInt
		})
		t.clusters[c.ClusterID] = &examples{cluster: c, top: newBounded(opt.Examples, byRank)}
	}
	return t
}

// add counts one row, in the table's order.
func (t *tally) add(r *results.Row) {
	t.seq++
	s := t.sum
	s.Rows++
	t.runs.add(r.RunID)
	t.models.add(r.ModelID)
	t.profiles.add(r.Profile)
	t.versions.add(r.GalleryVersion)
	t.detectors.add(r.Detector)
	t.thresholds[r.Threshold] = true
	// An image has one row without a face, or rows for its faces numbered
	// from 0: one row counts each image, with no set of the images seen,
	// as the identify job's sink counts them for the marker. (An image
	// listed twice, by overlapping inputs, counts twice, there as here.)
	if r.FaceIndex == nil || *r.FaceIndex == 0 {
		s.Images++
		s.ByStatus[r.Status]++
	}
	if r.Status == results.StatusOK && r.Distance != nil {
		series := 1
		if r.Accepted {
			series = 0
		}
		t.distances[series][distanceBin(*r.Distance)]++
		t.distanced++
	}
	switch {
	case r.FaceIndex == nil:
		p := t.problems[r.Status]
		if p == nil {
			p = &counted{top: newBounded(t.strip, byURI)}
			t.problems[r.Status] = p
		}
		p.n++
		t.offer(p.top, r, false)
	case r.Status == results.StatusOK:
		t.face(r)
	}
	if r.FaceIndex != nil && r.ClusterID != nil {
		if ex, ok := t.clusters[*r.ClusterID]; ok &&
			(r.ImageURI != ex.cluster.MedoidImageURI || *r.FaceIndex != ex.cluster.MedoidFaceIndex) {
			t.offer(ex.top, r, false)
		}
	}
}

// face counts an ok face row.
func (t *tally) face(r *results.Row) {
	s := t.sum
	s.Faces++
	matched := r.Accepted && r.Identity != nil
	if matched {
		s.Matched++
		s.Identities[*r.Identity]++
	} else {
		s.Unknown++
	}
	if r.Distance == nil {
		return
	}
	if !matched {
		t.offer(t.unknown, r, t.embeddings)
		return
	}
	id := t.identities[*r.Identity]
	if id == nil {
		id = &counted{top: newBounded(t.strip, byDistance)}
		t.identities[*r.Identity] = id
	}
	id.n++
	t.offer(id.top, r, false)
	t.offer(t.near, r, t.embeddings)
}

// offer gives b the row r if b keeps it, as a copy holding only what the
// page shows and orders by: not the embedding unless embedding says so,
// and of the candidates only the nearest, in a slice of its own. The rest
// of the row's storage is let go.
func (t *tally) offer(b *bounded[kept], r *results.Row, embedding bool) {
	k := kept{row: *r, seq: t.seq}
	if !b.wants(k) {
		return
	}
	k.row = results.Row{
		ImageURI: r.ImageURI, FaceIndex: r.FaceIndex, BoxX: r.BoxX, BoxY: r.BoxY, BoxW: r.BoxW, BoxH: r.BoxH,
		Identity: r.Identity, Distance: r.Distance, Accepted: r.Accepted, Threshold: r.Threshold, Error: r.Error,
	}
	if embedding {
		k.row.Embedding = r.Embedding
	}
	if len(r.Candidates) > 0 {
		k.row.Candidates = []results.Candidate{r.Candidates[0]}
	}
	b.add(k)
}

// summary completes the counts.
func (t *tally) summary() *Summary {
	s := t.sum
	s.RunIDs, s.ModelIDs, s.Profiles, s.GalleryVersions, s.Detectors = t.runs.sorted(), t.models.sorted(), t.profiles.sorted(), t.versions.sorted(), t.detectors.sorted()
	for v := range t.thresholds {
		s.Thresholds = append(s.Thresholds, v)
	}
	sort.Float64s(s.Thresholds)
	return s
}

// distanceBin is the histogram bin of a distance; one out of range counts
// in the first or the last.
func distanceBin(d float64) int {
	i := int(d / distanceMax * distanceBins)
	return min(max(i, 0), distanceBins-1)
}

// largestClusters reads the clusters table and returns the n largest
// clusters, largest first (then by id), and how many the table holds.
func largestClusters(ctx context.Context, table string, n int) ([]results.ClusterRow, int, error) {
	top := newBounded(n, func(a, b results.ClusterRow) bool {
		return cmp.Or(cmp.Compare(b.Size, a.Size), cmp.Compare(a.ClusterID, b.ClusterID)) < 0
	})
	total := 0
	err := tables.Scan(ctx, table, func(rows []results.ClusterRow) error {
		for _, c := range rows {
			total++
			if top.wants(c) {
				top.add(c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("report: clusters: %w", err)
	}
	return top.sorted(), total, nil
}

// bounded keeps the k least values it is given, by less: a heap with the
// greatest kept value at its root, the one a lesser newcomer replaces.
// less must be a strict total order (ties broken, by table order say) so
// that what is kept does not depend on the order the values come in.
type bounded[T any] struct {
	k     int
	less  func(a, b T) bool
	items []T
}

func newBounded[T any](k int, less func(a, b T) bool) *bounded[T] {
	return &bounded[T]{k: k, less: less}
}

// wants reports whether add would keep v.
func (b *bounded[T]) wants(v T) bool {
	return len(b.items) < b.k || len(b.items) > 0 && b.less(v, b.items[0])
}

// add keeps v if it is among the k least so far.
func (b *bounded[T]) add(v T) {
	h := b.items
	if len(h) < b.k {
		h = append(h, v)
		for i := len(h) - 1; i > 0; {
			parent := (i - 1) / 2
			if !b.less(h[parent], h[i]) {
				break
			}
			h[parent], h[i] = h[i], h[parent]
			i = parent
		}
		b.items = h
		return
	}
	if len(h) == 0 || !b.less(v, h[0]) {
		return
	}
	h[0] = v
	for i := 0; ; {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if c+1 < len(h) && b.less(h[c], h[c+1]) {
			c++
		}
		if !b.less(h[i], h[c]) {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// sorted returns the values kept, least first.
func (b *bounded[T]) sorted() []T {
	out := slices.Clone(b.items)
	slices.SortFunc(out, func(x, y T) int {
		switch {
		case b.less(x, y):
			return -1
		case b.less(y, x):
			return 1
		}
		return 0
	})
	return out
}
