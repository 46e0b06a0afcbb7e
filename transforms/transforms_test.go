package transforms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // files.Read of local paths

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/models"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

const seed = "../../shared/seed"

// beamContext is a context carrying a bundle and a PTransform, as the
// runners give DoFns, so the package's counters record and can be read back.
func beamContext(transform string) context.Context {
	return metrics.SetPTransformID(metrics.SetBundleID(context.Background(), "bundle-"+transform), transform)
}

// counters are the facebatch counters recorded in ctx, by name.
func counters(ctx context.Context) map[string]int64 {
	out := map[string]int64{}
	for _, c := range metrics.ResultsExtractor(ctx).AllMetrics().Counters() {
		if c.Namespace() == "facebatch" {
			out[c.Name()] += c.Result()
		}
	}
	return out
}

func TestStatusOf(t *testing.T) {
	_, readErr := files.Read(context.Background(), filepath.Join(t.TempDir(), "missing.jpg"), 0)
	dec, err := decoder.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	_, _, formatErr := dec.Decode([]byte("plain text, not an image"))

	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, results.StatusOK},
		{"files too large", files.ErrTooLarge, results.StatusTooLarge},
		{"decoder too large", decoder.ErrTooLarge, results.StatusTooLarge},
		{"not found", files.ErrNotFound, results.StatusNotFound},
		{"format", decoder.ErrFormat, results.StatusUnsupportedFormat},
		{"corrupt", decoder.ErrCorrupt, results.StatusDecodeError},
		{"encode", encoder.ErrEncode, results.StatusEncodeError},
		{"other", errors.New("permission denied"), results.StatusReadError},
		{"context canceled", context.Canceled, results.StatusReadError},
		{"files.Read of a missing file", readErr, results.StatusNotFound},
		{"Decode of text", formatErr, results.StatusUnsupportedFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusOf(tt.err); got != tt.want {
				t.Errorf("statusOf(%v) = %q, want %q", tt.err, got, tt.want)
			}
			if tt.err == nil {
				return
			}
			wrapped := fmt.Errorf("transforms: reading x: %w", tt.err)
			if got := statusOf(wrapped); got != tt.want {
				t.Errorf("statusOf(%v) = %q, want %q", wrapped, got, tt.want)
			}
			twice := fmt.Errorf("outer: %w", wrapped)
			if got := statusOf(twice); got != tt.want {
				t.Errorf("statusOf(%v) = %q, want %q", twice, got, tt.want)
			}
		})
	}
}

