package pipelines_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/image/bmp"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/decoder/decodertest"
	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/pipelines"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

// hostileFile is one file of the hostile corpus and the statuses its row
// may have (the first is what a face-less detector gives it).
type hostileFile struct {
	name   string
	data   []byte
	status []string
	// upright is the camera shot a rotated face copy shows, "" otherwise.
	upright string
}

// oddNames renames some corpus files: spaces, quotes, non-ASCII, shell and
// glob characters, a leading dash.
var oddNames = map[string]string{
	"baseline.jpg":     `it's "odd" é.jpg`,
	"rgb.png":          "space in name.png",
	"animated.gif":     "日本語 写真.gif",
	"lossless.webp":    "emoji 🙂 face.webp",
	"rgb.bmp":          "semi;colon,comma & amp.bmp",
	"deflate.tiff":     "[brackets] {braces} (parens).tiff",
	"cmyk.jpg":         "-leading-dash.jpg",
	"bomb.png":         "percent %20 and #hash.png",
	"truncated.jpg":    "back\\slash.jpg",
	"photo.heic":       "IMG_0001.HEIC",
	"error-page.jpg":   "tab\there.jpg",
	"interlaced.png":   "ünïcödé nörmälïzätïön.png",
	"palette-trns.png": "   leading spaces.png",
}

// jobSamples are the decoder corpus samples the jobs run on: each status,
// and each format once (the decoder's tests decode every sample).
var jobSamples = []string{
	// Decode.
	"baseline.jpg", "gray.jpg", "progressive.jpg", "cmyk.jpg", "ycck.jpg", "rgb.png", "palette-trns.png",
	"rgba16.png", "interlaced.png", "animated.gif", "lossless.webp", "lossy-alpha.webp", "rgb.bmp", "deflate.tiff",
	// Not images, or formats not read.
	"empty.jpg", "random.jpg", "photo.heic", "photo.avif", "drawing.svg", "scan.pdf", "error-page.jpg", "12-bit.jpg",
	// Corrupt.
	"truncated.jpg", "truncated.png", "bad-crc.png", "garbage-scan.jpg", "scan-bomb.jpg",
	// Decompression bombs.
	"bomb.jpg", "bomb.png", "bomb.gif", "bomb.webp",
}

// statusOf is the row status Decode's outcome gives.
func statusOf(s decodertest.Sample) []string {
	switch {
	case s.Err == nil:
		return []string{results.StatusOK}
	case s.MayDecode:
		return []string{results.StatusDecodeError, results.StatusOK, results.StatusNoFace}
	case errors.Is(s.Err, decoder.ErrFormat):
		return []string{results.StatusUnsupportedFormat}
	case errors.Is(s.Err, decoder.ErrTooLarge):
		return []string{results.StatusTooLarge}
	default:
		return []string{results.StatusDecodeError}
	}
}

// hostileCorpus is the decoder's corpus under odd names, plus: a duplicate,
// a file over the byte limit (maxBytes), and the camera shots stored turned
// with each EXIF orientation.
func hostileCorpus(t *testing.T, maxBytes int) []hostileFile {
	t.Helper()
	for name := range oddNames {
		if !slices.Contains(jobSamples, name) {
			t.Fatalf("odd name for %s, which the jobs do not run on", name)
		}
	}
	var files []hostileFile
	for _, s := range decodertest.Corpus() {
		if !slices.Contains(jobSamples, s.Name) {
			continue
		}
		name := s.Name
		if odd, ok := oddNames[name]; ok {
			name = odd
		}
		files = append(files, hostileFile{name: name, data: s.Data, status: statusOf(s)})
	}
	// The same bytes under another name: two rows, one sha256.
	dup := files[0]
	dup.name = "copy of " + dup.name
	files = append(files, dup)
	// A real image over the byte limit: refused at the read.
	big := image.NewRGBA(image.Rect(0, 0, 1024, 1024))
	for i := range big.Pix {
		big.Pix[i] = uint8(i * 7)
	}
	var buf bytes.Buffer
	if err := bmp.Encode(&buf, big); err != nil {
		t.Fatal(err)
	}
	if buf.Len() <= maxBytes {
		t.Fatalf("over-limit file is %d bytes", buf.Len())
	}
	files = append(files, hostileFile{name: "huge.bmp", data: buf.Bytes(), status: []string{results.StatusTooLarge}})

	// Camera shots stored turned, each with the EXIF orientation that
	// shows it upright: camera_0 with 1, camera_1 with 2, ..., camera_0
	// and camera_1 again with 7 and 8.
	dec, err := decoder.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for o := 1; o <= 8; o++ {
		shot := fmt.Sprintf("camera_%d.jpg", (o-1)%6)
		data, err := os.ReadFile(filepath.Join(seed, "camera", shot))
		if err != nil {
			t.Fatal(err)
		}
		upright, _, err := dec.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		var turned bytes.Buffer
		if err := jpeg.Encode(&turned, decoder.Orient(upright, decodertest.UndoOrientation[o]), &jpeg.Options{Quality: 95}); err != nil {
			t.Fatal(err)
		}
		files = append(files, hostileFile{
			name:    fmt.Sprintf("turned %d %s", o, shot),
			data:    decodertest.WithOrientation(turned.Bytes(), o),
			status:  []string{results.StatusOK},
			upright: shot,
		})
	}
	return files
}

