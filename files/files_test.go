package files_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/facebatch/facebatch/files"
)

func TestJoin(t *testing.T) {
	tests := []struct {
		dir, name, want string
	}{
		{"/data/photos", "a.jpg", "/data/photos/a.jpg"},
		{"/data/photos/", "a.jpg", "/data/photos/a.jpg"},
		{"/data", "x/y.jpg", "/data/x/y.jpg"},
		{"rel", "a.jpg", filepath.Join("rel", "a.jpg")},
		{"gs://b/x", "y.jpg", "gs://b/x/y.jpg"},
		{"gs://b/x/", "y.jpg", "gs://b/x/y.jpg"},
		{"gs://b/x/", "/y.jpg", "gs://b/x/y.jpg"},
		{"gs://b", "x/y.jpg", "gs://b/x/y.jpg"},
		{"gs://b/x", "crème brûlée.jpg", "gs://b/x/crème brûlée.jpg"},
	}
	for _, tt := range tests {
		if got := files.Join(tt.dir, tt.name); got != tt.want {
			t.Errorf("Join(%q, %q) = %q, want %q", tt.dir, tt.name, got, tt.want)
		}
	}
}

func TestBase(t *testing.T) {
	tests := []struct {
		uri, want string
	}{
		{"/data/photos/a.jpg", "a.jpg"},
		{"/data/photos/", "photos"},
		{"a.jpg", "a.jpg"},
		{"gs://b/x/y.jpg", "y.jpg"},
		{"gs://b/x/", "x"},
		{"gs://b/x/with space/é.jpg", "é.jpg"},
		{"gs://b/table/part-00000-of-00001.parquet", "part-00000-of-00001.parquet"},
	}
	for _, tt := range tests {
		if got := files.Base(tt.uri); got != tt.want {
			t.Errorf("Base(%q) = %q, want %q", tt.uri, got, tt.want)
		}
	}
}

func TestDir(t *testing.T) {
	tests := []struct {
		uri, want string
	}{
		{"/data/photos/a.jpg", "/data/photos"},
		{"/data/photos/", "/data/photos"},
		{"a.jpg", "."},
		{"gs://b/x/y.jpg", "gs://b/x"},
		{"gs://b/x/y/", "gs://b/x"},
		{"gs://b/y.jpg", "gs://b"},
		{"gs://b/x/with space/é.jpg", "gs://b/x/with space"},
	}
	for _, tt := range tests {
		if got := files.Dir(tt.uri); got != tt.want {
			t.Errorf("Dir(%q) = %q, want %q", tt.uri, got, tt.want)
		}
	}
}

func TestIsGCS(t *testing.T) {
	tests := []struct {
		uri  string
		want bool
	}{
		{"gs://b/x", true},
		{"gs://b", true},
		{"/data/gs://x", false},
		{"data/x.jpg", false},
		{"s3://b/x", false},
	}
	for _, tt := range tests {
		if got := files.IsGCS(tt.uri); got != tt.want {
			t.Errorf("IsGCS(%q) = %v, want %v", tt.uri, got, tt.want)
		}
	}
}