// testGallery: alice at (1,0); bob at (0,1) and (0.6,0.8); carol at (-1,0).
func testGallery(t *testing.T, threshold float64, ids ...string) *matcher.Gallery {
	t.Helper()
	encs := map[string][][]float32{
		"alice": {{1, 0}},
		"bob":   {{0, 1}, {0.6, 0.8}},
		"carol": {{-1, 0}},
	}
	g, err := matcher.NewGallery(threshold)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		for _, e := range encs[id] {
			if err := g.Add(id, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	return g
}

// sameRow compares result rows, floats to 1e-6 (the embeddings are
// float32); it returns "" when equal.
func sameRow(got, want results.Row) string {
	const tol = 1e-6
	near := func(a, b *float64) bool {
		if a == nil || b == nil {
			return a == b
		}
		return math.Abs(*a-*b) <= tol
	}
	var diffs []string
	if !near(got.Distance, want.Distance) {
		diffs = append(diffs, fmt.Sprintf("distance %v, want %v", deref(got.Distance), deref(want.Distance)))
	}
	if !near(got.Margin, want.Margin) {
		diffs = append(diffs, fmt.Sprintf("margin %v, want %v", deref(got.Margin), deref(want.Margin)))
	}
	if len(got.Candidates) != len(want.Candidates) {
		diffs = append(diffs, fmt.Sprintf("candidates %+v, want %+v", got.Candidates, want.Candidates))
	} else {
		for i := range got.Candidates {
			g, w := got.Candidates[i], want.Candidates[i]
			if g.Identity != w.Identity || math.Abs(g.Distance-w.Distance) > tol {
				diffs = append(diffs, fmt.Sprintf("candidate %d: %+v, want %+v", i, g, w))
			}
		}
	}
	got.Distance, got.Margin, got.Candidates = nil, nil, nil
	want.Distance, want.Margin, want.Candidates = nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		diffs = append(diffs, fmt.Sprintf("row\n%s\nwant\n%s", dump(got), dump(want)))
	}
	return strings.Join(diffs, "\n")
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestResultRow(t *testing.T) {
	three := testGallery(t, 0.7, "alice", "bob", "carol")
	solo := testGallery(t, 0.7, "alice")
	now := time.Date(2024, 5, 6, 7, 8, 9, 123_000_000, time.UTC)
	cfg := MatchConfig{
		RunID: "run-1", Threshold: 0.7, TopK: 3, ModelID: "facenet-x", Profile: "notebook",
		Detector: "pigo", GalleryVersion: "gv-9",
	}
	withEmb := cfg
	withEmb.WithEmbeddings = true
	top1 := cfg
	top1.TopK = 1
	top0 := cfg
	top0.TopK = 0
	top2 := cfg
	top2.TopK = 2

	ref := ImageRef{URI: "gs://bucket/in/p1.jpg"}
	near := []float32{0.96, 0.28} // alice 0.2828, bob 0.6325 (second photo), carol 1.9799
	far := []float32{0, -1}       // alice and carol sqrt(2), bob 1.8974
	faceRec := func(emb []float32) FaceRecord {
		return FaceRecord{
			Ref: ref, SHA256: "deadbeef", Width: 640, Height: 480, Faces: 2, Index: 1,
			X: 100, Y: 50, W: 80, H: 80, Score: 12.5, Embedding: emb, Status: results.StatusOK,
		}
	}
	// base is what every row of ref carries.
	base := func(c MatchConfig) results.Row {
		return results.Row{
			RunID: c.RunID, ImageURI: ref.URI, ImageSHA256: ptr("deadbeef"),
			ImageWidth: ptr(int32(640)), ImageHeight: ptr(int32(480)),
			Detector: c.Detector, Threshold: c.Threshold, ModelID: c.ModelID, Profile: c.Profile,
			GalleryVersion: c.GalleryVersion, Status: results.StatusOK, ProcessedAt: now.UnixMilli(),
		}
	}
	faceRow := func(c MatchConfig) results.Row {
		r := base(c)
		r.FaceIndex = ptr(int32(1))
		r.BoxX, r.BoxY, r.BoxW, r.BoxH = ptr(int32(100)), ptr(int32(50)), ptr(int32(80)), ptr(int32(80))
		r.DetectorScore = ptr(float32(12.5))
		return r
	}
	dAlice, dBob, dCarol := math.Sqrt(0.08), math.Sqrt(0.4), math.Sqrt(3.92)
	accepted := func(c MatchConfig, k int) results.Row {
		r := faceRow(c)
		r.Identity, r.Distance, r.Accepted = ptr("alice"), ptr(dAlice), true
		r.Margin = ptr(dBob - dAlice)
		r.Candidates = []results.Candidate{{Identity: "alice", Distance: dAlice}, {Identity: "bob", Distance: dBob}, {Identity: "carol", Distance: dCarol}}[:k]
		return r
	}
	unknown := faceRow(top2)
	unknown.Distance = ptr(math.Sqrt2)
	unknown.Margin = ptr(0.0) // carol ties alice; alice was added first
	unknown.Candidates = []results.Candidate{{Identity: "alice", Distance: math.Sqrt2}, {Identity: "carol", Distance: math.Sqrt2}}
	embRow := accepted(withEmb, 3)
	embRow.Embedding = near
	soloRow := faceRow(cfg)
	soloRow.Identity, soloRow.Distance, soloRow.Accepted = ptr("alice"), ptr(dAlice), true
	soloRow.Candidates = []results.Candidate{{Identity: "alice", Distance: dAlice}} // no runner-up: no margin

	encodeFailed := faceRec(nil)
	encodeFailed.Status, encodeFailed.Error = results.StatusEncodeError, "encoder: encoding failed: boom"
	encodeFailedRow := faceRow(cfg)
	encodeFailedRow.Status, encodeFailedRow.Error = results.StatusEncodeError, ptr("encoder: encoding failed: boom")

	noFace := FaceRecord{Ref: ref, SHA256: "deadbeef", Width: 640, Height: 480, Index: -1, Status: results.StatusNoFace, Error: "no face found"}
	noFaceRow := base(cfg)
	noFaceRow.Status, noFaceRow.Error = results.StatusNoFace, ptr("no face found")
	notFound := FaceRecord{Ref: ref, Index: -1, Status: results.StatusNotFound, Error: "files: not found: gs://bucket/in/p1.jpg"}
	notFoundRow := results.Row{
		RunID: cfg.RunID, ImageURI: ref.URI, Detector: cfg.Detector, Threshold: cfg.Threshold,
		ModelID: cfg.ModelID, Profile: cfg.Profile, GalleryVersion: cfg.GalleryVersion,
		Status: results.StatusNotFound, Error: ptr("files: not found: gs://bucket/in/p1.jpg"), ProcessedAt: now.UnixMilli(),
	}

	tests := []struct {
		name string
		rec  FaceRecord
		g    *matcher.Gallery
		cfg  MatchConfig
		want results.Row
	}{
		{"accepted", faceRec(near), three, cfg, accepted(cfg, 3)},
		{"accepted with embedding", faceRec(near), three, withEmb, embRow},
		{"top 1 keeps the margin", faceRec(near), three, top1, accepted(top1, 1)},
		{"top 0 means 1", faceRec(near), three, top0, accepted(top0, 1)},
		{"unknown", faceRec(far), three, top2, unknown},
		{"single identity", faceRec(near), solo, cfg, soloRow},
		{"encoder failed", encodeFailed, three, cfg, encodeFailedRow},
		{"no face", noFace, three, cfg, noFaceRow},
		{"not found", notFound, three, cfg, notFoundRow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resultRow(tt.rec, tt.g, tt.cfg, now)
			if err != nil {
				t.Fatal(err)
			}
			if d := sameRow(got, tt.want); d != "" {
				t.Error(d)
			}
			if got.Identity == nil && got.Accepted {
				t.Error("accepted without an identity")
			}
			if !tt.cfg.WithEmbeddings && got.Embedding != nil {
				t.Error("embedding written without WithEmbeddings")
			}
		})
	}

	errTests := []struct {
		name string
		emb  []float32
		want error
	}{
		{"wrong dimension", []float32{0.6, 0, 0.8}, matcher.ErrDimension},
		{"not unit", []float32{3, 4}, matcher.ErrInvalid},
		{"NaN", []float32{float32(math.NaN()), 1}, matcher.ErrInvalid},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resultRow(faceRec(tt.emb), three, cfg, now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("resultRow error %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), ref.URI) {
				t.Errorf("error %q does not name the image", err)
			}
		})
	}
}