// writeCorpus writes files into dir (under sub-folders named by folder) and
// returns the path of each by name, and the total size.
func writeCorpus(t *testing.T, dir string, files []hostileFile, folder func(i int) string) (map[string]string, int) {
	t.Helper()
	paths := map[string]string{}
	total := 0
	for i, f := range files {
		d := filepath.Join(dir, folder(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, f.name)
		if _, dup := paths[f.name]; dup {
			t.Fatalf("two corpus files named %q", f.name)
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths[f.name] = p
		total += len(f.data)
	}
	// Hidden files are not inputs (docs/operations.md: hidden entries are skipped).
	if err := os.WriteFile(filepath.Join(dir, folder(0), ".hidden.jpg"), files[0].data, 0o644); err != nil {
		t.Fatal(err)
	}
	return paths, total
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatalf("peak memory is read from /proc/self/status (Linux): %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// TestHostileCorpus runs both jobs over files of every format, broken and
// hostile ones, odd names, a duplicate, an over-limit file and turned faces:
// every file gets one row with the status its bytes call for, and turned
// faces are named like the upright shot.
func TestHostileCorpus(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const maxBytes = 2 << 20
	files := hostileCorpus(t, maxBytes)
	if len(files) >= 50 {
		t.Fatalf("%d files: keep the corpus small", len(files))
	}
	byName := map[string]hostileFile{}
	for _, f := range files {
		byName[f.name] = f
	}
	common := notebook()
	common.MaxBytes = maxBytes

	// Identify against the seed gallery, with the whole image as the face.
	gm := runGallery(t, pipelines.GalleryConfig{Common: notebook(), Input: filepath.Join(seed, "gallery"), Output: filepath.Join(dir, "gallery")})
	photos := filepath.Join(dir, "photos")
	paths, total := writeCorpus(t, photos, files, func(i int) string { return []string{".", "sub folder", "ünï"}[i%3] })
	t.Logf("corpus: %d files, %d bytes", len(files), total)
	out := filepath.Join(dir, "results")
	before := peakRSS(t)
	marker := runIdentify(t, pipelines.IdentifyConfig{Common: common, Inputs: []string{photos}, Gallery: filepath.Join(dir, "gallery"), Output: out})
	if marker.Images != int64(len(files)) {
		t.Errorf("marker counts %d images, want %d", marker.Images, len(files))
	}
	rows := readResults(t, out)
	sums := imageSHA256(t, out)
	seen := map[string]resultRow{}
	statuses := map[string]int{}
	for _, r := range rows {
		name := filepath.Base(r.uri)
		f, ok := byName[name]
		if !ok || paths[name] != r.uri {
			t.Errorf("row for %q, which was not written", r.uri)
			continue
		}
		if _, dup := seen[name]; dup {
			t.Errorf("%s: several rows", name)
		}
		seen[name] = r
		statuses[r.status]++
		if !slices.Contains(f.status, r.status) {
			t.Errorf("%s: status %q, want %v", name, r.status, f.status)
		}
		if (r.status == results.StatusOK) != r.faceIndex.Valid {
			t.Errorf("%s: status %s with face index %v", name, r.status, r.faceIndex)
		}
	}
	if len(seen) != len(files) {
		for _, f := range files {
			if _, ok := seen[f.name]; !ok {
				t.Errorf("%s: no row", f.name)
			}
		}
	}
	t.Logf("identify: %d rows, statuses %v", len(rows), statuses)
	// The duplicate: same sha256; an unreadable file has none.
	dupOf := files[0].name
	if a, b := sums[paths[dupOf]], sums[paths["copy of "+dupOf]]; a == "" || a != b {
		t.Errorf("duplicate sha256 %q and %q", a, b)
	}
	if s := sums[paths["huge.bmp"]]; s != "" {
		t.Errorf("over-limit file has sha256 %q", s)
	}
	if s := sums[paths["empty.jpg"]]; s != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("zero-byte file has sha256 %q", s)
	}
	// Turned faces: the upright shot's identity, near its distance.
	for _, f := range files {
		if f.upright == "" {
			continue
		}
		got, want := seen[f.name], whoAnswer(t, f.upright)[0]
		if got.identity.String != want.Identity || !got.accepted || math.Abs(got.distance.Float64-want.Distance) > 0.05 {
			t.Errorf("%s: %v at %.4f, the upright shot is %s at %.4f", f.name, got.identity, got.distance.Float64, want.Identity, want.Distance)
		} else {
			t.Logf("%s: %s at %.4f (upright %.4f)", f.name, got.identity.String, got.distance.Float64, want.Distance)
		}
	}
	if gm.Photos != 12 {
		t.Errorf("seed gallery: %+v", gm)
	}

	// The same files as gallery photos of two identities.
	people := filepath.Join(dir, "people")
	gpaths, _ := writeCorpus(t, people, files, func(i int) string { return []string{"Zoë O'Brien", "plain"}[i%2] })
	gout := filepath.Join(dir, "hostile-gallery")
	hm := runGallery(t, pipelines.GalleryConfig{Common: common, Input: people, Output: gout})
	grows, err := tables.ReadAll[gallery.Row](ctx, gout)
	if err != nil {
		t.Fatal(err)
	}
	gseen := map[string]gallery.Row{}
	for _, r := range grows {
		name := filepath.Base(r.ImageURI)
		f, ok := byName[name]
		if !ok || gpaths[name] != r.ImageURI {
			t.Errorf("gallery row for %q, which was not written", r.ImageURI)
			continue
		}
		if _, dup := gseen[name]; dup {
			t.Errorf("gallery: %s has several rows", name)
		}
		gseen[name] = r
		if !slices.Contains(f.status, r.Status) {
			t.Errorf("gallery: %s: status %q, want %v", name, r.Status, f.status)
		}
		if wantID := filepath.Base(filepath.Dir(r.ImageURI)); r.Identity != wantID {
			t.Errorf("gallery: %s: identity %q, want %q", name, r.Identity, wantID)
		}
		if (r.Status == gallery.StatusOK) != (len(r.Embedding) == 128) {
			t.Errorf("gallery: %s: status %s with %d-float embedding", name, r.Status, len(r.Embedding))
		}
	}
	if len(gseen) != len(files) || hm.Rows != int64(len(files)) {
		t.Errorf("gallery: %d photos have rows, manifest counts %d rows; want %d", len(gseen), hm.Rows, len(files))
	}

	// The pigo detector over the same photos: images decode as before and
	// show faces or not; every file still has its rows.
	pigo := common
	pigo.Detector = "pigo"
	pout := filepath.Join(dir, "results-pigo")
	runIdentify(t, pipelines.IdentifyConfig{Common: pigo, Inputs: []string{photos}, Gallery: filepath.Join(dir, "gallery"), Output: pout})
	pseen := map[string]bool{}
	for _, r := range readResults(t, pout) {
		name := filepath.Base(r.uri)
		pseen[name] = true
		want := byName[name].status
		if want[0] == results.StatusOK {
			want = []string{results.StatusOK, results.StatusNoFace}
		}
		if !slices.Contains(want, r.status) {
			t.Errorf("pigo: %s: status %q, want %v", name, r.status, want)
		}
	}
	if len(pseen) != len(files) {
		t.Errorf("pigo: %d files have rows, want %d", len(pseen), len(files))
	}

	hwm := peakRSS(t)
	t.Logf("peak RSS (VmHWM) of the test process: %d MiB (%d MiB before the first identify run)", hwm>>20, before>>20)
	if hwm > 2<<30 {
		t.Errorf("peak RSS %d MiB, want under 2 GiB", hwm>>20)
	}
}

// imageSHA256 reads image_sha256 by image_uri from a results table.
func imageSHA256(t *testing.T, dir string) map[string]string {
	t.Helper()
	q := fmt.Sprintf(`SELECT DISTINCT image_uri, coalesce(image_sha256, '') FROM read_parquet('%s')`, filepath.Join(dir, "*.parquet"))
	rows, err := duck(t).Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var uri, sum string
		if err := rows.Scan(&uri, &sum); err != nil {
			t.Fatal(err)
		}
		out[uri] = sum
	}
	return out
}