// writeTree creates the named files (slash-separated, relative to root).
func writeTree(t *testing.T, root string, names ...string) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(root, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestListLocal(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	writeTree(t, root,
		"a.jpg",
		"b.png",
		"notes.txt",
		".hidden.jpg",
		".git/config",
		".git/x.jpg",
		"_temporary/p.jpg",
		"_temporary/run/q.jpg",
		"a/c.jpg",
		"a/.x",
		"a/.cache/h.jpg",
		"a/d/e.jpg",
		"a/_temporary/t.jpg",
		"b/f.jpg",
		"c/g.jpg",
		"café/crème brûlée.jpg",
		"with space/s p.jpg",
		// Hidden folders and _temporary above the listed folder do not hide
		// what is below it.
		".cache/photos/x.jpg",
		".cache/photos/sub/y.jpg",
		".cache/photos/.z.jpg",
	)
	in := func(names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = filepath.Join(root, filepath.FromSlash(n))
		}
		return out
	}
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"folder", root, in("a.jpg", "a/c.jpg", "a/d/e.jpg", "b.png", "b/f.jpg", "c/g.jpg",
			"café/crème brûlée.jpg", "notes.txt", "with space/s p.jpg")},
		{"folder trailing slash", root + "/", in("a.jpg", "a/c.jpg", "a/d/e.jpg", "b.png", "b/f.jpg", "c/g.jpg",
			"café/crème brûlée.jpg", "notes.txt", "with space/s p.jpg")},
		{"subfolder", filepath.Join(root, "a"), in("a/c.jpg", "a/d/e.jpg")},
		{"single file", filepath.Join(root, "a", "c.jpg"), in("a/c.jpg")},
		{"star one level", filepath.Join(root, "*.jpg"), in("a.jpg")},
		{"star in folder", filepath.Join(root, "*", "*.jpg"), in("a/c.jpg", "b/f.jpg", "c/g.jpg",
			"café/crème brûlée.jpg", "with space/s p.jpg")},
		{"double star", filepath.Join(root, "**", "*.jpg"), in("a.jpg", "a/c.jpg", "a/d/e.jpg", "b/f.jpg", "c/g.jpg",
			"café/crème brûlée.jpg", "with space/s p.jpg")},
		{"folder double star", filepath.Join(root, "a", "**"), in("a/c.jpg", "a/d/e.jpg")},
		{"class", filepath.Join(root, "[ab]*"), in("a.jpg", "b.png")},
		{"question mark", filepath.Join(root, "?", "?.jpg"), in("a/c.jpg", "b/f.jpg", "c/g.jpg")},
		{"unicode in glob", filepath.Join(root, "caf*", "crème*.jpg"), in("café/crème brûlée.jpg")},
		{"unicode after double star", filepath.Join(root, "**", "*brûlée.jpg"), in("café/crème brûlée.jpg")},
		{"space in glob", filepath.Join(root, "with space", "s *.jpg"), in("with space/s p.jpg")},
		{"no match", filepath.Join(root, "*.gif"), nil},
		{"glob below a file", filepath.Join(root, "a.jpg", "*.jpg"), nil},
		{"under hidden folder", filepath.Join(root, ".cache", "photos"), in(".cache/photos/sub/y.jpg", ".cache/photos/x.jpg")},
		{"glob under hidden folder", filepath.Join(root, ".cache", "photos", "*.jpg"), in(".cache/photos/x.jpg")},
		{"double star under hidden folder", filepath.Join(root, ".cache", "photos", "**", "*.jpg"),
			in(".cache/photos/sub/y.jpg", ".cache/photos/x.jpg")},
		{"under _temporary", filepath.Join(root, "_temporary", "run"), in("_temporary/run/q.jpg")},
		{"glob under _temporary", filepath.Join(root, "_temporary", "*", "*.jpg"), in("_temporary/run/q.jpg")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := files.List(ctx, tt.src)
			if err != nil {
				t.Fatalf("List(%q): %v", tt.src, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("List(%q) =\n%q\nwant\n%q", tt.src, got, tt.want)
			}
		})
	}
}

func TestListLocalErrors(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	writeTree(t, root, "a.jpg")
	tests := []struct {
		name string
		src  string
		want error // nil: any error
	}{
		{"missing folder", filepath.Join(root, "nope"), files.ErrNotFound},
		{"missing file", filepath.Join(root, "nope.jpg"), files.ErrNotFound},
		{"glob in missing folder", filepath.Join(root, "nope", "*.jpg"), files.ErrNotFound},
		{"empty", "", nil},
		{"unterminated class", filepath.Join(root, "[ab"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := files.List(ctx, tt.src)
			if err == nil {
				t.Fatalf("List(%q) = %q, want an error", tt.src, got)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("List(%q): %v, want %v", tt.src, err, tt.want)
			}
		})
	}
}

