package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/googleapi"
)

// fastRetry shortens the backoff for a test.
func fastRetry(t *testing.T, attempts int) {
	t.Helper()
	old := Retry
	Retry = RetryPolicy{Attempts: attempts, Base: time.Millisecond, Max: 4 * time.Millisecond}
	t.Cleanup(func() { Retry = old })
}

func apiErr(code int) error {
	return &googleapi.Error{Code: code, Message: http.StatusText(code)}
}

func TestTransient(t *testing.T) {
	opErr := func(errno syscall.Errno) error {
		return &url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errno)}}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"408", apiErr(408), true},
		{"429", apiErr(429), true},
		{"500", apiErr(500), true},
		{"502", apiErr(502), true},
		{"503", apiErr(503), true},
		{"504", apiErr(504), true},
		{"503 wrapped", fmt.Errorf("files: writing gs://b/o: %w", apiErr(503)), true},
		{"400", apiErr(400), false},
		{"401", apiErr(401), false},
		{"403", apiErr(403), false},
		{"404", apiErr(404), false},
		{"409", apiErr(409), false},
		{"412", apiErr(412), false},
		{"501", apiErr(501), false},
		{"403 wrapped", fmt.Errorf("files: reading gs://b/o: %w", apiErr(403)), false},
		{"unexpected EOF", fmt.Errorf("files: reading x: %w", io.ErrUnexpectedEOF), true},
		{"connection reset", opErr(syscall.ECONNRESET), true},
		{"connection refused", opErr(syscall.ECONNREFUSED), true},
		{"broken pipe", opErr(syscall.EPIPE), true},
		{"reset, as text", errors.New("write tcp 1.2.3.4:5->6.7.8.9:443: connection reset by peer"), true},
		{"server closed idle connection", &url.Error{Op: "Post", URL: "http://x", Err: io.EOF}, true},
		{"attempt deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false},
		{"not found", fmt.Errorf("%w: gs://b/o", ErrNotFound), false},
		{"too large", ErrTooLarge, false},
		{"plain", errors.New("parquet: bad magic"), false},
		{"plain EOF", io.EOF, false},
	}
	for _, tt := range tests {
		if got := Transient(tt.err); got != tt.want {
			t.Errorf("Transient(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestRetryWait(t *testing.T) {
	p := RetryPolicy{Attempts: 6, Base: 50 * time.Millisecond, Max: 2 * time.Second}
	for attempt, full := range []time.Duration{50, 100, 200, 400, 800, 1600, 2000, 2000} {
		full *= time.Millisecond
		if attempt >= 6 {
			full = 2 * time.Second
		}
		for range 50 {
			if w := p.Wait(attempt + 1); w < full/2 || w >= full {
				t.Fatalf("Wait(%d) = %v, want in [%v, %v)", attempt+1, w, full/2, full)
			}
		}
	}
	if w := (RetryPolicy{Attempts: 2}).Wait(1); w != 0 {
		t.Errorf("zero policy waits %v", w)
	}
}

// counter is a fake storage operation that fails with errs, in order, then
// succeeds.
type counter struct {
	mu       sync.Mutex
	attempts int
	errs     []error
}

func (c *counter) op(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts++
	if c.attempts <= len(c.errs) {
		return c.errs[c.attempts-1]
	}
	return nil
}

func TestRetryTransientThenSuccess(t *testing.T) {
	fastRetry(t, 6)
	before := Retries()["test-flaky"]
	c := &counter{errs: []error{apiErr(503), apiErr(429), fmt.Errorf("files: reading x: %w", io.ErrUnexpectedEOF)}}
	if err := retry(context.Background(), "test-flaky", "gs://b/o", c.op); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if c.attempts != 4 {
		t.Errorf("%d attempts, want 4", c.attempts)
	}
	if got := Retries()["test-flaky"] - before; got != 3 {
		t.Errorf("%d retries counted, want 3", got)
	}
}

func TestRetryPermanentFailsAtOnce(t *testing.T) {
	fastRetry(t, 6)
	for _, err := range []error{apiErr(403), apiErr(404), apiErr(400), fmt.Errorf("%w: x", ErrNotFound), errors.New("bad bytes")} {
		c := &counter{errs: []error{err, err, err}}
		got := retry(context.Background(), "test-permanent", "gs://b/o", c.op)
		if !errors.Is(got, err) || c.attempts != 1 {
			t.Errorf("%v: %d attempts, error %v; want 1 attempt and the error itself", err, c.attempts, got)
		}
	}
}

func TestRetryAttemptsBounded(t *testing.T) {
	fastRetry(t, 5)
	errs := make([]error, 100)
	for i := range errs {
		errs[i] = apiErr(503)
	}
	c := &counter{errs: errs}
	err := retry(context.Background(), "test-bounded", "gs://b/o", c.op)
	var e *googleapi.Error
	if !errors.As(err, &e) || e.Code != 503 || !strings.Contains(err.Error(), "after 5 attempts") {
		t.Errorf("error %v, want the last 503 and the number of attempts", err)
	}
	if c.attempts != 5 {
		t.Errorf("%d attempts, want 5", c.attempts)
	}
}

func TestRetryStopsWhenContextDone(t *testing.T) {
	old := Retry
	Retry = RetryPolicy{Attempts: 6, Base: time.Hour, Max: time.Hour}
	t.Cleanup(func() { Retry = old })

	// Cancelled while waiting to retry.
	ctx, cancel := context.WithCancel(context.Background())
	c := &counter{errs: []error{apiErr(503), apiErr(503)}}
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	err := retry(ctx, "test-cancel", "gs://b/o", c.op)
	if time.Since(start) > 10*time.Second || !errors.Is(err, context.Canceled) || c.attempts != 1 {
		t.Errorf("after cancel: %d attempts, %v in %v; want 1 attempt, context.Canceled, at once", c.attempts, err, time.Since(start))
	}
	var e *googleapi.Error
	if !errors.As(err, &e) || e.Code != 503 {
		t.Errorf("the last attempt's error is lost: %v", err)
	}

	// An attempt that timed out because the caller's deadline passed is
	// not retried...
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	<-ctx.Done()
	c = &counter{errs: []error{ctx.Err(), ctx.Err()}}
	if err := retry(ctx, "test-deadline", "gs://b/o", c.op); !errors.Is(err, context.DeadlineExceeded) || c.attempts != 1 {
		t.Errorf("caller's deadline: %d attempts, %v; want 1", c.attempts, err)
	}
	// ...but one attempt's own timeout is, while the caller waits.
	fastRetry(t, 6)
	c = &counter{errs: []error{fmt.Errorf("attempt: %w", context.DeadlineExceeded)}}
	if err := retry(context.Background(), "test-deadline", "gs://b/o", c.op); err != nil || c.attempts != 2 {
		t.Errorf("attempt timeout: %d attempts, %v; want 2 and success", c.attempts, err)
	}
}

// flaky is a reverse proxy in front of a fake GCS server. fault, if it
// returns a status, answers the request with it: before passing it on
// (lost=false) or after the server has done it (lost=true: the response is
// lost, the effect is not).
type flaky struct {
	mu       sync.Mutex
	requests []string // method and path of every request
	fault    func(n int, r *http.Request) (status int, lost bool)
}

func (f *flaky) count(method, pathPart string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if strings.HasPrefix(r, method+" ") && strings.Contains(r, pathPart) {
			n++
		}
	}
	return n
}

func newFlakyGCS(t *testing.T, objects map[string]string) (*fakestorage.Server, *flaky) {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0, PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucket("b")
	for name, data := range objects {
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "b", Name: name}, Content: []byte(data)})
	}
	target, _ := url.Parse(srv.URL())
	f := &flaky{}
	proxy := httputil.NewSingleHostReverseProxy(target) // keeps the Host header: upload URLs point back here
	proxy.ModifyResponse = func(resp *http.Response) error {
		if status, ok := resp.Request.Context().Value(lostKey{}).(int); ok {
			resp.Body.Close()
			resp.StatusCode, resp.Status = status, fmt.Sprintf("%d %s", status, http.StatusText(status))
			resp.Body = io.NopCloser(strings.NewReader(`{"error":{"code":` + fmt.Sprint(status) + `,"message":"injected"}}`))
			resp.ContentLength = -1
			resp.Header.Del("Content-Length")
			resp.Header.Set("Content-Type", "application/json")
		}
		return nil
	}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
		n := len(f.requests)
		fault := f.fault
		f.mu.Unlock()
		if fault != nil {
			if status, lost := fault(n, r); status != 0 {
				if !lost {
					http.Error(w, `{"error":{"code":`+fmt.Sprint(status)+`,"message":"injected"}}`, status)
					return
				}
				r = r.WithContext(context.WithValue(r.Context(), lostKey{}, status))
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	t.Setenv("STORAGE_EMULATOR_HOST", front.URL)
	return srv, f
}

type lostKey struct{}

// once makes a fault hit the first request that match accepts.
func once(match func(r *http.Request) bool, status int, lost bool) func(int, *http.Request) (int, bool) {
	var mu sync.Mutex
	done := false
	return func(_ int, r *http.Request) (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if !done && match(r) {
			done = true
			return status, lost
		}
		return 0, false
	}
}

func method(m, pathPart string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == m && strings.Contains(r.URL.EscapedPath()+"?"+r.URL.RawQuery, pathPart)
	}
}

