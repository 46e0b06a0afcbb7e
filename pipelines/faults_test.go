package pipelines_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/pipelines"
)

// faultProxy stands between the GCS client and the fake GCS server and
// breaks some requests, deterministically:
//   - every third request is answered 503 (every fourth of those 429),
//     except that a request is never broken twice in a row for the same
//     method and path, so that every retried operation makes progress;
//   - of the broken mutations (POST, PUT, DELETE), every other one of
//     each kind is passed on first and only its response is lost: the
//     server did the work, the client sees an error and must retry it
//     idempotently;
//   - every fourth complete media download that gets through is cut off
//     halfway: the connection drops, after the headers and part of the
//     body (the client resumes with a ranged read) or, for small objects,
//     before (the client sends the request again);
//   - the media download of one object is always answered 403.
type faultProxy struct {
	forbidden string // the object path whose download is forbidden, as the XML API names it

	mu         sync.Mutex
	n          int
	lastBroken map[string]bool // by method and path: was the last request broken?
	injected   map[string]int  // broken requests by kind
	lost       map[string]int  // of which passed on and answered with an error, by kind
	fullReads  int             // complete media downloads passed on
	cuts       int             // of which cut off halfway
	resumed    int             // ranged downloads (a client resuming a cut one)
	retried    map[string]int  // requests by kind that came after a broken one on the same method and path
	forbids    int             // 403s sent
	downloads  map[string]int  // successful media downloads by object path
	kinds      map[string]int  // every request by kind
}