func TestReadLocal(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	p := filepath.Join(root, "ten.bin")
	data := []byte("0123456789")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "empty"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		uri     string
		max     int64
		want    []byte
		wantErr error
	}{
		{"no cap", p, 0, data, nil},
		{"under cap", p, 11, data, nil},
		{"at cap", p, 10, data, nil},
		{"one over cap", p, 9, nil, files.ErrTooLarge},
		{"far over cap", p, 1, nil, files.ErrTooLarge},
		{"empty file", filepath.Join(root, "empty"), 1, []byte{}, nil},
		{"missing", filepath.Join(root, "nope.bin"), 10, nil, files.ErrNotFound},
		{"missing folder", filepath.Join(root, "nope", "x.bin"), 0, nil, files.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := files.Read(ctx, tt.uri, tt.max)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Read(%q, %d) = %q, %v; want %v", tt.uri, tt.max, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read(%q, %d): %v", tt.uri, tt.max, err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Read(%q, %d) = %q, want %q", tt.uri, tt.max, got, tt.want)
			}
		})
	}
}

func TestWriteLocal(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	tests := []struct {
		name string
		uri  string
		data [][]byte // written in order; the last must be read back
	}{
		{"new file", filepath.Join(root, "a.bin"), [][]byte{[]byte("hello")}},
		{"creates parents", filepath.Join(root, "x", "y", "z", "a.bin"), [][]byte{[]byte("deep")}},
		{"overwrites shorter", filepath.Join(root, "o.bin"), [][]byte{[]byte("a long first version"), []byte("short")}},
		{"overwrites longer", filepath.Join(root, "l.bin"), [][]byte{[]byte("s"), []byte("a longer second one")}},
		{"empty", filepath.Join(root, "e.bin"), [][]byte{[]byte("something"), {}}},
		{"unicode name", filepath.Join(root, "café", "crème brûlée.bin"), [][]byte{[]byte("ü")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, d := range tt.data {
				if err := files.Write(ctx, tt.uri, d); err != nil {
					t.Fatalf("Write(%q): %v", tt.uri, err)
				}
			}
			got, err := os.ReadFile(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.data[len(tt.data)-1]; !bytes.Equal(got, want) {
				t.Errorf("%s holds %q, want %q", tt.uri, got, want)
			}
		})
	}
}

// TestWriteLocalAtomic checks a local write goes through a temporary file
// renamed into place: nothing else is left in the folder, and the file is
// readable by others.
func TestWriteLocalAtomic(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	uri := filepath.Join(root, "part-00000-of-00001.parquet")
	for _, d := range []string{"first", "second"} {
		if err := files.Write(ctx, uri, []byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != filepath.Base(uri) {
		t.Errorf("folder holds %v, want only %s", entries, filepath.Base(uri))
	}
	info, err := os.Stat(uri)
	if err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", info.Mode(), err)
	}
	// A folder in the way fails, and leaves no temporary file behind.
	if err := os.Mkdir(filepath.Join(root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dir", "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := files.Write(ctx, filepath.Join(root, "dir"), []byte("x")); err == nil {
		t.Error("Write over a non-empty folder: no error")
	}
	if entries, _ := os.ReadDir(root); len(entries) != 2 {
		t.Errorf("after a failed write the folder holds %v", entries)
	}
}

func TestExistsLocal(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	writeTree(t, root, "a.jpg", "d/b.jpg")
	tests := []struct {
		uri  string
		want bool
	}{
		{filepath.Join(root, "a.jpg"), true},
		{filepath.Join(root, "d", "b.jpg"), true},
		{filepath.Join(root, "nope.jpg"), false},
		{filepath.Join(root, "nope", "b.jpg"), false},
	}
	for _, tt := range tests {
		got, err := files.Exists(ctx, tt.uri)
		if err != nil {
			t.Errorf("Exists(%q): %v", tt.uri, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Exists(%q) = %v, want %v", tt.uri, got, tt.want)
		}
	}
}

func TestRemoveLocal(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	writeTree(t, root, "a.jpg", "keep.jpg")
	tests := []struct {
		name string
		uri  string
	}{
		{"existing", filepath.Join(root, "a.jpg")},
		{"already removed", filepath.Join(root, "a.jpg")},
		{"missing", filepath.Join(root, "nope.jpg")},
		{"missing folder", filepath.Join(root, "nope", "x.jpg")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := files.Remove(ctx, tt.uri); err != nil {
				t.Fatalf("Remove(%q): %v", tt.uri, err)
			}
			if _, err := os.Stat(tt.uri); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s still there after Remove (%v)", tt.uri, err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(root, "keep.jpg")); err != nil {
		t.Errorf("Remove took another file: %v", err)
	}
}

func TestRenameLocal(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		existing []string // files present before, from and possibly to
		from, to string
	}{
		{"new name", []string{"a.tmp"}, "a.tmp", "a.jpg"},
		{"replaces destination", []string{"a.tmp", "a.jpg"}, "a.tmp", "a.jpg"},
		{"into new folder", []string{"_temporary/run/part"}, "_temporary/run/part", "table/part"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tt.existing...)
			from := filepath.Join(root, filepath.FromSlash(tt.from))
			to := filepath.Join(root, filepath.FromSlash(tt.to))
			if err := files.Rename(ctx, from, to); err != nil {
				t.Fatalf("Rename: %v", err)
			}
			got, err := os.ReadFile(to)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.from { // writeTree stores each name as its content
				t.Errorf("%s holds %q, want %q", to, got, tt.from)
			}
			if _, err := os.Stat(from); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s still there after Rename (%v)", from, err)
			}
		})
	}
}

func TestRenameLocalMissing(t *testing.T) {
	root := t.TempDir()
	err := files.Rename(context.Background(), filepath.Join(root, "nope"), filepath.Join(root, "b"))
	if err == nil {
		t.Fatal("Rename of a missing file: no error")
	}
}

func TestRemoveAllLocal(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	writeTree(t, root, "t/_temporary/run/a", "t/_temporary/run/sub/b", "t/_temporary/run/.c", "t/_temporary/other/d")
	tests := []struct {
		name, dir string
		gone      bool
	}{
		{"tree", filepath.Join(root, "t", "_temporary", "run"), true},
		{"missing", filepath.Join(root, "nope"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := files.RemoveAll(ctx, tt.dir); err != nil {
				t.Fatalf("RemoveAll(%q): %v", tt.dir, err)
			}
			if _, err := os.Stat(tt.dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s still there after RemoveAll (%v)", tt.dir, err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(root, "t", "_temporary", "other", "d")); err != nil {
		t.Errorf("RemoveAll took a sibling: %v", err)
	}
}

// gcsObjects is the bucket every GCS test starts from.
var gcsObjects = []string{
	"x/",   // folder placeholder
	"x/z/", // nested folder placeholder
	"x/y.jpg",
	"x/top.png",
	"x/z/w.jpg",
	"x/crème brûlée.jpg",
	"x/with space/é.jpg",
	"x/.hidden.jpg",
	"x/.git/config",
	"x/z/.x.jpg",
	"x/_temporary/run/p.jpg",
	"xy/not-under-x.jpg",
	"other/o.jpg",
	".cache/in/a.jpg",
	".cache/in/.b.jpg",
	"t/_temporary/run/part",
}

// newGCS starts a fake GCS server holding bucket "b" with gcsObjects, each
// holding its own name (placeholders are empty), and points the GCS client
// at it.
func newGCS(t *testing.T) *fakestorage.Server {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0, PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	t.Setenv("STORAGE_EMULATOR_HOST", srv.URL())
	srv.CreateBucket("b")
	for _, n := range gcsObjects {
		var data []byte
		if !strings.HasSuffix(n, "/") {
			data = []byte(n)
		}
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "b", Name: n}, Content: data})
	}
	return srv
}

// bucketNames lists every object in the fake bucket, sorted.
func bucketNames(t *testing.T, srv *fakestorage.Server) []string {
	t.Helper()
	objs, _, err := srv.ListObjectsWithOptions("b", fakestorage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.Name)
	}
	sort.Strings(names)
	return names
}

func gs(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "gs://b/" + n
	}
	return out
}