// isMedia reports whether r downloads an object's bytes (XML API, or JSON
// API with alt=media), not its metadata.
func isMedia(r *http.Request) bool {
	return r.Method == "GET" && (r.URL.Query().Get("alt") == "media" ||
		!strings.HasPrefix(r.URL.Path, "/storage/v1/") && !strings.HasPrefix(r.URL.Path, "/upload/"))
}

// TestWriteGCSRetried: an upload refused with 503, then one done but
// answered 429, are retried; the object holds the data once.
func TestWriteGCSRetried(t *testing.T) {
	fastRetry(t, 6)
	ctx := context.Background()
	srv, f := newFlakyGCS(t, nil)
	before := Retries()["write"]
	f.fault = once(method("POST", "/upload/"), 503, false)
	if err := Write(ctx, "gs://b/t/a.bin", []byte("one")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	f.fault = once(method("POST", "/upload/"), 429, true)
	if err := Write(ctx, "gs://b/t/a.bin", []byte("two")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	obj, err := srv.GetObject("b", "t/a.bin")
	if err != nil || string(obj.Content) != "two" {
		t.Fatalf("object: %q, %v", obj.Content, err)
	}
	if got := Retries()["write"] - before; got != 2 {
		t.Errorf("%d write retries, want 2", got)
	}
	if n := f.count("POST", "/upload/"); n != 4 {
		t.Errorf("%d uploads went through the proxy, want 4", n)
	}
}

// TestRenameGCSLostResponses: the copy is done but answered 503, then the
// delete is done but answered 503; the retried delete finds nothing, which
// means the rename is complete.
func TestRenameGCSLostResponses(t *testing.T) {
	fastRetry(t, 6)
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		fault func(int, *http.Request) (int, bool)
	}{
		{"copy lost", once(method("POST", "/rewriteTo/"), 503, true)},
		{"copy refused", once(method("POST", "/rewriteTo/"), 502, false)},
		{"delete lost", once(method("DELETE", "/o/t%2F_temporary"), 503, true)},
		{"delete refused", once(method("DELETE", "/o/t%2F_temporary"), 504, false)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, f := newFlakyGCS(t, map[string]string{"t/_temporary/run/part": "new", "t/part": "old"})
			f.fault = tt.fault
			if err := Rename(ctx, "gs://b/t/_temporary/run/part", "gs://b/t/part"); err != nil {
				t.Fatalf("Rename: %v", err)
			}
			if obj, err := srv.GetObject("b", "t/part"); err != nil || string(obj.Content) != "new" {
				t.Errorf("destination: %q, %v", obj.Content, err)
			}
			if _, err := srv.GetObject("b", "t/_temporary/run/part"); err == nil {
				t.Error("source still there")
			}
			if f.count("POST", "/rewriteTo/")+f.count("DELETE", "/o/t%2F_temporary") != 3 {
				t.Errorf("requests: %q", f.requests)
			}
		})
	}
	// A missing source is ErrNotFound, at once.
	_, f := newFlakyGCS(t, map[string]string{"t/part": "old"})
	if err := Rename(ctx, "gs://b/t/_temporary/run/part", "gs://b/t/part"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rename of a missing object: %v, want ErrNotFound", err)
	}
	if n := f.count("POST", "/rewriteTo/"); n != 1 {
		t.Errorf("%d copies of a missing object, want 1", n)
	}
}

