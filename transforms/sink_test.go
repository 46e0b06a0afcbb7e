package transforms

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

// TestWriteResultsBundles writes rows as a runner that cuts them into two
// bundles would, then merges each shard's staged files: every row lands once
// in its image's shard, and the counts say what the rows hold, an image
// counted once whatever its faces.
func TestWriteResultsBundles(t *testing.T) {
	ctx := context.Background()
	cfg := SinkConfig{Dir: t.TempDir(), Shards: 2, RunID: "run-1"}
	face := func(uri string, i int32, accepted bool) results.Row {
		r := results.Row{ImageURI: uri, FaceIndex: &i, Status: results.StatusOK, Accepted: accepted}
		if accepted {
			r.Identity = ptr("ada")
		}
		return r
	}
	image := func(uri, status string) results.Row { return results.Row{ImageURI: uri, Status: status} }
	bundles := [][]results.Row{
		{face("a.jpg", 0, true), face("a.jpg", 1, false), image("b.jpg", results.StatusNoFace), face("c.jpg", 0, false)},
		{image("d.jpg", results.StatusDecodeError), face("e.jpg", 0, true), image("f.jpg", results.StatusNoFace), face("g.jpg", 0, true)},
	}
	byShard := map[int][]shardSummary{}
	for _, b := range bundles {
		w := &writeResultsFn{Config: cfg}
		if err := w.StartBundle(ctx, nil); err != nil {
			t.Fatal(err)
		}
		for _, r := range b {
			if err := w.ProcessElement(ctx, r, nil); err != nil {
				t.Fatal(err)
			}
		}
		err := w.FinishBundle(ctx, func(s shardSummary) { byShard[s.Shard] = append(byShard[s.Shard], s) })
		if err != nil {
			t.Fatal(err)
		}
	}
	var rows, faces, matched, unknown int64
	statuses := map[string]int64{}
	var uris []string
	for shard := range cfg.Shards {
		parts := byShard[shard]
		if len(parts) != 2 {
			t.Fatalf("shard %d staged %d files, want one per bundle", shard, len(parts))
		}
		var merged []shardSummary
		m := &mergeResultsFn{Config: cfg}
		err := m.ProcessElement(ctx, shard, iterOf(parts), func(s shardSummary) { merged = append(merged, s) })
		if err != nil {
			t.Fatal(err)
		}
		if len(merged) != 1 || merged[0].Shard != shard || !strings.HasPrefix(merged[0].Temp, filepath.Join(cfg.Dir, tables.TempDir, cfg.RunID)) {
			t.Fatalf("merge of shard %d = %+v", shard, merged)
		}
		got, err := tables.Read[results.Row](ctx, merged[0].Temp)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(got)) != merged[0].Rows {
			t.Errorf("shard %d holds %d rows, its summary says %d", shard, len(got), merged[0].Rows)
		}
		for _, r := range got {
			if s := shardOf(r.ImageURI, cfg.Shards); s != shard {
				t.Errorf("%s is in shard %d, want %d", r.ImageURI, shard, s)
			}
			uris = append(uris, r.ImageURI)
		}
		s := merged[0]
		rows, faces, matched, unknown = rows+s.Rows, faces+s.Faces, matched+s.Matched, unknown+s.Unknown
		for _, c := range s.Statuses {
			statuses[c.Status] += c.Count
		}
	}
	slices.Sort(uris)
	if want := []string{"a.jpg", "a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg", "g.jpg"}; !slices.Equal(uris, want) {
		t.Errorf("rows for %v, want %v", uris, want)
	}
	if rows != 8 || faces != 5 || matched != 3 || unknown != 2 {
		t.Errorf("rows %d faces %d matched %d unknown %d; want 8 5 3 2", rows, faces, matched, unknown)
	}
	if want := map[string]int64{"ok": 4, "no_face": 2, "decode_error": 1}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("images by status %v, want %v", statuses, want)
	}
}

func iterOf[T any](vs []T) func(*T) bool {
	i := 0
	return func(v *T) bool {
		if i == len(vs) {
			return false
		}
		*v = vs[i]
		i++
		return true
	}
}

// TestWriteResultsAbandonsFailedBundle starts a bundle that fails before
// FinishBundle (a runner then starts the next, or tears the DoFn down): its
// open staged files are abandoned, leaving nothing behind, not even the
// hidden temporary files they were being written to.
func TestWriteResultsAbandonsFailedBundle(t *testing.T) {
	ctx := context.Background()
	cfg := SinkConfig{Dir: t.TempDir(), Shards: 2, RunID: "run-1"}
	for _, end := range []string{"next bundle", "teardown"} {
		t.Run(end, func(t *testing.T) {
			w := &writeResultsFn{Config: cfg}
			if err := w.StartBundle(ctx, nil); err != nil {
				t.Fatal(err)
			}
			for _, uri := range []string{"a.jpg", "b.jpg", "c.jpg", "d.jpg"} {
				if err := w.ProcessElement(ctx, results.Row{ImageURI: uri, Status: results.StatusNoFace}, nil); err != nil {
					t.Fatal(err)
				}
			}
			staging := filepath.Join(cfg.Dir, tables.TempDir, cfg.RunID)
			if names := filesIn(t, staging); len(names) != 2 {
				t.Fatalf("while writing, staging holds %v, want a temporary file per shard", names)
			}
			if end == "teardown" {
				w.Teardown()
			} else if err := w.StartBundle(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if names := filesIn(t, staging); len(names) != 0 {
				t.Errorf("after the failed bundle, staging holds %v", names)
			}
		})
	}
}

func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