func TestListGCS(t *testing.T) {
	ctx := context.Background()
	newGCS(t)
	underX := gs("x/crème brûlée.jpg", "x/top.png", "x/with space/é.jpg", "x/y.jpg", "x/z/w.jpg")
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"prefix", "gs://b/x", underX},
		{"prefix trailing slash", "gs://b/x/", underX},
		{"nested prefix", "gs://b/x/z", gs("x/z/w.jpg")},
		{"single object", "gs://b/x/y.jpg", gs("x/y.jpg")},
		{"bucket", "gs://b", gs("other/o.jpg", "x/crème brûlée.jpg", "x/top.png", "x/with space/é.jpg",
			"x/y.jpg", "x/z/w.jpg", "xy/not-under-x.jpg")},
		{"star one level", "gs://b/x/*.jpg", gs("x/crème brûlée.jpg", "x/y.jpg")},
		{"double star", "gs://b/x/**", underX},
		{"double star jpg", "gs://b/x/**/*.jpg", gs("x/crème brûlée.jpg", "x/with space/é.jpg", "x/y.jpg", "x/z/w.jpg")},
		{"class", "gs://b/x/[tz]*", gs("x/top.png")},
		{"class two matches", "gs://b/x/[ct]*", gs("x/crème brûlée.jpg", "x/top.png")},
		{"question mark", "gs://b/x/?/?.jpg", gs("x/z/w.jpg")},
		{"question mark then star", "gs://b/x/?.*", gs("x/y.jpg")},
		{"class folder then double star", "gs://b/[ox]/**/*.jpg", gs("x/crème brûlée.jpg", "x/with space/é.jpg", "x/y.jpg", "x/z/w.jpg")},
		{"class then double star", "gs://b/[ox]*/**/*.jpg", gs("other/o.jpg", "x/crème brûlée.jpg", "x/with space/é.jpg",
			"x/y.jpg", "x/z/w.jpg", "xy/not-under-x.jpg")},
		{"unicode in glob", "gs://b/x/crème*", gs("x/crème brûlée.jpg")},
		{"space in glob", "gs://b/x/with space/*.jpg", gs("x/with space/é.jpg")},
		{"no match", "gs://b/x/*.gif", nil},
		{"missing prefix", "gs://b/nope", nil},
		{"under hidden prefix", "gs://b/.cache/in", gs(".cache/in/a.jpg")},
		{"glob under hidden prefix", "gs://b/.cache/in/*.jpg", gs(".cache/in/a.jpg")},
		{"under _temporary", "gs://b/t/_temporary", gs("t/_temporary/run/part")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := files.List(ctx, tt.src)
			if err != nil {
				t.Fatalf("List(%q): %v", tt.src, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("List(%q) =\n%q\nwant\n%q", tt.src, got, tt.want)
			}
		})
	}
}

