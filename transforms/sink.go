package transforms

import (
	"context"
	"errors"
	"hash/fnv"
	"sort"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

func init() {
	register.DoFn2x0[results.Row, func(int, results.Row)](&shardResultsFn{})
	register.DoFn2x0[gallery.Row, func(int, gallery.Row)](&shardGalleryFn{})
	register.DoFn4x1[context.Context, int, func(*results.Row) bool, func(shardSummary), error](&writeResultsFn{})
	register.DoFn4x1[context.Context, int, func(*gallery.Row) bool, func(shardSummary), error](&writeGalleryFn{})
	register.DoFn4x1[context.Context, int, func(*results.ClusterRow) bool, func(shardSummary), error](&writeClustersFn{})
	register.DoFn3x1[context.Context, []byte, func(*shardSummary) bool, error](&finalizeFn{})
	register.Emitter2[int, results.Row]()
	register.Emitter2[int, gallery.Row]()
	register.Emitter1[shardSummary]()
	register.Iter1[results.Row]()
	register.Iter1[results.ClusterRow]()
	register.Iter1[shardSummary]()
}

// SinkConfig says where and how a table is written.
type SinkConfig struct {
	// Dir is the table folder or gs:// prefix.
	Dir string
	// Shards is the number of part files; rows go to a shard by image URI,
	// so all rows of an image share a file and reruns name files alike.
	Shards int
	RunID  string
	// Gallery is what the gallery manifest records (gallery tables only).
	Gallery GalleryConfig
}

const (
	kindResults  = "results"
	kindGallery  = "gallery"
	kindClusters = "clusters"
)

// WriteResults writes results rows as a sharded Parquet table: parts are
// staged under _temporary/<run id>/, moved into place when all are written,
// stale parts of an earlier run are removed, and _SUCCESS comes last.
func WriteResults(s beam.Scope, rows beam.PCollection, cfg SinkConfig) {
	s = s.Scope("transforms.WriteResults")
	cfg = withDefaults(cfg)
	keyed := beam.ParDo(s, &shardResultsFn{Shards: cfg.Shards}, rows)
	summaries := beam.ParDo(s, &writeResultsFn{Config: cfg}, beam.GroupByKey(s, keyed))
	finalize(s, summaries, cfg, kindResults)
}

// WriteGallery writes gallery rows like WriteResults, plus gallery.json.
func WriteGallery(s beam.Scope, rows beam.PCollection, cfg SinkConfig) {
	s = s.Scope("transforms.WriteGallery")
	cfg = withDefaults(cfg)
	keyed := beam.ParDo(s, &shardGalleryFn{Shards: cfg.Shards}, rows)
	summaries := beam.ParDo(s, &writeGalleryFn{Config: cfg}, beam.GroupByKey(s, keyed))
	finalize(s, summaries, cfg, kindGallery)
}

// WriteClusters writes the clusters table like WriteResults, as one part
// (a run has at most one cluster per unknown face) ordered by cluster id.
func WriteClusters(s beam.Scope, rows beam.PCollection, cfg SinkConfig) {
	s = s.Scope("transforms.WriteClusters")
	cfg.Shards = 1
	summaries := beam.ParDo(s, &writeClustersFn{Config: cfg}, beam.GroupByKey(s, beam.AddFixedKey(s, rows)))
	finalize(s, summaries, cfg, kindClusters)
}

func withDefaults(cfg SinkConfig) SinkConfig {
	if cfg.Shards <= 0 {
		cfg.Shards = 1
	}
	return cfg
}

// finalize runs once, after every shard is written: the summaries are its
// side input, which the runner completes before running it. Its main input
// is a single impulse, so it runs even when there are no rows at all.
func finalize(s beam.Scope, summaries beam.PCollection, cfg SinkConfig, kind string) {
	beam.ParDo0(s, &finalizeFn{Config: cfg, Kind: kind}, beam.Impulse(s), beam.SideInput{Input: summaries})
}

func shardOf(uri string, shards int) int {
	h := fnv.New32a()
	h.Write([]byte(uri))
	return int(h.Sum32() % uint32(shards))
}

type shardResultsFn struct{ Shards int }

func (f *shardResultsFn) ProcessElement(r results.Row, emit func(int, results.Row)) {
	emit(shardOf(r.ImageURI, f.Shards), r)
}

type shardGalleryFn struct{ Shards int }

func (f *shardGalleryFn) ProcessElement(r gallery.Row, emit func(int, gallery.Row)) {
	emit(shardOf(r.ImageURI, f.Shards), r)
}

// shardSummary is what one written shard tells the finalizer.
type shardSummary struct {
	Shard    int
	Temp     string
	Rows     int64
	Faces    int64
	Matched  int64
	Unknown  int64
	Statuses []tables.StatusCount // images by status
	// Gallery tables only.
	Reused, Encoded, Rejected int64
	Identities                []tables.StatusCount // ok photos by identity
	Digests                   []string
}

// tempPart is where a shard is staged. The suffix keeps staged files out of
// every "*.parquet" glob, even a recursive one.
func tempPart(cfg SinkConfig, shard int) string {
	return files.Join(cfg.Dir, tables.TempDir+"/"+cfg.RunID+"/"+tables.PartName(shard, cfg.Shards)+tables.StagingSuffix)
}

type writeResultsFn struct{ Config SinkConfig }

func (f *writeResultsFn) ProcessElement(ctx context.Context, shard int, iter func(*results.Row) bool, emit func(shardSummary)) error {
	rows := collect(iter)
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].ImageURI != rows[j].ImageURI {
			return rows[i].ImageURI < rows[j].ImageURI
		}
		return faceIndex(rows[i].FaceIndex) < faceIndex(rows[j].FaceIndex)
	})
	sum := shardSummary{Shard: shard, Temp: tempPart(f.Config, shard), Rows: int64(len(rows))}
	images := map[string]string{}
	for _, r := range rows {
		if r.FaceIndex != nil {
			sum.Faces++
		}
		switch {
		case r.Accepted:
			sum.Matched++
		case r.Status == results.StatusOK:
			sum.Unknown++
		}
		// An image with a face is ok; otherwise its one row says why not.
		status := r.Status
		if r.FaceIndex != nil {
			status = results.StatusOK
		}
		if prev, seen := images[r.ImageURI]; !seen || prev != results.StatusOK {
			images[r.ImageURI] = status
		}
	}
	sum.Statuses = countValues(images)
	if err := tables.Write(ctx, sum.Temp, rows); err != nil {
		return err
	}
	emit(sum)
	return nil
}

