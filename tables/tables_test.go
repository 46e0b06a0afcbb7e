package tables_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	"github.com/parquet-go/parquet-go"

	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/tables"
)

// row is a small table row: a required column, an optional one and lists.
type row struct {
	ID     int64     `parquet:"id"`
	Name   string    `parquet:"name"`
	Score  *float64  `parquet:"score,optional"`
	Tags   []string  `parquet:"tags,list"`
	Vector []float32 `parquet:"vector,list"`
}

func ptr[T any](v T) *T { return &v }

// sameRows compares rows, taking an empty list and a nil one as equal.
func sameRows(a, b []row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Name != y.Name || !slices.Equal(x.Tags, y.Tags) || !slices.Equal(x.Vector, y.Vector) {
			return false
		}
		if (x.Score == nil) != (y.Score == nil) || x.Score != nil && *x.Score != *y.Score {
			return false
		}
	}
	return true
}

func TestPartName(t *testing.T) {
	tests := []struct {
		shard, shards int
		want          string
	}{
		{0, 1, "part-00000-of-00001.parquet"},
		{1, 4, "part-00001-of-00004.parquet"},
		{3, 4, "part-00003-of-00004.parquet"},
		{12345, 99999, "part-12345-of-99999.parquet"},
	}
	for _, tt := range tests {
		got := tables.PartName(tt.shard, tt.shards)
		if got != tt.want {
			t.Errorf("PartName(%d, %d) = %q, want %q", tt.shard, tt.shards, got, tt.want)
		}
		if !tables.IsPart(got) {
			t.Errorf("IsPart(PartName(%d, %d)) = false", tt.shard, tt.shards)
		}
	}
}

func TestIsPart(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"part-00001-of-00004.parquet", true},
		{"part-00000-of-00001.parquet", true},
		{"part-99999-of-99999.parquet", true},
		{"part-1-of-4.parquet", false},
		{"part-000001-of-00004.parquet", false},
		{"part-00001-of-000004.parquet", false},
		{"part-0000a-of-00004.parquet", false},
		{"part-00001-of-00004.parquet.tmp", false},
		{"part-00001-of-00004.json", false},
		{"part-00001-of-00004", false},
		{"xpart-00001-of-00004.parquet", false},
		{".part-00001-of-00004.parquet", false},
		{"dir/part-00001-of-00004.parquet", false},
		{"part-00001-00004.parquet", false},
		{"_SUCCESS", false},
		{"manifest.json", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := tables.IsPart(tt.name); got != tt.want {
			t.Errorf("IsPart(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWriteRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct {
		name string
		rows []row
	}{
		{"rows", []row{
			{ID: 1, Name: "ada", Score: ptr(0.25), Tags: []string{"a", "b"}, Vector: []float32{0.5, -1, 2}},
			{ID: 2, Name: "", Score: nil, Tags: nil, Vector: nil},
			{ID: 3, Name: "crème brûlée", Score: ptr(0.0), Tags: []string{""}, Vector: []float32{0}},
			{ID: -4, Name: "grace", Score: ptr(-1.5), Tags: []string{"x"}, Vector: []float32{1, 2, 3, 4}},
		}},
		{"one row", []row{{ID: 7, Name: "one", Score: ptr(7.0), Tags: []string{"t"}}}},
		{"no rows", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uri := filepath.Join(dir, tt.name, tables.PartName(0, 1))
			if err := tables.Write(ctx, uri, tt.rows); err != nil {
				t.Fatalf("Write: %v", err)
			}
			got, err := tables.Read[row](ctx, uri)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !sameRows(got, tt.rows) {
				t.Errorf("Read = %+v, want %+v", got, tt.rows)
			}
		})
	}
}