func newFaultProxy(t *testing.T, srv *fakestorage.Server, forbidden string) (*faultProxy, string) {
	t.Helper()
	target, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	f := &faultProxy{
		forbidden: forbidden, lastBroken: map[string]bool{}, injected: map[string]int{},
		retried: map[string]int{}, downloads: map[string]int{}, kinds: map[string]int{}, lost: map[string]int{},
	}
	// The proxy keeps the Host header, so the URLs the server puts in its
	// answers (resumable upload sessions) point back at the proxy.
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if status, ok := resp.Request.Context().Value(loseKey{}).(int); ok {
			resp.Body.Close()
			body := injectedBody(status)
			resp.StatusCode, resp.Status = status, fmt.Sprintf("%d %s", status, http.StatusText(status))
			resp.Body = io.NopCloser(strings.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header = http.Header{"Content-Type": {"application/json"}, "Content-Length": {fmt.Sprint(len(body))}}
			return nil
		}
		if resp.StatusCode/100 != 2 || !isMedia(resp.Request) {
			return nil
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.downloads[objectPath(resp.Request)]++
		if resp.Request.Header.Get("Range") != "" {
			f.resumed++
			return nil
		}
		if f.fullReads++; f.fullReads%4 != 0 || resp.ContentLength < 2 {
			return nil
		}
		// Send half the bytes, then fail the copy: the proxy aborts the
		// connection, short of the Content-Length it announced.
		f.cuts++
		resp.Body = &cutBody{ReadCloser: resp.Body, left: resp.ContentLength / 2}
		return nil
	}
	proxy.ErrorLog = log.New(io.Discard, "", 0) // the aborted copies
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, lose := f.decide(r)
		switch {
		case status != 0 && !lose:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, injectedBody(status))
			return
		case status != 0:
			r = r.WithContext(context.WithValue(r.Context(), loseKey{}, status))
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return f, front.URL
}

type loseKey struct{}

// cutBody reads left bytes of the body, then fails.
type cutBody struct {
	io.ReadCloser
	left int64
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errors.New("injected fault: connection cut")
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

func injectedBody(status int) string {
	return fmt.Sprintf(`{"error":{"code":%d,"message":"injected fault: %s"}}`, status, http.StatusText(status))
}

// kind names a request for the counts: download, metadata, list, upload,
// copy, delete.
func kind(r *http.Request) string {
	p := r.URL.Path
	switch {
	case isMedia(r):
		return "download"
	case strings.HasPrefix(p, "/upload/"):
		return "upload"
	case r.Method == http.MethodPost && (strings.Contains(p, "/rewriteTo/") || strings.Contains(p, "/copyTo/")):
		return "copy"
	case r.Method == http.MethodDelete:
		return "delete"
	case r.Method == http.MethodGet && strings.HasSuffix(strings.TrimSuffix(p, "/"), "/o"):
		return "list"
	case r.Method == http.MethodGet:
		return "metadata"
	}
	return r.Method + " other"
}

// isMedia reports whether r downloads an object's bytes: the XML API
// (/bucket/object) or the JSON API with alt=media.
func isMedia(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	p := r.URL.Path
	return r.URL.Query().Get("alt") == "media" || !strings.HasPrefix(p, "/storage/v1/") && !strings.HasPrefix(p, "/upload/")
}

// objectPath is bucket/object of a media download, unescaped.
func objectPath(r *http.Request) string {
	p := r.URL.Path
	if strings.HasPrefix(p, "/download/storage/v1/b/") || strings.HasPrefix(p, "/storage/v1/b/") {
		p = p[strings.Index(p, "/b/")+3:]
		p = strings.Replace(p, "/o/", "/", 1)
	}
	return strings.TrimPrefix(p, "/")
}

func (f *faultProxy) decide(r *http.Request) (status int, lose bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	k := kind(r)
	f.kinds[k]++
	key := r.Method + " " + r.URL.Path
	if f.lastBroken[key] {
		f.retried[k]++
	}
	if k == "download" && objectPath(r) == f.forbidden {
		f.forbids++
		f.lastBroken[key] = false
		return http.StatusForbidden, false
	}
	if f.n%3 != 0 || f.lastBroken[key] {
		f.lastBroken[key] = false
		return 0, false
	}
	f.lastBroken[key] = true
	f.injected[k]++
	status = http.StatusServiceUnavailable
	if f.n%12 == 0 {
		status = http.StatusTooManyRequests
	}
	if r.Method != http.MethodGet && f.injected[k]%2 == 0 {
		f.lost[k]++
		return status, true
	}
	return status, false
}

// faultCounts is what the proxy saw, at one moment.
type faultCounts struct {
	requests, forbids, cuts, resumed          int
	kinds, injected, lost, retried, downloads map[string]int
}

func (f *faultProxy) counts() faultCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return faultCounts{
		requests: f.n, forbids: f.forbids, cuts: f.cuts, resumed: f.resumed, lost: maps.Clone(f.lost),
		kinds: maps.Clone(f.kinds), injected: maps.Clone(f.injected), retried: maps.Clone(f.retried), downloads: maps.Clone(f.downloads),
	}
}

func (c faultCounts) String() string {
	return fmt.Sprintf("%d requests %v; injected %v (of which done by the server, answer lost: %v); %d downloads cut halfway, %d resumed; "+
		"%d forbidden; retried after a fault %v", c.requests, c.kinds, c.injected, c.lost, c.cuts, c.resumed, c.forbids, c.retried)
}

// TestGCSFaults runs both jobs on gs:// through a proxy that fails a third
// of the requests with 503 or 429 (and answers one photo with 403), and
// checks the output is what a reliable run writes: every image exactly
// once, the forbidden one as a read_error row.
func TestGCSFaults(t *testing.T) {
	ctx := context.Background()
	oldRetry := files.Retry
	files.Retry = files.RetryPolicy{Attempts: 6, Base: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	defer func() { files.Retry = oldRetry }()

	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0, PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	srv.CreateBucket("photos")
	upload := func(name, path string) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "photos", Name: name}, Content: data})
	}
	var photos []string // bucket/object of every input photo
	for _, p := range seedFiles(t, "gallery") {
		id := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		upload("people/"+id+"/"+filepath.Base(p), p)
		photos = append(photos, "photos/people/"+id+"/"+filepath.Base(p))
	}
	const cameras = "cameras/2026-11-28/front door/"
	for _, p := range seedFiles(t, "camera") {
		upload(cameras+filepath.Base(p), p)
		photos = append(photos, "photos/"+cameras+filepath.Base(p))
	}
	// A seventh camera shot that this service account may not read.
	const locked = cameras + "locked.jpg"
	upload(locked, filepath.Join(seed, "camera", "camera_1.jpg"))

	proxy, proxyURL := newFaultProxy(t, srv, "photos/"+locked)
	t.Setenv("STORAGE_EMULATOR_HOST", proxyURL)
	retriesBefore := files.Retries()

	gm := runGallery(t, pipelines.GalleryConfig{Common: notebook(), Input: "gs://photos/people", Output: "gs://photos/tables/gallery"})
	if gm.Photos != 12 || len(gm.Identities) != 12 || gm.Rejected != 0 {
		t.Fatalf("gallery through faults: %+v", gm)
	}
	m := runIdentify(t, pipelines.IdentifyConfig{
		Common: notebook(), Inputs: []string{"gs://photos/cameras/**"}, Gallery: "gs://photos/tables/gallery", Output: "gs://photos/tables/results",
	})
	seen := proxy.counts() // what the two jobs did
	t.Logf("the jobs made %v", seen)
	retries := files.Retries()
	for op, n := range retriesBefore {
		retries[op] -= n
	}
	t.Logf("retried by package files: %v", retries)

	if m.Images != 7 || m.Faces != 6 || m.Matched != 6 || m.Rows != 7 {
		t.Errorf("marker: %d images, %d faces, %d matched, %d rows; want 7, 6, 6, 7", m.Images, m.Faces, m.Matched, m.Rows)
	}
	byStatus := map[string]int64{}
	for _, c := range m.ByStatus {
		byStatus[c.Status] = c.Count
	}
	if byStatus["ok"] != 6 || byStatus["read_error"] != 1 || len(byStatus) != 2 {
		t.Errorf("images by status %v, want ok=6 read_error=1", m.ByStatus)
	}

	// Read the table back (through the faults too) and query it with DuckDB.
	local := downloadParts(t, "gs://photos/tables/results", 3)
	var rowsN, imagesN int
	if err := duck(t).QueryRow(fmt.Sprintf(`SELECT count(*), count(DISTINCT image_uri) FROM read_parquet('%s')`,
		filepath.Join(local, "*.parquet"))).Scan(&rowsN, &imagesN); err != nil {
		t.Fatal(err)
	}
	if rowsN != 7 || imagesN != 7 {
		t.Errorf("%d rows for %d images, want 7 and 7: every image exactly once", rowsN, imagesN)
	}
	var readErr string
	if err := duck(t).QueryRow(fmt.Sprintf(`SELECT error FROM read_parquet('%s') WHERE image_uri = 'gs://photos/%s' AND status = 'read_error'`,
		filepath.Join(local, "*.parquet"), locked)).Scan(&readErr); err != nil {
		t.Errorf("the forbidden photo has no read_error row: %v", err)
	} else if !strings.Contains(readErr, "403") {
		t.Errorf("read_error %q does not say 403", readErr)
	}
	var uris []string
	for _, r := range readResults(t, local) {
		uris = append(uris, r.uri)
		if r.uri == "gs://photos/"+locked {
			if r.status != "read_error" || r.faceIndex.Valid || r.identity.Valid {
				t.Errorf("%s: status %s face %v identity %v, want read_error and nulls", r.uri, r.status, r.faceIndex, r.identity)
			}
			continue
		}
		want := whoAnswer(t, files.Base(r.uri))[0]
		if r.status != "ok" || r.identity.String != want.Identity || math.Abs(r.distance.Float64-want.Distance) > 1e-4 {
			t.Errorf("%s: %s %v at %v, want ok %+v (as a reliable run)", r.uri, r.status, r.identity, r.distance, want)
		}
	}
	sort.Strings(uris)
	var wantSeen []string
	for _, p := range photos[12:] {
		wantSeen = append(wantSeen, "gs://"+p)
	}
	wantSeen = append(wantSeen, "gs://photos/"+locked)
	sort.Strings(wantSeen)
	if strings.Join(uris, "\n") != strings.Join(wantSeen, "\n") {
		t.Errorf("images in the results:\n%s\nwant\n%s", strings.Join(uris, "\n"), strings.Join(wantSeen, "\n"))
	}
	if objs, _ := files.List(ctx, "gs://photos/tables/results/_temporary"); len(objs) != 0 {
		t.Errorf("staging objects left behind: %v", objs)
	}
	if objs, _ := files.List(ctx, "gs://photos/tables/gallery/_temporary"); len(objs) != 0 {
		t.Errorf("gallery staging objects left behind: %v", objs)
	}

	// The faults really happened, on every kind of request the jobs make,
	// and were retried.
	for _, k := range []string{"download", "upload", "copy", "delete", "list"} {
		if seen.injected[k] == 0 {
			t.Errorf("no fault injected on %s requests", k)
		}
		if seen.retried[k] == 0 {
			t.Errorf("no %s request was retried after a fault", k)
		}
	}
	if seen.lost["upload"] == 0 || seen.lost["delete"] == 0 {
		t.Errorf("lost responses %v: want some uploads and deletes done but answered with an error", seen.lost)
	}
	if seen.cuts == 0 || seen.resumed == 0 {
		t.Errorf("%d downloads cut, %d resumed: want some of each", seen.cuts, seen.resumed)
	}
	if seen.forbids != 1 {
		t.Errorf("the forbidden photo was requested %d times, want once (a 403 is not retried)", seen.forbids)
	}
	for _, op := range []string{"write", "copy", "remove"} {
		if retries[op] == 0 {
			t.Errorf("package files never retried a %s", op)
		}
	}
	// Every photo was read through the proxy.
	for _, p := range photos {
		if seen.downloads[p] == 0 {
			t.Errorf("%s was not downloaded through the proxy (downloads: %v)", p, seen.downloads)
		}
	}
}