func TestReadGCS(t *testing.T) {
	ctx := context.Background()
	newGCS(t)
	const uri = "gs://b/x/y.jpg"
	data := []byte("x/y.jpg")
	n := int64(len(data))
	tests := []struct {
		name    string
		uri     string
		max     int64
		want    []byte
		wantErr error
	}{
		{"no cap", uri, 0, data, nil},
		{"at cap", uri, n, data, nil},
		{"one over cap", uri, n - 1, nil, files.ErrTooLarge},
		{"unicode name", "gs://b/x/crème brûlée.jpg", 100, []byte("x/crème brûlée.jpg"), nil},
		{"space in name", "gs://b/x/with space/é.jpg", 100, []byte("x/with space/é.jpg"), nil},
		{"missing", "gs://b/x/nope.jpg", 10, nil, files.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := files.Read(ctx, tt.uri, tt.max)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Read(%q, %d) = %q, %v; want %v", tt.uri, tt.max, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read(%q, %d): %v", tt.uri, tt.max, err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Read(%q, %d) = %q, want %q", tt.uri, tt.max, got, tt.want)
			}
		})
	}
}

// TestOpen reads local and GCS objects at random offsets, and leaves no
// copy of a GCS object behind.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	spool := t.TempDir()
	t.Setenv("TMPDIR", spool) // where the copies of GCS objects go
	srv := newGCS(t)
	// Bigger than one buffer of a copy.
	big := make([]byte, 3<<20+5)
	for i := range big {
		big[i] = byte(i*7 + i>>11)
	}
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "b", Name: "t/big.bin"}, Content: big})
	local := filepath.Join(dir, "big.bin")
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(local, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		uri     string
		want    []byte
		fail    bool
		wantErr error // with fail: nil is any error
	}{
		{"local", local, big, false, nil},
		{"local empty", empty, []byte{}, false, nil},
		{"gcs", "gs://b/t/big.bin", big, false, nil},
		{"gcs small", "gs://b/x/y.jpg", []byte("x/y.jpg"), false, nil},
		{"gcs unicode name", "gs://b/x/crème brûlée.jpg", []byte("x/crème brûlée.jpg"), false, nil},
		{"local missing", filepath.Join(dir, "nope.bin"), nil, true, files.ErrNotFound},
		{"local folder", dir, nil, true, nil},
		{"gcs missing", "gs://b/x/nope.jpg", nil, true, files.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := files.Open(ctx, tt.uri)
			if tt.fail {
				if err == nil {
					f.Close()
					t.Fatalf("Open(%q): no error", tt.uri)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("Open(%q): %v, want %v", tt.uri, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tt.uri, err)
			}
			size := int64(len(tt.want))
			if f.Size() != size {
				t.Errorf("Size() = %d, want %d", f.Size(), size)
			}
			// From the end first, as a Parquet reader does.
			for _, off := range []int64{size - 8, size / 2, 1, 0} {
				if off < 0 || off >= size {
					continue
				}
				n := min(8, size-off)
				p := make([]byte, n)
				if got, err := f.ReadAt(p, off); got != int(n) || err != nil && err != io.EOF || !bytes.Equal(p, tt.want[off:off+n]) {
					t.Errorf("ReadAt(%d bytes at %d) = %d, %v: %q, want %q", n, off, got, err, p, tt.want[off:off+n])
				}
			}
			if n, err := f.ReadAt(make([]byte, 4), size); n != 0 || err != io.EOF {
				t.Errorf("ReadAt at the end = %d, %v; want 0, io.EOF", n, err)
			}
			if err := f.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	if left, err := os.ReadDir(spool); err != nil || len(left) != 0 {
		t.Errorf("copies left in the temporary folder: %v, %v", left, err)
	}
}

func TestWriteGCS(t *testing.T) {
	ctx := context.Background()
	srv := newGCS(t)
	tests := []struct {
		name   string
		object string
		data   [][]byte
	}{
		{"new object", "out/a.bin", [][]byte{[]byte("hello")}},
		{"overwrite", "x/y.jpg", [][]byte{[]byte("replaced")}},
		{"overwrite twice", "out/b.bin", [][]byte{[]byte("a long first version"), []byte("short")}},
		{"unicode name", "out/café/crème brûlée.bin", [][]byte{[]byte("ü")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uri := "gs://b/" + tt.object
			for _, d := range tt.data {
				if err := files.Write(ctx, uri, d); err != nil {
					t.Fatalf("Write(%q): %v", uri, err)
				}
			}
			want := tt.data[len(tt.data)-1]
			obj, err := srv.GetObject("b", tt.object)
			if err != nil {
				t.Fatalf("object %q: %v", tt.object, err)
			}
			if !bytes.Equal(obj.Content, want) {
				t.Errorf("object %q holds %q, want %q", tt.object, obj.Content, want)
			}
			got, err := files.Read(ctx, uri, 0)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("Read(%q) = %q, %v; want %q", uri, got, err, want)
			}
		})
	}
}

func TestExistsGCS(t *testing.T) {
	ctx := context.Background()
	newGCS(t)
	tests := []struct {
		uri  string
		want bool
	}{
		{"gs://b/x/y.jpg", true},
		{"gs://b/x/crème brûlée.jpg", true},
		{"gs://b/x/with space/é.jpg", true},
		{"gs://b/x/nope.jpg", false},
		{"gs://b/nope/y.jpg", false},
	}
	for _, tt := range tests {
		got, err := files.Exists(ctx, tt.uri)
		if err != nil {
			t.Errorf("Exists(%q): %v", tt.uri, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Exists(%q) = %v, want %v", tt.uri, got, tt.want)
		}
	}
}

func TestRemoveGCS(t *testing.T) {
	ctx := context.Background()
	srv := newGCS(t)
	tests := []struct {
		name   string
		object string
	}{
		{"existing", "x/y.jpg"},
		{"already removed", "x/y.jpg"},
		{"unicode name", "x/crème brûlée.jpg"},
		{"missing", "x/nope.jpg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := files.Remove(ctx, "gs://b/"+tt.object); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if slices.Contains(bucketNames(t, srv), tt.object) {
				t.Errorf("%q still there after Remove", tt.object)
			}
		})
	}
	if !slices.Contains(bucketNames(t, srv), "x/top.png") {
		t.Error("Remove took another object")
	}
}