// writeTree creates files (slash-separated, relative to dir) holding their names.
func writeTree(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGalleryPhotosFolder(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeTree(t, dir,
		"alice.jpg", "bob.png", "j.r.r.tolkien.jpeg",
		"carol/1.jpg", "carol/2.jpg", "dave/holiday/3.jpg",
		".hidden/x.jpg", "_temporary/run/part.jpg",
	)
	empty := t.TempDir()
	p := func(rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }
	want := []ImageRef{
		{URI: p("alice.jpg"), Identity: "alice"},
		{URI: p("bob.png"), Identity: "bob"},
		{URI: p("carol/1.jpg"), Identity: "carol"},
		{URI: p("carol/2.jpg"), Identity: "carol"},
		{URI: p("dave/holiday/3.jpg"), Identity: "dave"},
		{URI: p("j.r.r.tolkien.jpeg"), Identity: "j.r.r.tolkien"},
	}
	tests := []struct {
		name    string
		src     string
		want    []ImageRef
		wantErr error
	}{
		{"folder", dir, want, nil},
		{"trailing slash", dir + "/", want, nil},
		{"seed gallery", filepath.Join(seed, "gallery"), nil, nil}, // checked below
		{"empty folder", empty, nil, ErrNoInput},
		{"missing folder", filepath.Join(dir, "nope"), nil, files.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := GalleryPhotos(ctx, tt.src)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("GalleryPhotos(%s) error %v, want %v", tt.src, err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if tt.want == nil { // the seed gallery: <identity>.<ext>, 12 photos
				if len(got) != 12 {
					t.Fatalf("%d photos, want 12: %+v", len(got), got)
				}
				for _, r := range got {
					if want := strings.TrimSuffix(filepath.Base(r.URI), filepath.Ext(r.URI)); r.Identity != want {
						t.Errorf("%s: identity %q, want %q", r.URI, r.Identity, want)
					}
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("GalleryPhotos(%s) =\n%+v\nwant\n%+v", tt.src, got, tt.want)
			}
		})
	}
}

func TestGalleryPhotosCSV(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct {
		name    string
		file    string
		content string
		want    []ImageRef
		wantErr error // with errMsg "": success
		errMsg  string
	}{
		{
			name: "header", file: "g.csv",
			content: "identity,uri\nalice,gs://b/alice.jpg\nbob,/data/bob/1.png\n",
			want:    []ImageRef{{URI: "gs://b/alice.jpg", Identity: "alice"}, {URI: "/data/bob/1.png", Identity: "bob"}},
		},
		{
			name: "no header", file: "g.csv",
			content: "alice,gs://b/alice.jpg\nbob,/data/bob/1.png",
			want:    []ImageRef{{URI: "gs://b/alice.jpg", Identity: "alice"}, {URI: "/data/bob/1.png", Identity: "bob"}},
		},
		{
			name: "header any case, spaces, quotes, upper-case extension", file: "G.CSV",
			content: "Identity, URI\r\n\"Smith, John\", gs://b/js.jpg\r\n",
			want:    []ImageRef{{URI: "gs://b/js.jpg", Identity: "Smith, John"}},
		},
		{
			name: "header only later is data", file: "g.csv",
			content: "alice,a.jpg\nidentity,uri\n",
			want:    []ImageRef{{URI: "a.jpg", Identity: "alice"}, {URI: "uri", Identity: "identity"}},
		},
		{name: "one field", file: "g.csv", content: "alice,a.jpg\nbob\n", errMsg: "wrong number of fields"},
		{name: "three fields", file: "g.csv", content: "alice,a.jpg,extra\n", errMsg: "wrong number of fields"},
		{name: "empty identity", file: "g.csv", content: "alice,a.jpg\n,b.jpg\n", errMsg: "line 2: empty identity or uri"},
		{name: "empty uri", file: "g.csv", content: "alice,\n", errMsg: "line 1: empty identity or uri"},
		{name: "empty file", file: "g.csv", content: "", wantErr: ErrNoInput},
		{name: "header alone", file: "g.csv", content: "identity,uri\n", wantErr: ErrNoInput},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join(dir, fmt.Sprint(i), tt.file)
			if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(src, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := GalleryPhotos(ctx, src)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
			case tt.errMsg != "":
				if err == nil || !strings.Contains(err.Error(), tt.errMsg) || !strings.Contains(err.Error(), src) {
					t.Fatalf("error %v, want one naming %s and saying %q", err, src, tt.errMsg)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got\n%+v\nwant\n%+v", got, tt.want)
				}
				return
			}
			if got != nil {
				t.Errorf("refs %+v with an error", got)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if _, err := GalleryPhotos(ctx, filepath.Join(dir, "none.csv")); !errors.Is(err, files.ErrNotFound) {
			t.Fatalf("error %v, want %v", err, files.ErrNotFound)
		}
	})
}

func TestShardOf(t *testing.T) {
	uris := []string{"", "a", "gs://b/x.jpg", "/data/in/1.jpg", "/data/in/2.jpg", "ünïcödé/ß.png"}
	for i := range 500 {
		uris = append(uris, fmt.Sprintf("gs://bucket/images/%05d.jpg", i))
	}
	for _, n := range []int{1, 2, 3, 7, 16, 64} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			used := map[int]int{}
			for _, u := range uris {
				s := shardOf(u, n)
				if s < 0 || s >= n {
					t.Fatalf("shardOf(%q, %d) = %d, outside [0, %d)", u, n, s, n)
				}
				if again := shardOf(u, n); again != s {
					t.Fatalf("shardOf(%q, %d) = %d, then %d", u, n, s, again)
				}
				used[s]++
			}
			if len(used) != n {
				t.Errorf("%d URIs use %d of %d shards: %v", len(uris), len(used), n, used)
			}
		})
	}
}

