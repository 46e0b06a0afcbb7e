package transforms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
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
	register.DoFn2x0[gallery.Row, func(int, gallery.Row)](&shardGalleryFn{})
	register.DoFn3x1[context.Context, results.Row, func(shardSummary), error](&writeResultsFn{})
	register.DoFn4x1[context.Context, int, func(*shardSummary) bool, func(shardSummary), error](&mergeResultsFn{})
	register.DoFn2x0[shardSummary, func(int, shardSummary)](&keyByShardFn{})
	register.Emitter2[int, shardSummary]()
	register.DoFn4x1[context.Context, int, func(*gallery.Row) bool, func(shardSummary), error](&writeGalleryFn{})
	register.DoFn4x1[context.Context, int, func(*results.ClusterRow) bool, func(shardSummary), error](&writeClustersFn{})
	register.DoFn3x1[context.Context, []byte, func(*shardSummary) bool, error](&finalizeFn{})
	register.Emitter2[int, gallery.Row]()
	register.Emitter1[shardSummary]()
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
	// Precision is recorded in the table's marker (tables.Marker.Precision).
	Precision string
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
//
// Unlike the gallery's, the results are streamed: a run's rows may be far
// more than memory (the local runner keeps a grouping's values in memory),
// so each bundle writes its rows straight into a staged file per shard, and
// only the files' summaries are grouped. A shard that several bundles
// wrote to is then merged, one staged file at a time, so an image's rows
// share a part file however the runner cut the bundles.
func WriteResults(s beam.Scope, rows beam.PCollection, cfg SinkConfig) {
	s = s.Scope("transforms.WriteResults")
	cfg = withDefaults(cfg)
	staged := beam.ParDo(s, &writeResultsFn{Config: cfg}, rows)
	byShard := beam.GroupByKey(s, beam.ParDo(s, &keyByShardFn{}, staged))
	finalize(s, beam.ParDo(s, &mergeResultsFn{Config: cfg}, byShard), cfg, kindResults)
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
	Reused, Encoded, Rejected, SubjectKept int64
	Identities                             []tables.StatusCount // ok photos by identity
	Digests                                []string
}

// tempPart is where a shard is staged, by whom (a bundle, or the merge of
// several) when it is staged in pieces. The suffix keeps staged files out
// of every "*.parquet" glob, even a recursive one.
func tempPart(cfg SinkConfig, shard int, by string) string {
	name := tables.PartName(shard, cfg.Shards)
	if by != "" {
		name += "." + by
	}
	return files.Join(cfg.Dir, tables.TempDir+"/"+cfg.RunID+"/"+name+tables.StagingSuffix)
}

// writeResultsFn streams each bundle's rows into a staged file per shard.
type writeResultsFn struct {
	Config SinkConfig

	bundle string
	parts  map[int]*resultsPart
}

// resultsPart is one staged file being written and what it holds so far.
type resultsPart struct {
	w        *tables.Writer[results.Row]
	sum      shardSummary
	statuses map[string]int64
}

// StartBundle takes the emitter only because Beam wants every bundle
// method to declare the DoFn's outputs.
func (f *writeResultsFn) StartBundle(_ context.Context, _ func(shardSummary)) error {
	f.abandon()
	// Staged names must not collide across bundles, nor across retries of
	// one bundle: a failed attempt's file is left for finalize to sweep.
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return fmt.Errorf("transforms: naming a staged part: %w", err)
	}
	f.bundle = hex.EncodeToString(id[:])
	f.parts = map[int]*resultsPart{}
	return nil
}

// ProcessElement emits nothing: its output, the summaries, comes with
// FinishBundle, when the staged files are complete.
func (f *writeResultsFn) ProcessElement(ctx context.Context, r results.Row, _ func(shardSummary)) error {
	shard := shardOf(r.ImageURI, f.Config.Shards)
	p, ok := f.parts[shard]
	if !ok {
		temp := tempPart(f.Config, shard, f.bundle)
		w, err := tables.Create[results.Row](ctx, temp)
		if err != nil {
			return err
		}
		p = &resultsPart{w: w, sum: shardSummary{Shard: shard, Temp: temp}, statuses: map[string]int64{}}
		f.parts[shard] = p
	}
	p.count(r)
	return p.w.Write(r)
}

func (f *writeResultsFn) FinishBundle(ctx context.Context, emit func(shardSummary)) error {
	for _, shard := range slices.Sorted(maps.Keys(f.parts)) {
		p := f.parts[shard]
		if err := p.w.Close(); err != nil {
			return err
		}
		p.sum.Statuses = statusCounts(p.statuses)
		emit(p.sum)
	}
	f.parts = nil
	return nil
}

// Teardown abandons what a failed last bundle left open.
func (f *writeResultsFn) Teardown() { f.abandon() }