// TestWriter streams more rows than a row group holds, one call at a time
// and in slices, and reads them back in order from several row groups.
func TestWriter(t *testing.T) {
	ctx := context.Background()
	var rows []row
	for i := range 2*tables.RowGroupRows + 3 {
		rows = append(rows, row{ID: int64(i), Name: "r", Vector: []float32{float32(i)}})
	}
	uri := filepath.Join(t.TempDir(), tables.PartName(0, 1))
	w, err := tables.Create[row](ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rows[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rows[1:]...); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(uri); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("before Close: Stat(%s) = %v, want not found", uri, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := tables.Read[row](ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRows(got, rows) {
		t.Errorf("read back %d rows, not the %d written in order", len(got), len(rows))
	}
	f, err := os.Open(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, _ := f.Stat()
	pf, err := parquet.OpenFile(f, info.Size())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pf.RowGroups()); n != 3 {
		t.Errorf("%d row groups, want 3 of at most %d rows", n, tables.RowGroupRows)
	}
}

func TestEncode(t *testing.T) {
	rows := []row{{ID: 1, Name: "a", Score: ptr(1.0)}}
	data, err := tables.Encode(rows)
	if err != nil {
		t.Fatal(err)
	}
	// A Parquet file starts and ends with the magic "PAR1".
	if len(data) < 8 || string(data[:4]) != "PAR1" || string(data[len(data)-4:]) != "PAR1" {
		t.Errorf("Encode: not a Parquet file: % x", data)
	}
}

func TestReadErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notParquet := filepath.Join(dir, "not.parquet")
	if err := os.WriteFile(notParquet, []byte("not parquet at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		uri  string
		want error // nil: any error
	}{
		{"missing", filepath.Join(dir, tables.PartName(0, 1)), files.ErrNotFound},
		{"not parquet", notParquet, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tables.Read[row](ctx, tt.uri)
			if err == nil {
				t.Fatalf("Read(%q) = %+v, want an error", tt.uri, got)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Read(%q): %v, want %v", tt.uri, err, tt.want)
			}
		})
	}
}

// writeParts writes table parts into dir: part i holds rows[i].
func writeParts(t *testing.T, dir string, rows ...[]row) []string {
	t.Helper()
	var uris []string
	for i, r := range rows {
		uri := filepath.Join(dir, tables.PartName(i, len(rows)))
		if err := tables.Write(context.Background(), uri, r); err != nil {
			t.Fatal(err)
		}
		uris = append(uris, uri)
	}
	return uris
}

func writeFile(t *testing.T, p string, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParts(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		dir    string // relative to a temp dir
		shards int
	}{
		{"table", "results", 3},
		{"one part", "one", 1},
		{"no parts", "empty", 0},
		{"under a hidden folder", ".cache/facebatch/results", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), filepath.FromSlash(tt.dir))
			var want []string
			// Written out of order; Parts must sort them.
			for i := tt.shards - 1; i >= 0; i-- {
				uri := filepath.Join(dir, tables.PartName(i, tt.shards))
				writeFile(t, uri, "p")
				want = append([]string{uri}, want...)
			}
			// Not parts of the table.
			writeFile(t, filepath.Join(dir, tables.MarkerFile), "{}")
			writeFile(t, filepath.Join(dir, "manifest.json"), "{}")
			writeFile(t, filepath.Join(dir, "part-x.parquet"), "x")
			writeFile(t, filepath.Join(dir, "part-00000-of-00001.parquet.tmp"), "x")
			writeFile(t, filepath.Join(dir, ".part-00000-of-00001.parquet"), "x")
			writeFile(t, filepath.Join(dir, tables.TempDir, "run", tables.PartName(0, 1)), "x")
			writeFile(t, filepath.Join(dir, "sub", tables.PartName(0, 1)), "x")

			got, err := tables.Parts(ctx, dir)
			if err != nil {
				t.Fatalf("Parts: %v", err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("Parts =\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestPartsMissingDir(t *testing.T) {
	_, err := tables.Parts(context.Background(), filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, files.ErrNotFound) {
		t.Errorf("Parts of a missing folder: %v, want %v", err, files.ErrNotFound)
	}
}

func TestReadAll(t *testing.T) {
	ctx := context.Background()
	part0 := []row{{ID: 1, Name: "a", Score: ptr(0.5), Tags: []string{"x"}}, {ID: 2, Name: "b"}}
	part1 := []row{{ID: 3, Name: "c", Vector: []float32{1, 2}}}
	part2 := []row{{ID: 4, Name: "d", Score: ptr(1.0)}, {ID: 5, Name: "e", Tags: []string{"y", "z"}}}
	tests := []struct {
		name    string
		parts   [][]row
		marker  bool
		want    []row
		wantErr error
	}{
		{"complete", [][]row{part0, part1, part2}, true, slices.Concat(part0, part1, part2), nil},
		{"one part", [][]row{part1}, true, part1, nil},
		{"empty part", [][]row{part0, nil}, true, part0, nil},
		{"no parts", nil, true, nil, nil},
		{"no marker", [][]row{part0, part1}, false, nil, tables.ErrIncomplete},
		{"nothing", nil, false, nil, tables.ErrIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeParts(t, dir, tt.parts...)
			// A staged part of another run is not part of the table.
			if err := tables.Write(ctx, filepath.Join(dir, tables.TempDir, "run-2", tables.PartName(0, 1)), part2); err != nil {
				t.Fatal(err)
			}
			if tt.marker {
				m := tables.Marker{Kind: "test", RunID: "run-1", Rows: int64(len(tt.want)), CompletedAt: time.Now().UTC()}
				if err := tables.WriteJSON(ctx, filepath.Join(dir, tables.MarkerFile), m); err != nil {
					t.Fatal(err)
				}
			}
			got, err := tables.ReadAll[row](ctx, dir)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ReadAll = %+v, %v; want %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadAll: %v", err)
			}
			if !sameRows(got, tt.want) {
				t.Errorf("ReadAll =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// writeStreamed writes rows as one part through a Writer, in row groups of
// RowGroupRows.
func writeStreamed(t *testing.T, uri string, rows []row) {
	t.Helper()
	w, err := tables.Create[row](context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rows...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestScan reads a table of several parts, each of more rows than a batch
// and one of several row groups, and keeps every row it is handed: each
// must arrive once, in order, and stay as it was read.
func TestScan(t *testing.T) {
	ctx := context.Background()
	errStop := errors.New("stop")
	var all []row
	for i := range 25_000 {
		r := row{ID: int64(i), Name: fmt.Sprint("r", i), Vector: []float32{float32(i), 1}}
		if i%3 == 0 {
			r.Score, r.Tags = ptr(float64(i)/2), []string{fmt.Sprint(i)}
		}
		all = append(all, r)
	}
	// Parts of 22,000 (three row groups), none and 3,000 rows.
	parts := [][]row{all[:22_000], nil, all[22_000:]}
	tests := []struct {
		name    string
		marker  bool
		corrupt bool // a part that is not Parquet
		stopAt  int  // fn fails at this call (1, 2, ...); 0: never
		want    []row
		wantErr error // nil with corrupt: any error
	}{
		{"complete", true, false, 0, all, nil},
		{"no marker", false, false, 0, nil, tables.ErrIncomplete},
		{"fn fails", true, false, 3, all[:2*tables.ScanRows], errStop},
		{"corrupt part", true, true, 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, p := range parts {
				writeStreamed(t, filepath.Join(dir, tables.PartName(i, len(parts))), p)
			}
			if n := rowGroups(t, filepath.Join(dir, tables.PartName(0, len(parts)))); n < 2 {
				t.Fatalf("the first part has %d row groups, want several", n)
			}
			if tt.corrupt {
				writeFile(t, filepath.Join(dir, tables.PartName(1, len(parts))), "not parquet")
			}
			if tt.marker {
				writeFile(t, filepath.Join(dir, tables.MarkerFile), "{}")
			}
			var got []row
			calls := 0
			err := tables.Scan(ctx, dir, func(rows []row) error {
				calls++
				if len(rows) == 0 || len(rows) > tables.ScanRows {
					t.Errorf("call %d: %d rows, want 1 to %d", calls, len(rows), tables.ScanRows)
				}
				if calls == tt.stopAt {
					return errStop
				}
				got = append(got, rows...)
				return nil
			})
			switch {
			case tt.corrupt:
				if err == nil {
					t.Fatal("Scan of a table with a corrupt part: no error")
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Scan: %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("Scan: %v", err)
			}
			if !sameRows(got, tt.want) {
				t.Errorf("Scan kept %d rows, not the %d wanted in order", len(got), len(tt.want))
			}
			if tt.stopAt > 0 && calls != tt.stopAt {
				t.Errorf("fn called %d times after failing at call %d", calls, tt.stopAt)
			}
		})
	}
}

// rowGroups counts the row groups of the Parquet file at path.
func rowGroups(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, info.Size())
	if err != nil {
		t.Fatal(err)
	}
	return len(pf.RowGroups())
}

func TestScanCancelled(t *testing.T) {
	dir := t.TempDir()
	writeStreamed(t, filepath.Join(dir, tables.PartName(0, 1)), make([]row, 3*tables.ScanRows))
	writeFile(t, filepath.Join(dir, tables.MarkerFile), "{}")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	err := tables.Scan(ctx, dir, func([]row) error {
		calls++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("Scan cancelled in its first batch: %v after %d calls, want context.Canceled after 1", err, calls)
	}
}

func TestReadMarker(t *testing.T) {
	ctx := context.Background()
	completed := time.Date(2026, 11, 28, 3, 4, 5, 6000, time.UTC)
	tests := []struct {
		name string
		m    tables.Marker
	}{
		{"results", tables.Marker{
			Kind: "results", RunID: "20261128-030405-abc", Rows: 12, Images: 10, Faces: 12,
			ByStatus: []tables.StatusCount{{Status: "ok", Count: 8}, {Status: "undecodable", Count: 2}},
			Matched:  9, Unknown: 3,
			Files:       []string{"part-00000-of-00002.parquet", "part-00001-of-00002.parquet"},
			CompletedAt: completed,
		}},
		{"gallery", tables.Marker{
			Kind: "gallery", RunID: "r", Rows: 5, Images: 5, Faces: 5,
			ByStatus:    []tables.StatusCount{{Status: "ok", Count: 5}},
			Files:       []string{"part-00000-of-00001.parquet"},
			CompletedAt: completed.Add(time.Hour).In(time.FixedZone("CET", 3600)),
		}},
		{"empty", tables.Marker{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tables.WriteJSON(ctx, files.Join(dir, tables.MarkerFile), tt.m); err != nil {
				t.Fatal(err)
			}
			got, err := tables.ReadMarker(ctx, dir)
			if err != nil {
				t.Fatalf("ReadMarker: %v", err)
			}
			if !got.CompletedAt.Equal(tt.m.CompletedAt) {
				t.Errorf("CompletedAt = %v, want %v", got.CompletedAt, tt.m.CompletedAt)
			}
			g, w := *got, tt.m
			g.CompletedAt, w.CompletedAt = time.Time{}, time.Time{}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("ReadMarker =\n%+v\nwant\n%+v", g, w)
			}
		})
	}
}

func TestReadMarkerErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		content *string // nil: no marker
		want    error   // nil: any error but ErrIncomplete
	}{
		{"missing", nil, tables.ErrIncomplete},
		{"not JSON", ptr("not json"), nil},
		{"wrong type", ptr(`{"rows": "many"}`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.content != nil {
				writeFile(t, filepath.Join(dir, tables.MarkerFile), *tt.content)
			}
			got, err := tables.ReadMarker(ctx, dir)
			if err == nil {
				t.Fatalf("ReadMarker = %+v, want an error", got)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("ReadMarker: %v, want %v", err, tt.want)
			}
			if tt.want == nil && errors.Is(err, tables.ErrIncomplete) {
				t.Errorf("ReadMarker: %v; a marker that is there is not ErrIncomplete", err)
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"map", map[string]int{"a": 1}, "{\n  \"a\": 1\n}\n"},
		{"status", tables.StatusCount{Status: "ok", Count: 2}, "{\n  \"status\": \"ok\",\n  \"count\": 2\n}\n"},
		{"string", "x", "\"x\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uri := filepath.Join(t.TempDir(), "sub", "v.json")
			if err := tables.WriteJSON(ctx, uri, tt.v); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(uri)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("WriteJSON wrote %q, want %q", got, tt.want)
			}
		})
	}
	if err := tables.WriteJSON(ctx, filepath.Join(t.TempDir(), "bad.json"), func() {}); err == nil {
		t.Error("WriteJSON of a func: no error")
	}
}