func TestRenameGCS(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		from, to string
	}{
		{"new name", "x/y.jpg", "x/renamed.jpg"},
		{"replaces destination", "x/y.jpg", "x/top.png"},
		{"out of staging", "t/_temporary/run/part", "t/part"},
		{"unicode names", "x/crème brûlée.jpg", "x/with space/ünïcode.jpg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newGCS(t)
			if err := files.Rename(ctx, "gs://b/"+tt.from, "gs://b/"+tt.to); err != nil {
				t.Fatalf("Rename: %v", err)
			}
			obj, err := srv.GetObject("b", tt.to)
			if err != nil {
				t.Fatalf("object %q: %v", tt.to, err)
			}
			if string(obj.Content) != tt.from { // each object holds its own name
				t.Errorf("%q holds %q, want %q", tt.to, obj.Content, tt.from)
			}
			if slices.Contains(bucketNames(t, srv), tt.from) {
				t.Errorf("%q still there after Rename", tt.from)
			}
		})
	}
}

func TestRemoveAllGCS(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		dir  string
		want []string // what is left in the bucket
	}{
		{"prefix", "gs://b/x", []string{".cache/in/.b.jpg", ".cache/in/a.jpg", "other/o.jpg", "t/_temporary/run/part", "xy/not-under-x.jpg"}},
		{"prefix trailing slash", "gs://b/x/", []string{".cache/in/.b.jpg", ".cache/in/a.jpg", "other/o.jpg", "t/_temporary/run/part", "xy/not-under-x.jpg"}},
		{"staging", "gs://b/t/_temporary/run", slices.DeleteFunc(slices.Clone(gcsObjects), func(n string) bool {
			return n == "t/_temporary/run/part"
		})},
		{"hidden prefix", "gs://b/.cache", slices.DeleteFunc(slices.Clone(gcsObjects), func(n string) bool {
			return strings.HasPrefix(n, ".cache/")
		})},
		{"missing", "gs://b/nope", slices.Clone(gcsObjects)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newGCS(t)
			if err := files.RemoveAll(ctx, tt.dir); err != nil {
				t.Fatalf("RemoveAll(%q): %v", tt.dir, err)
			}
			sort.Strings(tt.want)
			if got := bucketNames(t, srv); !slices.Equal(got, tt.want) {
				t.Errorf("after RemoveAll(%q) the bucket holds\n%q\nwant\n%q", tt.dir, got, tt.want)
			}
		})
	}
}