// abandon aborts the staged files of a bundle that failed before
// FinishBundle closed them: a GCS part's spool is a local temporary file,
// outside the staging folder that finalize sweeps. Closed parts are left.
func (f *writeResultsFn) abandon() {
	for _, p := range f.parts {
		p.w.Abort()
	}
	f.parts = nil
}

// count adds r to the part's counts. An image counts once: as ok by the
// row of its first face, otherwise by its one row, whose status says why.
func (p *resultsPart) count(r results.Row) {
	p.sum.Rows++
	if r.FaceIndex != nil {
		p.sum.Faces++
	}
	switch {
	case r.Accepted:
		p.sum.Matched++
	case r.Status == results.StatusOK && r.Error == nil: // a face rematch could not label is neither
		p.sum.Unknown++
	}
	switch {
	case r.FaceIndex == nil:
		p.statuses[r.Status]++
	case *r.FaceIndex == 0:
		p.statuses[results.StatusOK]++
	}
}

type keyByShardFn struct{}

func (keyByShardFn) ProcessElement(s shardSummary, emit func(int, shardSummary)) {
	emit(s.Shard, s)
}

// mergeResultsFn makes one staged file of a shard's. A shard's files are
// many only where the runner cut the rows into many bundles (the direct
// runner does not); each is read whole, so the memory this takes is a
// bundle's, not the run's.
type mergeResultsFn struct{ Config SinkConfig }

func (f *mergeResultsFn) ProcessElement(ctx context.Context, shard int, iter func(*shardSummary) bool, emit func(shardSummary)) error {
	parts := collect(iter)
	if len(parts) == 1 {
		emit(parts[0])
		return nil
	}
	merged := shardSummary{Shard: shard, Temp: tempPart(f.Config, shard, "merged")}
	w, err := tables.Create[results.Row](ctx, merged.Temp)
	if err != nil {
		return err
	}
	statuses := map[string]int64{}
	for _, p := range parts {
		rows, err := tables.Read[results.Row](ctx, p.Temp)
		if err != nil {
			w.Abort()
			return err
		}
		if err := w.Write(rows...); err != nil {
			return err
		}
		merged.Rows += p.Rows
		merged.Faces += p.Faces
		merged.Matched += p.Matched
		merged.Unknown += p.Unknown
		for _, c := range p.Statuses {
			statuses[c.Status] += c.Count
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	merged.Statuses = statusCounts(statuses)
	emit(merged)
	return nil
}

type writeClustersFn struct{ Config SinkConfig }

func (f *writeClustersFn) ProcessElement(ctx context.Context, shard int, iter func(*results.ClusterRow) bool, emit func(shardSummary)) error {
	rows := collect(iter)
	sort.Slice(rows, func(i, j int) bool { return rows[i].ClusterID < rows[j].ClusterID })
	sum := shardSummary{Shard: shard, Temp: tempPart(f.Config, shard, ""), Rows: int64(len(rows))}
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
	sum := shardSummary{Shard: shard, Temp: tempPart(f.Config, shard, ""), Rows: int64(len(rows))}
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
		if r.IgnoredFaces != nil {
			sum.SubjectKept++
		}
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
	return statusCounts(counts)
}

// statusCounts lists counts sorted by status.
func statusCounts(counts map[string]int64) []tables.StatusCount {
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
	marker := tables.Marker{Kind: f.Kind, RunID: cfg.RunID, Precision: cfg.Precision}
	statuses := map[string]int64{}
	identities := map[string]int64{}
	var digests [][32]byte
	var reused, encoded, rejected, subjectKept int64
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
		subjectKept += sum.SubjectKept
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
	// So do the hidden temporary files of an earlier run killed while it
	// wrote its marker or manifest.
	if n, err := files.RemoveTemps(cfg.Dir); err != nil {
		return err
	} else if n > 0 {
		log.Infof(ctx, "%s: removed %d temporary files an earlier, killed run left in %s", f.Kind, n, cfg.Dir)
	}
	now := time.Now().UTC()
	if f.Kind == kindGallery {
		m := gallery.Manifest{
			Version: gallery.Version(digests), ModelID: cfg.Gallery.ModelID, Profile: cfg.Gallery.Profile,
			Detector: cfg.Gallery.Detector, RunID: cfg.RunID, Rows: marker.Rows, Photos: marker.Faces,
			Rejected: rejected, SubjectKept: subjectKept, Reused: reused, Encoded: encoded, Identities: identities, CreatedAt: now,
		}
		if cfg.Gallery.CalibrateFPIR > 0 {
			// The parts are in place (the marker is not, yet): read them
			// back rather than carry every embedding through the summaries.
			var rows []gallery.Row
			for name := range final {
				part, err := tables.Read[gallery.Row](ctx, name)
				if err != nil {
					return fmt.Errorf("calibrating %s: %w", cfg.Dir, err)
				}
				rows = append(rows, part...)
			}
			if m.Calibration, err = gallery.Calibrate(rows, cfg.Gallery.CalibrateFPIR); err != nil {
				return err
			}
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