func faceIndex(p *int32) int32 {
	if p == nil {
		return -1
	}
	return *p
}

type writeClustersFn struct{ Config SinkConfig }

func (f *writeClustersFn) ProcessElement(ctx context.Context, shard int, iter func(*results.ClusterRow) bool, emit func(shardSummary)) error {
	rows := collect(iter)
	sort.Slice(rows, func(i, j int) bool { return rows[i].ClusterID < rows[j].ClusterID })
	sum := shardSummary{Shard: shard, Temp: tempPart(f.Config, shard), Rows: int64(len(rows))}
	for _, r := range rows {
		sum.Faces += r.Size
	}
	if err := tables.Write(ctx, sum.Temp, rows); err != nil {
		return err
	}
	emit(sum)
	return nil
}

type writeGalleryFn struct{ Config SinkConfig }

func (f *writeGalleryFn) ProcessElement(ctx context.Context, shard int, iter func(*gallery.Row) bool, emit func(shardSummary)) error {
	rows := collect(iter)
	sort.Slice(rows, func(i, j int) bool { return rows[i].ImageURI < rows[j].ImageURI })
	sum := shardSummary{Shard: shard, Temp: tempPart(f.Config, shard), Rows: int64(len(rows))}
	images := map[string]string{}
	identities := map[string]int64{}
	for i, r := range rows {
		images[r.ImageURI] = r.Status
		if r.Status != gallery.StatusOK {
			sum.Rejected++
			continue
		}
		sum.Faces++
		identities[r.Identity]++
		if r.RunID == f.Config.RunID {
			sum.Encoded++
		} else {
			sum.Reused++
		}
		d := rows[i].Digest()
		sum.Digests = append(sum.Digests, string(d[:]))
	}
	sum.Statuses = countValues(images)
	for id, n := range identities {
		sum.Identities = append(sum.Identities, tables.StatusCount{Status: id, Count: n})
	}
	if err := tables.Write(ctx, sum.Temp, rows); err != nil {
		return err
	}
	emit(sum)
	return nil
}