func TestModTime(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	writeTree(t, root, "a.jpg")
	when := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(root, "a.jpg"), when, when); err != nil {
		t.Fatal(err)
	}
	if got, err := files.ModTime(ctx, filepath.Join(root, "a.jpg")); err != nil || !got.Equal(when) {
		t.Errorf("ModTime(local) = %v, %v; want %v", got, err, when)
	}
	if _, err := files.ModTime(ctx, filepath.Join(root, "nope.jpg")); !errors.Is(err, files.ErrNotFound) {
		t.Errorf("ModTime(missing local) err %v, want ErrNotFound", err)
	}
	newGCS(t)
	before := time.Now().Add(-time.Minute)
	if got, err := files.ModTime(ctx, "gs://b/x/y.jpg"); err != nil || got.Before(before) {
		t.Errorf("ModTime(gs) = %v, %v; want a time after %v", got, err, before)
	}
	if _, err := files.ModTime(ctx, "gs://b/x/nope.jpg"); !errors.Is(err, files.ErrNotFound) {
		t.Errorf("ModTime(missing gs) err %v, want ErrNotFound", err)
	}
}

// TestCreate checks a streamed write, on a local disk and on GCS: the
// object appears whole when Close returns, and an aborted one not at all,
// whether or not an earlier version was there.
func TestCreate(t *testing.T) {
	ctx := context.Background()
	newGCS(t)
	root := t.TempDir()
	for _, store := range []struct{ name, base string }{{"local", root}, {"gcs", "gs://b/created"}} {
		base := store.base
		for _, tt := range []struct {
			name   string
			chunks []string
			abort  bool
		}{
			{"chunks", []string{"a streamed ", "object ", "in three"}, false},
			{"empty", nil, false},
			{"aborted", []string{"never seen"}, true},
		} {
			t.Run(store.name+"/"+tt.name, func(t *testing.T) {
				uri := files.Join(base, tt.name+".bin")
				w, err := files.Create(ctx, uri)
				if err != nil {
					t.Fatalf("Create(%q): %v", uri, err)
				}
				for _, c := range tt.chunks {
					if _, err := w.Write([]byte(c)); err != nil {
						t.Fatalf("Write: %v", err)
					}
				}
				if ok, err := files.Exists(ctx, uri); err != nil || ok {
					t.Fatalf("before Close Exists(%q) = %v, %v; want false", uri, ok, err)
				}
				if tt.abort {
					w.Abort()
					if err := w.Close(); err == nil {
						t.Error("Close after Abort: no error")
					}
					if ok, err := files.Exists(ctx, uri); err != nil || ok {
						t.Errorf("after Abort Exists(%q) = %v, %v; want false", uri, ok, err)
					}
					return
				}
				if err := w.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				got, err := files.Read(ctx, uri, 0)
				if want := strings.Join(tt.chunks, ""); err != nil || string(got) != want {
					t.Errorf("Read(%q) = %q, %v; want %q", uri, got, err, want)
				}
			})
		}
	}
	// Nothing but the committed files is left beside them.
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"chunks.bin", "empty.bin"}; !slices.Equal(names, want) {
		t.Errorf("local folder holds %v, want %v", names, want)
	}
}