// TestRemoveGCSLost: a delete done but answered 503 is retried and the 404
// that follows is success.
func TestRemoveGCSLost(t *testing.T) {
	fastRetry(t, 6)
	srv, f := newFlakyGCS(t, map[string]string{"t/_SUCCESS": "{}"})
	f.fault = once(method("DELETE", "/o/"), 503, true)
	if err := Remove(context.Background(), "gs://b/t/_SUCCESS"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := srv.GetObject("b", "t/_SUCCESS"); err == nil {
		t.Error("object still there")
	}
	if n := f.count("DELETE", "/o/"); n != 2 {
		t.Errorf("%d deletes, want 2", n)
	}
}

// TestReadGCSFaults: transient faults on a download are retried (by the
// client or by Read), a 403 is not, and is not "not found".
func TestReadGCSFaults(t *testing.T) {
	fastRetry(t, 6)
	ctx := context.Background()
	_, f := newFlakyGCS(t, map[string]string{"p/ok.jpg": "photo", "p/secret.jpg": "hidden"})
	var mu sync.Mutex
	failed := map[string]int{}
	f.fault = func(_ int, r *http.Request) (int, bool) {
		if !isMedia(r) {
			return 0, false
		}
		p := r.URL.EscapedPath()
		if strings.Contains(p, "secret.jpg") {
			return http.StatusForbidden, false
		}
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(p, "ok.jpg") && failed[p] < 2 {
			failed[p]++
			return 503, false
		}
		return 0, false
	}
	data, err := Read(ctx, "gs://b/p/ok.jpg", 100)
	if err != nil || string(data) != "photo" {
		t.Fatalf("Read: %q, %v", data, err)
	}
	_, err = Read(ctx, "gs://b/p/secret.jpg", 100)
	if err == nil || errors.Is(err, ErrNotFound) || Transient(err) || !strings.Contains(err.Error(), "403") {
		t.Errorf("Read of a forbidden object: %v; want a permanent error mentioning 403", err)
	}
	if n := f.count("GET", "secret.jpg"); n != 1 {
		t.Errorf("forbidden object fetched %d times, want 1", n)
	}
	// Exists and List see it (only its bytes are forbidden).
	if ok, err := Exists(ctx, "gs://b/p/secret.jpg"); !ok || err != nil {
		t.Errorf("Exists: %v, %v", ok, err)
	}
}

// TestOpenGCSFaults: a copy cut short by transient faults is made again
// whole; a 403 is not retried, and leaves no copy behind.
func TestOpenGCSFaults(t *testing.T) {
	fastRetry(t, 6)
	ctx := context.Background()
	spool := t.TempDir()
	t.Setenv("TMPDIR", spool)
	_, f := newFlakyGCS(t, map[string]string{"t/part": "0123456789", "t/secret": "hidden"})
	var mu sync.Mutex
	failed := 0
	f.fault = func(_ int, r *http.Request) (int, bool) {
		if !isMedia(r) {
			return 0, false
		}
		if strings.Contains(r.URL.EscapedPath(), "secret") {
			return http.StatusForbidden, false
		}
		mu.Lock()
		defer mu.Unlock()
		if failed < 2 {
			failed++
			return http.StatusServiceUnavailable, false
		}
		return 0, false
	}
	file, err := Open(ctx, "gs://b/t/part")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	p := make([]byte, 10)
	if n, err := file.ReadAt(p, 0); n != 10 || err != nil && err != io.EOF || string(p) != "0123456789" || file.Size() != 10 {
		t.Errorf("ReadAt = %d, %v: %q (size %d); want the whole object once", n, err, p, file.Size())
	}
	file.Close()
	if _, err := Open(ctx, "gs://b/t/secret"); err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "403") {
		t.Errorf("Open of a forbidden object: %v; want a permanent error mentioning 403", err)
	}
	if n := f.count("GET", "secret"); n != 1 {
		t.Errorf("forbidden object fetched %d times, want 1", n)
	}
	if left, err := os.ReadDir(spool); err != nil || len(left) != 0 {
		t.Errorf("copies left in the temporary folder: %v, %v", left, err)
	}
}