func TestCountValues(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]string
		want []tables.StatusCount
	}{
		{"nil", nil, []tables.StatusCount{}},
		{"one", map[string]string{"a": "ok"}, []tables.StatusCount{{Status: "ok", Count: 1}}},
		{
			"sorted by value",
			map[string]string{"a": "ok", "b": "ok", "c": "no_face", "d": "decode_error", "e": "ok", "f": "too_large"},
			[]tables.StatusCount{{Status: "decode_error", Count: 1}, {Status: "no_face", Count: 1}, {Status: "ok", Count: 3}, {Status: "too_large", Count: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 5 { // map order must not matter
				if got := countValues(tt.in); !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("countValues(%v) = %+v, want %+v", tt.in, got, tt.want)
				}
			}
		})
	}
}

// read reads uri with readFn, as ReadImages does.
func read(t *testing.T, ctx context.Context, uri string) Photo {
	t.Helper()
	var out []Photo
	if err := (&readFn{MaxBytes: 1 << 20}).ProcessElement(ctx, ImageRef{URI: uri}, func(p Photo) { out = append(out, p) }); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 {
		t.Fatalf("readFn emitted %d photos for %s", len(out), uri)
	}
	return out[0]
}

func sha(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestFindFacesFn drives the DoFn as a runner would, without one: every
// photo comes out exactly once, failed reads at once, the others in input
// order when the pool flushes (mid-bundle at batch*Parallelism, then in
// FinishBundle).
func TestFindFacesFn(t *testing.T) {
	ctx := beamContext("findFaces")
	dir := t.TempDir()
	textFile := filepath.Join(dir, "notes.jpg")
	if err := os.WriteFile(textFile, []byte("not an image, whatever the name says"), 0o644); err != nil {
		t.Fatal(err)
	}
	andrew, err := os.ReadFile(filepath.Join(seed, "gallery", "andrew.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.jpg")
	if err := os.WriteFile(truncated, andrew[:len(andrew)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	g := func(name string) string { return filepath.Join(seed, "gallery", name) }
	c := func(name string) string { return filepath.Join(seed, "camera", name) }
	inputs := []struct {
		uri    string
		status string
	}{
		{g("andrew.jpg"), results.StatusOK},
		{g("arnaud.jpg"), results.StatusOK},
		{textFile, results.StatusUnsupportedFormat},
		{filepath.Join(dir, "vanished.jpg"), results.StatusNotFound},
		{g("benoit.jpg"), results.StatusOK},
		{g("danielle.png"), results.StatusOK},
		{truncated, results.StatusDecodeError},
		{c("camera_0.jpg"), results.StatusOK},
		{c("camera_1.jpg"), results.StatusOK},
		{c("camera_2.jpg"), results.StatusOK},
		{c("camera_3.jpg"), results.StatusOK},
		{c("camera_4.jpg"), results.StatusOK},
		{c("camera_5.jpg"), results.StatusOK}, // the 12th photo to decode: flush
		{g("tian.jpg"), results.StatusOK},     // left for FinishBundle
	}
	const vanished, flushAt = 3, 12

	fn := &findFacesFn{Config: FaceConfig{Detector: "none", Width: 160, Height: 160, Parallelism: 3}, batch: 4}
	if err := fn.Setup(); err != nil {
		t.Fatal(err)
	}
	dec, err := decoder.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()

	var got []FaceRecord
	emit := func(r FaceRecord) { got = append(got, r) }
	readCtx := beamContext("read")
	var bytesIn int64
	photos := make([]Photo, len(inputs))
	for i, in := range inputs {
		photos[i] = read(t, readCtx, in.uri)
		bytesIn += int64(len(photos[i].Data))
		if err := fn.ProcessElement(ctx, photos[i], emit); err != nil {
			t.Fatal(err)
		}
		// Emitted so far: the failed read at once, the rest at the flush.
		want := 0
		if i >= vanished {
			want = 1
		}
		if i >= flushAt {
			want = flushAt + 1
		}
		if len(got) != want {
			t.Fatalf("after photo %d: %d records emitted, want %d", i, len(got), want)
		}
	}
	if err := fn.FinishBundle(ctx, emit); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(inputs) {
		t.Fatalf("%d records for %d photos", len(got), len(inputs))
	}
	// The emission order: the failed read, then every other photo in input order.
	order := []int{vanished}
	for i := range inputs {
		if i != vanished {
			order = append(order, i)
		}
	}
	for k, i := range order {
		r, in, p := got[k], inputs[i], photos[i]
		if r.Ref.URI != in.uri {
			t.Errorf("record %d is %s, want %s", k, r.Ref.URI, in.uri)
			continue
		}
		if r.Status != in.status {
			t.Errorf("%s: status %q (%s), want %q", in.uri, r.Status, r.Error, in.status)
		}
		if in.status != results.StatusOK {
			if r.HasFace() || r.Index != -1 || r.Pixels != nil || r.Error == "" || r.SHA256 != p.SHA256 {
				t.Errorf("%s: face-less record wrong: %+v", in.uri, r)
			}
			continue
		}
		data, err := os.ReadFile(in.uri)
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := dec.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		want := FaceRecord{
			Ref: ImageRef{URI: in.uri}, SHA256: sha(data), Width: 96, Height: 96, Faces: 1, Index: 0,
			X: 0, Y: 0, W: 96, H: 96, Score: 1,
			Pixels: encoder.ResizeNearest(img, 160, 160).Pix, Status: results.StatusOK,
		}
		if taken, ok := decoder.TakenAt(data); ok {
			want.TakenAt = taken.UnixMilli()
		}
		if !reflect.DeepEqual(r, want) {
			r.Pixels, want.Pixels = r.Pixels[:8], want.Pixels[:8]
			t.Errorf("%s: record\n%+v\nwant\n%+v", in.uri, r, want)
		}
	}
	wantCounters := map[string]int64{"faces": 11, "images_failed": 3}
	if c := counters(ctx); !reflect.DeepEqual(c, wantCounters) {
		t.Errorf("counters %v, want %v", c, wantCounters)
	}
	if c := counters(readCtx); c["bytes_read"] != bytesIn || bytesIn == 0 {
		t.Errorf("readFn counted %d bytes read, want %d", c["bytes_read"], bytesIn)
	}

	// A second bundle on the same instance starts empty.
	got = nil
	if err := fn.ProcessElement(ctx, photos[0], emit); err != nil {
		t.Fatal(err)
	}
	if err := fn.FinishBundle(ctx, emit); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Ref.URI != inputs[0].uri || !got[0].HasFace() {
		t.Errorf("second bundle emitted %d records, want 1 face of %s", len(got), inputs[0].uri)
	}
}

type referenceEncodings struct {
	Encodings map[string]struct {
		Unit []float64 `json:"unit"`
	} `json:"encodings"`
}

// TestEncodeFn runs six seed faces through the real model in batches of 4
// (one in ProcessElement, the rest in FinishBundle), with face-less records
// in between, and checks the embeddings against the Python reference.
func TestEncodeFn(t *testing.T) {
	ctx := beamContext("encode")
	modelDir := os.Getenv(models.EnvModel)
	if modelDir == "" {
		t.Fatalf("$%s is not set: source /work/main/.facebatch.env", models.EnvModel)
	}
	data, err := os.ReadFile(filepath.Join(seed, "reference_facenet_keras.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref referenceEncodings
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	dec, err := decoder.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()

	face := func(name string) FaceRecord {
		data, err := os.ReadFile(filepath.Join(seed, "gallery", name))
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := dec.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		return FaceRecord{
			Ref: ImageRef{URI: name, Identity: strings.TrimSuffix(name, filepath.Ext(name))}, SHA256: sha(data),
			Width: 96, Height: 96, Faces: 1, Index: 0, W: 96, H: 96, Score: 1,
			Pixels: encoder.ResizeNearest(img, 160, 160).Pix, Status: results.StatusOK,
		}
	}
	noFace := FaceRecord{Ref: ImageRef{URI: "blank.png"}, SHA256: "00", Width: 50, Height: 50, Index: -1, Status: results.StatusNoFace, Error: "no face found"}
	broken := FaceRecord{Ref: ImageRef{URI: "broken.jpg"}, Index: -1, Status: results.StatusDecodeError, Error: "decoder: corrupt image"}
	in := []FaceRecord{
		face("andrew.jpg"), face("arnaud.jpg"), noFace, face("benoit.jpg"), face("bertrand.jpg"), // 4 faces: a batch
		face("dan.jpg"), broken, face("danielle.png"), // 2 faces for FinishBundle
	}
	// Face-less records pass at once. A full batch is encoded in the
	// background while records keep coming, so its faces come out at the
	// latest when the next batch is submitted, and all by FinishBundle;
	// batches keep their order.
	wantFaceOrder := []string{"andrew.jpg", "arnaud.jpg", "benoit.jpg", "bertrand.jpg", "dan.jpg", "danielle.png"}
	atLeast := []int{0, 0, 1, 1, 1, 1, 2, 2} // emitted after each ProcessElement
	atMost := []int{0, 0, 1, 1, 5, 5, 6, 6}

	fn := &encodeFn{Config: EncodeConfig{ModelDir: modelDir, Profile: "notebook", BatchSize: 4, Inflight: 1}}
	if err := fn.Setup(); err != nil {
		t.Fatal(err)
	}
	var got []FaceRecord
	emit := func(r FaceRecord) { got = append(got, r) }
	for i, r := range in {
		if err := fn.ProcessElement(ctx, r, emit); err != nil {
			t.Fatal(err)
		}
		if len(got) < atLeast[i] || len(got) > atMost[i] {
			t.Fatalf("after record %d: %d emitted, want %d to %d", i, len(got), atLeast[i], atMost[i])
		}
	}
	if err := fn.FinishBundle(ctx, emit); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("%d records out for %d in", len(got), len(in))
	}
	byURI := map[string]FaceRecord{}
	for _, r := range in {
		byURI[r.Ref.URI] = r
	}
	var faceOrder []string
	for _, r := range got {
		orig, ok := byURI[r.Ref.URI]
		if !ok {
			t.Errorf("unexpected record %s", r.Ref.URI)
			continue
		}
		delete(byURI, r.Ref.URI)
		if orig.HasFace() {
			faceOrder = append(faceOrder, r.Ref.URI)
		} else {
			if !reflect.DeepEqual(r, orig) {
				t.Errorf("face-less record changed:\n%+v\nwant\n%+v", r, orig)
			}
			continue
		}
		if r.Pixels != nil {
			t.Errorf("%s: Pixels kept after encoding", r.Ref.URI)
		}
		if len(r.Embedding) != 128 {
			t.Fatalf("%s: embedding has %d values, want 128", r.Ref.URI, len(r.Embedding))
		}
		var norm float64
		for _, x := range r.Embedding {
			norm += float64(x) * float64(x)
		}
		if math.Abs(math.Sqrt(norm)-1) > 1e-5 {
			t.Errorf("%s: embedding length %v, want 1", r.Ref.URI, math.Sqrt(norm))
		}
		want, ok := ref.Encodings[r.Ref.URI]
		if !ok || len(want.Unit) != 128 {
			t.Fatalf("no reference encoding for %s", r.Ref.URI)
		}
		var worst float64
		for j, x := range r.Embedding {
			worst = max(worst, math.Abs(float64(x)-want.Unit[j]))
		}
		if worst > 1e-4 {
			t.Errorf("%s: embedding differs from the reference by %.2g", r.Ref.URI, worst)
		}
		rest, wantRest := r, orig
		rest.Embedding, wantRest.Pixels = nil, nil
		if !reflect.DeepEqual(rest, wantRest) {
			t.Errorf("%s: fields other than Pixels and Embedding changed:\n%+v\nwant\n%+v", r.Ref.URI, rest, wantRest)
		}
	}
	if !slices.Equal(faceOrder, wantFaceOrder) {
		t.Errorf("faces came out as %v, want %v", faceOrder, wantFaceOrder)
	}
	if c := counters(ctx); c["faces_encoded"] != 6 {
		t.Errorf("faces_encoded = %d, want 6 (all: %v)", c["faces_encoded"], c)
	}
	// Nothing is left pending: another FinishBundle emits nothing.
	n := len(got)
	if err := fn.FinishBundle(ctx, emit); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Errorf("a second FinishBundle emitted %d more records", len(got)-n)
	}
}