// countValues counts the values of m, sorted by value.
func countValues(m map[string]string) []tables.StatusCount {
	counts := map[string]int64{}
	for _, v := range m {
		counts[v]++
	}
	out := make([]tables.StatusCount, 0, len(counts))
	for k, n := range counts {
		out = append(out, tables.StatusCount{Status: k, Count: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Status < out[j].Status })
	return out
}

type finalizeFn struct {
	Config SinkConfig
	Kind   string
}

func (f *finalizeFn) ProcessElement(ctx context.Context, _ []byte, iter func(*shardSummary) bool) error {
	cfg := f.Config
	byShard := map[int]shardSummary{}
	for _, s := range collect(iter) {
		byShard[s.Shard] = s
	}
	marker := tables.Marker{Kind: f.Kind, RunID: cfg.RunID}
	statuses := map[string]int64{}
	identities := map[string]int64{}
	var digests [][32]byte
	var reused, encoded, rejected int64
	final := map[string]bool{}
	for shard := 0; shard < cfg.Shards; shard++ {
		name := files.Join(cfg.Dir, tables.PartName(shard, cfg.Shards))
		final[name] = true
		marker.Files = append(marker.Files, files.Base(name))
		sum, ok := byShard[shard]
		if !ok {
			// No rows hashed to this shard: write an empty part, so the
			// table always has exactly Shards files.
			if err := f.writeEmpty(ctx, name); err != nil {
				return err
			}
			continue
		}
		if err := files.Rename(ctx, sum.Temp, name); err != nil {
			// A retried finalizer (a runner retries a failed bundle) finds
			// the parts it moved before it failed: staging is per run, so a
			// missing staged part with the part in place was moved by us.
			if !errors.Is(err, files.ErrNotFound) {
				return err
			}
			if ok, serr := files.Exists(ctx, name); serr != nil || !ok {
				return err
			}
		}
		marker.Rows += sum.Rows
		marker.Faces += sum.Faces
		marker.Matched += sum.Matched
		marker.Unknown += sum.Unknown
		reused, encoded, rejected = reused+sum.Reused, encoded+sum.Encoded, rejected+sum.Rejected
		for _, c := range sum.Statuses {
			statuses[c.Status] += c.Count
			marker.Images += c.Count
		}
		for _, c := range sum.Identities {
			identities[c.Status] += c.Count
		}
		for _, d := range sum.Digests {
			digests = append(digests, [32]byte([]byte(d)))
		}
	}
	for st, n := range statuses {
		marker.ByStatus = append(marker.ByStatus, tables.StatusCount{Status: st, Count: n})
	}
	sort.Slice(marker.ByStatus, func(i, j int) bool { return marker.ByStatus[i].Status < marker.ByStatus[j].Status })

	// Parts of an earlier run with another shard count would be read as
	// part of this table: remove them.
	parts, err := tables.Parts(ctx, cfg.Dir)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if !final[p] {
			if err := files.Remove(ctx, p); err != nil {
				return err
			}
		}
	}
	// Our staging goes, and so does any left by an earlier run that died
	// before finalizing: a table has one writer at a time (each run
	// removes _SUCCESS as it starts), and such leftovers are never moved.
	if err := files.RemoveAll(ctx, files.Join(cfg.Dir, tables.TempDir)); err != nil {
		return err
	}
	now := time.Now().UTC()
	if f.Kind == kindGallery {
		m := gallery.Manifest{
			Version: gallery.Version(digests), ModelID: cfg.Gallery.ModelID, Profile: cfg.Gallery.Profile,
			Detector: cfg.Gallery.Detector, RunID: cfg.RunID, Rows: marker.Rows, Photos: marker.Faces,
			Rejected: rejected, Reused: reused, Encoded: encoded, Identities: identities, CreatedAt: now,
		}
		if err := tables.WriteJSON(ctx, files.Join(cfg.Dir, gallery.ManifestFile), m); err != nil {
			return err
		}
	}
	marker.CompletedAt = now
	if err := tables.WriteJSON(ctx, files.Join(cfg.Dir, tables.MarkerFile), marker); err != nil {
		return err
	}
	log.Infof(ctx, "%s: wrote %d rows for %d images to %s", f.Kind, marker.Rows, marker.Images, cfg.Dir)
	return nil
}

func (f *finalizeFn) writeEmpty(ctx context.Context, name string) error {
	switch f.Kind {
	case kindGallery:
		return tables.Write[gallery.Row](ctx, name, nil)
	case kindClusters:
		return tables.Write[results.ClusterRow](ctx, name, nil)
	}
	return tables.Write[results.Row](ctx, name, nil)
}