// TestDeadlines points the storage client at a server that takes requests
// and never answers, or answers a download and then stalls: every
// operation fails within its budget, saying so and naming the object,
// instead of hanging.
func TestDeadlines(t *testing.T) {
	old := Retry
	Retry = RetryPolicy{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond, CallTimeout: 200 * time.Millisecond, Budget: time.Second}
	t.Cleanup(func() { Retry = old })
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isMedia(r) { // the headers and a first byte, then nothing
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	t.Setenv("STORAGE_EMULATOR_HOST", srv.URL)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		op   func() error
	}{
		{"read", func() error { _, err := Read(ctx, "gs://b/photo.jpg", 0); return err }},
		{"open", func() error { _, err := Open(ctx, "gs://b/part.parquet"); return err }},
		{"list", func() error { _, err := List(ctx, "gs://b/photos/"); return err }},
		{"write", func() error { return Write(ctx, "gs://b/out/_SUCCESS", []byte("{}")) }},
		{"stat", func() error { _, err := Exists(ctx, "gs://b/out/_SUCCESS"); return err }},
		{"remove", func() error { return Remove(ctx, "gs://b/out/_SUCCESS") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.op()
			took := time.Since(start)
			t.Logf("%v after %v", err, took.Round(time.Millisecond))
			if !errors.Is(err, ErrRetryBudget) || !errors.Is(err, ErrStalled) {
				t.Errorf("error %v, want ErrRetryBudget and ErrStalled", err)
			}
			if err != nil && !strings.Contains(err.Error(), "gs://b/") {
				t.Errorf("error %q does not name the object", err)
			}
			// The budget, plus one attempt that may have started just
			// inside it, plus slack for a loaded machine.
			if took > Retry.Budget+Retry.CallTimeout+2*time.Second {
				t.Errorf("took %v, budget %v", took, Retry.Budget)
			}
		})
	}
}

func TestSetRetry(t *testing.T) {
	old := Retry
	t.Cleanup(func() { Retry = old })
	if err := SetRetry(5*time.Second, time.Minute); err != nil {
		t.Fatal(err)
	}
	if Retry.CallTimeout != 5*time.Second || Retry.Budget != time.Minute {
		t.Errorf("Retry = %+v", Retry)
	}
	if err := SetRetry(-time.Second, time.Minute); err == nil {
		t.Error("a negative timeout was taken")
	}
}
