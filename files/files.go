// Package files reads and writes objects by URI, local paths and gs:// alike,
// through Beam's filesystem registry, adding what the pipelines need on top:
// recursive listing, capped reads, random access (see Open), atomic
// replacement, and retries of transient storage errors (see Retry).
//
// The filesystems themselves are registered by blank imports in main (and in
// tests): github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local and
// .../filesystem/gcs.
package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/storage"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"google.golang.org/api/googleapi"
)

var (
	// ErrTooLarge means an object is bigger than the caller allows.
	ErrTooLarge = errors.New("files: object too large")
	// ErrNotFound means no object has that name.
	ErrNotFound = errors.New("files: not found")
)

// IsGCS reports whether uri names a Cloud Storage object.
func IsGCS(uri string) bool { return strings.HasPrefix(uri, "gs://") }

// Join appends name to dir with exactly one slash; dir may be a gs:// URI.
func Join(dir, name string) string {
	if IsGCS(dir) {
		return strings.TrimSuffix(dir, "/") + "/" + strings.TrimPrefix(name, "/")
	}
	return filepath.Join(dir, name)
}

// Base is the last element of uri.
func Base(uri string) string { return path.Base(strings.TrimSuffix(uri, "/")) }

// Dir is uri without its last element.
func Dir(uri string) string {
	if IsGCS(uri) {
		return strings.TrimSuffix(uri[:strings.LastIndex(strings.TrimSuffix(uri, "/"), "/")+1], "/")
	}
	return filepath.Dir(uri)
}

func open(ctx context.Context, uri string) (filesystem.Interface, error) {
	fsys, err := filesystem.New(ctx, uri)
	if err != nil {
		return nil, fmt.Errorf("files: %s: %w", uri, err)
	}
	return fsys, nil
}

// hasGlob reports whether s holds glob metacharacters.
func hasGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// List expands src into the URIs of the objects it names, sorted:
//   - a folder or a gs:// prefix: every object below it, recursively;
//   - a glob: the matching objects; "**" matches across folders, "*" within one.
//
// Hidden entries (a path element starting with "."), folder placeholder
// objects (names ending in "/") and our own _temporary staging are skipped.
func List(ctx context.Context, src string) ([]string, error) {
	if src == "" {
		return nil, errors.New("files: empty input path")
	}
	var (
		names []string
		err   error
	)
	switch {
	case IsGCS(src):
		names, err = listGCS(ctx, src)
		if err == nil && len(names) == 0 && !hasGlob(src[len("gs://"):]) {
			// Not a prefix of anything: perhaps one object.
			var ok bool
			if ok, err = Exists(ctx, src); ok {
				names = []string{src}
			}
		}
	default:
		names, err = listLocal(src)
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if !skipped(n, src) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

func listGCS(ctx context.Context, src string) ([]string, error) {
	glob := src
	var re *regexp.Regexp
	if !hasGlob(src[len("gs://"):]) {
		glob = strings.TrimSuffix(src, "/") + "/**"
	} else if i := strings.IndexAny(src, "?["); i >= 0 && i < strings.Index(src+"*", "*") {
		// Beam's GCS listing takes everything before the first "*" as a
		// literal prefix, so a "?" or "[" there would match nothing: list
		// the folder and match the rest here.
		dir := literalDir(src)
		var err error
		if re, err = globRegexp(src[len(dir):]); err != nil {
			return nil, err
		}
		glob = dir + "**"
	}
	fsys, err := open(ctx, glob)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	var names []string
	err = retry(ctx, "list", glob, func(ctx context.Context) error {
		var err error
		names, err = fsys.List(ctx, glob)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("files: listing %s: %w", glob, err)
	}
	if re != nil {
		dir := literalDir(src)
		names = slices.DeleteFunc(names, func(n string) bool { return !re.MatchString(strings.TrimPrefix(n, dir)) })
	}
	return names, nil
}

// literalDir is src up to the folder holding its first glob element: where
// a listing starts. Without a glob it is src itself.
func literalDir(src string) string {
	i := strings.IndexAny(src, "*?[")
	if i < 0 {
		return src
	}
	return src[:strings.LastIndex(src[:i], "/")+1]
}

func listLocal(src string) ([]string, error) {
	root, pattern := src, ""
	if hasGlob(src) {
		// Walk from the longest glob-free folder and match the rest.
		parts := strings.Split(filepath.ToSlash(src), "/")
		i := 0
		for i < len(parts) && !hasGlob(parts[i]) {
			i++
		}
		root = filepath.FromSlash(strings.Join(parts[:i], "/"))
		if root == "" {
			root = "."
		}
		pattern = strings.Join(parts[i:], "/")
	}
	info, err := os.Stat(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, root)
		}
		return nil, fmt.Errorf("files: %w", err)
	}
	if !info.IsDir() {
		if pattern == "" {
			return []string{src}, nil
		}
		return nil, nil
	}
	var re *regexp.Regexp
	if pattern != "" {
		if re, err = globRegexp(pattern); err != nil {
			return nil, err
		}
	}
	var names []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("files: %w", err)
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if re == nil || re.MatchString(filepath.ToSlash(rel)) {
			names = append(names, p)
		}
		return nil
	})
	return names, err
}

// globRegexp turns a glob into an anchored regexp: ** crosses folders, * and
// ? do not, [...] is a class.
func globRegexp(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			if i+1 < len(glob) && glob[i+1] == '*' {
				i++
				if i+1 < len(glob) && glob[i+1] == '/' {
					i++
					b.WriteString("(?:.*/)?")
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := strings.IndexByte(glob[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("files: unterminated [ in glob %q", glob)
			}
			b.WriteString(glob[i : i+j+1])
			i += j
		default:
			b.WriteString(regexp.QuoteMeta(glob[i : i+1])) // a byte, not string(c): keeps UTF-8 intact
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// skipped reports whether a listed name is not an input object.
func skipped(name, src string) bool {
	if strings.HasSuffix(name, "/") {
		return true
	}
	// Judge only the part below where the listing started: hidden folders
	// or _temporary above it were named by the caller.
	base := literalDir(filepath.ToSlash(src))
	rel := strings.TrimPrefix(name, strings.TrimSuffix(base, "/"))
	if !IsGCS(name) {
		if r, err := filepath.Rel(filepath.FromSlash(base), name); err == nil {
			rel = r
		}
	}
	for _, part := range strings.Split(filepath.ToSlash(rel), "/") {
		if strings.HasPrefix(part, ".") && part != "." && part != ".." || part == "_temporary" {
			return true
		}
	}
	return false
}

// Read returns the object's bytes; more than maxBytes (if > 0) is ErrTooLarge,
// found without reading past the cap. Transient storage errors are retried
// (see Retry): each attempt opens the object and reads it whole again.
func Read(ctx context.Context, uri string, maxBytes int64) ([]byte, error) {
	fsys, err := open(ctx, uri)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	var data []byte
	err = retry(ctx, "read", uri, func(ctx context.Context) error {
		var err error
		data, err = readOnce(ctx, fsys, uri, maxBytes)
		return err
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

func readOnce(ctx context.Context, fsys filesystem.Interface, uri string, maxBytes int64) ([]byte, error) {
	r, err := fsys.OpenRead(ctx, uri)
	if err != nil {
		return nil, notFound(uri, err)
	}
	defer r.Close()
	src := withProgress(ctx, r)
	if maxBytes > 0 {
		src = io.LimitReader(src, maxBytes+1)
	}
	data, err := io.ReadAll(src)
	if err != nil {
		return nil, notFound(uri, err)
	}
	if maxBytes > 0 && int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrTooLarge, uri, maxBytes)
	}
	return data, nil
}

// isNotFound reports whether err says the object does not exist.
func isNotFound(err error) bool {
	var apiErr *googleapi.Error
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, storage.ErrObjectNotExist) ||
		errors.As(err, &apiErr) && apiErr.Code == http.StatusNotFound
}

func notFound(uri string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%w: %s", ErrNotFound, uri)
	}
	return fmt.Errorf("files: reading %s: %w", uri, err)
}

// Write stores data at uri, replacing what was there, atomically: readers
// see the old bytes or the new, never part of them. Local writes create the
// parent folders and go through a hidden temporary file in the same folder,
// renamed into place; a GCS object appears only when its upload completes.
// A GCS upload that fails with a transient error is retried whole.
func Write(ctx context.Context, uri string, data []byte) error {
	if !IsGCS(uri) {
		return writeLocal(uri, data)
	}
	return upload(ctx, uri, bytes.NewReader(data))
}

// A Writer streams an object to storage. Nothing appears under its URI
// until Close succeeds; Abort (or a failed Close) leaves nothing there.
type Writer struct {
	uri    string
	w      io.Writer
	commit func() error
	abort  func()
	done   bool
}

// Create opens uri for a streamed write, for data too big to hold in memory
// (a table part of a long run). A GCS object is spooled to a local
// temporary file and uploaded on Close, so that a transient error retries
// the upload as Write does: an upload stream cannot be replayed, a file can.
func Create(ctx context.Context, uri string) (*Writer, error) {
	if !IsGCS(uri) {
		return createLocal(uri)
	}
	spool, err := os.CreateTemp("", "facebatch-upload-*")
	if err != nil {
		return nil, fmt.Errorf("files: writing %s: %w", uri, err)
	}
	abort := func() { discard(spool) }
	commit := func() error {
		defer abort()
		return upload(ctx, uri, spool)
	}
	return &Writer{uri: uri, w: spool, commit: commit, abort: abort}, nil
}

// upload stores the whole of r at the GCS object uri, retrying the upload
// from the start on transient errors.
func upload(ctx context.Context, uri string, r io.ReadSeeker) error {
	fsys, err := open(ctx, uri)
	if err != nil {
		return err
	}
	defer fsys.Close()
	return retry(ctx, "write", uri, func(ctx context.Context) error {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("files: writing %s: %w", uri, err)
		}
		// A failed attempt must not complete the object: cancelling its
		// context abandons the upload.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		w, err := fsys.OpenWrite(ctx, uri)
		if err != nil {
			return fmt.Errorf("files: writing %s: %w", uri, err)
		}
		if _, err := io.Copy(w, withProgress(ctx, r)); err != nil {
			cancel()
			w.Close()
			return fmt.Errorf("files: writing %s: %w", uri, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("files: writing %s: %w", uri, err)
		}
		return nil
	})
}

// createLocal writes to a hidden temporary file beside path, flushed and
// renamed over path on Close, so that a crash (or a kill) never leaves a
// partial file under the final name.
func createLocal(path string) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	// Hidden, and not ending in the table's extension: no listing or glob
	// of ours (or "*.parquet") picks it up.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("files: writing %s: %w", path, err)
	}
	abort := func() { discard(f) }
	commit := func() error {
		err := f.Chmod(0o644)
		if err == nil {
			err = f.Sync()
		}
		if err == nil {
			err = f.Close()
		}
		if err == nil {
			err = os.Rename(f.Name(), path)
		}
		if err != nil {
			discard(f) // closing twice only errs
			return fmt.Errorf("files: writing %s: %w", path, err)
		}
		return nil
	}
	return &Writer{uri: path, w: f, commit: commit, abort: abort}, nil
}

// discard closes and removes a temporary file.
func discard(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("files: writing %s: %w", w.uri, err)
	}
	return n, nil
}

// Close completes the object. After a failed Write, call Abort instead.
func (w *Writer) Close() error {
	if w.done {
		return fmt.Errorf("files: writing %s: already closed", w.uri)
	}
	w.done = true
	return w.commit()
}

// Abort abandons the object; it is a no-op after Close.
func (w *Writer) Abort() {
	if !w.done {
		w.done = true
		w.abort()
	}
}

// writeLocal is Write to a local path, through createLocal.
func writeLocal(path string, data []byte) error {
	w, err := createLocal(path)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// A File is an object opened for random access, for formats read from
// the end first, such as Parquet's footer.
type File struct {
	uri  string
	f    *os.File
	size int64
	// copied says f is a local copy of a remote object, removed on Close.
	copied bool
}

// Open opens the object at uri for random access; close it when done. A
// local file is opened in place. Storage reads are streams, so any other
// object (gs://) is first copied to a local temporary file, on disk rather
// than in memory, and a transient error restarts the copy (see Retry);
// Close removes the copy. A missing object is ErrNotFound.
func Open(ctx context.Context, uri string) (*File, error) {
	if !IsGCS(uri) {
		f, err := os.Open(uri)
		if err != nil {
			return nil, notFound(uri, err)
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("files: reading %s: %w", uri, err)
		}
		if info.IsDir() {
			f.Close()
			return nil, fmt.Errorf("files: reading %s: is a folder", uri)
		}
		return &File{uri: uri, f: f, size: info.Size()}, nil
	}
	fsys, err := open(ctx, uri)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	tmp, err := os.CreateTemp("", "facebatch-download-*")
	if err != nil {
		return nil, fmt.Errorf("files: reading %s: %w", uri, err)
	}
	var size int64
	err = retry(ctx, "read", uri, func(ctx context.Context) error {
		var err error
		size, err = downloadOnce(ctx, fsys, uri, tmp)
		return err
	})
	if err != nil {
		discard(tmp)
		return nil, err
	}
	return &File{uri: uri, f: tmp, size: size, copied: true}, nil
}

// downloadOnce copies the object at uri into dst, replacing what an
// earlier attempt left there, and returns its size.
func downloadOnce(ctx context.Context, fsys filesystem.Interface, uri string, dst *os.File) (int64, error) {
	if err := dst.Truncate(0); err != nil {
		return 0, fmt.Errorf("files: reading %s: %w", uri, err)
	}
	if _, err := dst.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("files: reading %s: %w", uri, err)
	}
	r, err := fsys.OpenRead(ctx, uri)
	if err != nil {
		return 0, notFound(uri, err)
	}
	defer r.Close()
	n, err := io.Copy(dst, withProgress(ctx, r))
	if err != nil {
		return 0, notFound(uri, err)
	}
	return n, nil
}

// ReadAt reads len(p) bytes at off, as io.ReaderAt says: fewer only with
// an error, io.EOF at the end of the object.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		// io.EOF stays bare: callers compare it.
		return n, fmt.Errorf("files: reading %s: %w", f.uri, err)
	}
	return n, err
}

// Size is the object's length in bytes.
func (f *File) Size() int64 { return f.size }

// Close closes the file, and removes it if it is a copy.
func (f *File) Close() error {
	if f.copied {
		discard(f.f)
		return nil
	}
	if err := f.f.Close(); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// RemoveTemps removes the temporary files that atomic writes into the
// local folder dir left when their process was killed: the hidden
// .<name>.<random>.tmp files a Writer renames into place on Close. Only
// one writer at a time may write into dir. A gs:// folder has none: an
// upload appears whole or not at all. It returns how many it removed.
func RemoveTemps(dir string) (int, error) {
	if IsGCS(dir) {
		return 0, nil
	}
	names, err := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	if err != nil {
		return 0, fmt.Errorf("files: %w", err)
	}
	n := 0
	for _, name := range names {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("files: %w", err)
		}
		n++
	}
	return n, nil
}

// Exists reports whether an object is at uri.
func Exists(ctx context.Context, uri string) (bool, error) {
	fsys, err := open(ctx, uri)
	if err != nil {
		return false, err
	}
	defer fsys.Close()
	found := true
	err = retry(ctx, "stat", uri, func(ctx context.Context) error {
		_, err := fsys.Size(ctx, uri)
		if err != nil && isNotFound(err) {
			found = false
			return nil
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("files: %s: %w", uri, err)
	}
	return found, nil
}

// ModTime returns when the object at uri was last written. Local files and
// GCS objects have one; a filesystem that keeps none gives
// errors.ErrUnsupported.
func ModTime(ctx context.Context, uri string) (time.Time, error) {
	fsys, err := open(ctx, uri)
	if err != nil {
		return time.Time{}, err
	}
	defer fsys.Close()
	getter, ok := fsys.(filesystem.LastModifiedGetter)
	if !ok {
		return time.Time{}, fmt.Errorf("files: %s: modification time: %w", uri, errors.ErrUnsupported)
	}
	var t time.Time
	err = retry(ctx, "stat", uri, func(ctx context.Context) error {
		var err error
		t, err = getter.LastModified(ctx, uri)
		return err
	})
	if err != nil {
		return time.Time{}, notFound(uri, err)
	}
	return t, nil
}

// Remove deletes the object at uri; a missing object is not an error (so a
// delete retried after the first one took effect succeeds).
func Remove(ctx context.Context, uri string) error {
	fsys, err := open(ctx, uri)
	if err != nil {
		return err
	}
	defer fsys.Close()
	rm, ok := fsys.(filesystem.Remover)
	if !ok {
		return fmt.Errorf("files: %s: the filesystem cannot remove", uri)
	}
	return remove(ctx, rm, uri)
}

func remove(ctx context.Context, rm filesystem.Remover, uri string) error {
	err := retry(ctx, "remove", uri, func(ctx context.Context) error {
		if err := rm.Remove(ctx, uri); err != nil && !isNotFound(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("files: removing %s: %w", uri, err)
	}
	return nil
}

// Rename moves from to to, replacing to. On local disks this is an atomic
// rename; on GCS it is a server-side copy then delete, and readers see
// either the old or the new object, never a partial one. Both GCS steps are
// retried on transient errors; a copy is idempotent, and a delete that finds
// nothing after a retry means an earlier attempt did it. A missing from is
// ErrNotFound.
func Rename(ctx context.Context, from, to string) error {
	fsys, err := open(ctx, from)
	if err != nil {
		return err
	}
	defer fsys.Close()
	if !IsGCS(to) {
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return fmt.Errorf("files: %w", err)
		}
	}
	cp, canCopy := fsys.(filesystem.Copier)
	rm, canRemove := fsys.(filesystem.Remover)
	if IsGCS(from) && canCopy && canRemove {
		err := retry(ctx, "copy", from, func(ctx context.Context) error { return cp.Copy(ctx, from, to) })
		if err != nil {
			if isNotFound(err) {
				return fmt.Errorf("files: renaming %s to %s: %w: %s", from, to, ErrNotFound, from)
			}
			return fmt.Errorf("files: renaming %s to %s: %w", from, to, err)
		}
		return remove(ctx, rm, from)
	}
	if r, ok := fsys.(filesystem.Renamer); ok {
		if err := r.Rename(ctx, from, to); err != nil {
			if isNotFound(err) {
				return fmt.Errorf("files: renaming %s to %s: %w: %s", from, to, ErrNotFound, from)
			}
			return fmt.Errorf("files: renaming %s to %s: %w", from, to, err)
		}
		return nil
	}
	return fmt.Errorf("files: %s: the filesystem cannot rename", from)
}

// RemoveAll deletes dir and everything below it; missing is not an error.
func RemoveAll(ctx context.Context, dir string) error {
	if !IsGCS(dir) {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("files: %w", err)
		}
		return nil
	}
	names, err := listGCS(ctx, strings.TrimSuffix(dir, "/")+"/**")
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := Remove(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// RetryPolicy bounds the retries of transient storage errors. An attempt
// that makes no progress for CallTimeout fails (a listing or stat that
// has not answered, a transfer whose bytes stopped coming) and counts as
// transient; after a failed attempt the wait is about Base, twice as long
// after each next one, never more than Max, with jitter; and the retries
// of one operation on one object stop when the next wait would take them
// past Budget, or after Attempts tries when Attempts > 0. The budget is
// what keeps a long outage from hanging a job: it fails, naming the
// object, instead (ErrRetryBudget). Zero CallTimeout or Budget: no bound.
type RetryPolicy struct {
	Attempts            int
	Base, Max           time.Duration
	CallTimeout, Budget time.Duration
}

// Retry is the policy of every storage operation here. Cloud Storage's
// client retries idempotent reads and listings itself, until its context
// ends, but not writes, copies and deletes without preconditions, which
// are what a table's writer does; Retry covers both, and gives every
// attempt its context. The jobs set it from --storage-timeout and
// --storage-budget (SetRetry); tests shorten it.
var Retry = RetryPolicy{Base: 100 * time.Millisecond, Max: 10 * time.Second,
	CallTimeout: DefaultCallTimeout, Budget: DefaultRetryBudget}

// Defaults of Retry.
const (
	DefaultCallTimeout = 30 * time.Second
	DefaultRetryBudget = 10 * time.Minute
)

var (
	// ErrRetryBudget means an operation's retries spent its budget.
	ErrRetryBudget = errors.New("files: storage retry budget spent")
	// ErrStalled means an attempt made no progress for the call timeout.
	ErrStalled = errors.New("files: storage call made no progress")
)

// Pipeline option keys: SetRetry records the policy there, so that
// workers in other processes (the universal runner, Dataflow) use it too.
const (
	optionCallTimeout = "facebatch_storage_timeout"
	optionRetryBudget = "facebatch_storage_budget"
)

// SetRetry sets Retry's call timeout and budget, here and, through the
// pipeline options, on the job's workers.
func SetRetry(callTimeout, budget time.Duration) error {
	if callTimeout < 0 || budget < 0 {
		return fmt.Errorf("files: negative storage timeout %v or budget %v", callTimeout, budget)
	}
	Retry.CallTimeout, Retry.Budget = callTimeout, budget
	beam.PipelineOptions.Set(optionCallTimeout, callTimeout.String())
	beam.PipelineOptions.Set(optionRetryBudget, budget.String())
	return nil
}

var workerRetry sync.Once

// policy is Retry, after a worker has taken the job's settings from the
// pipeline options (they are imported before any element is processed).
func policy() RetryPolicy {
	workerRetry.Do(func() {
		if d, err := time.ParseDuration(beam.PipelineOptions.Get(optionCallTimeout)); err == nil {
			Retry.CallTimeout = d
		}
		if d, err := time.ParseDuration(beam.PipelineOptions.Get(optionRetryBudget)); err == nil {
			Retry.Budget = d
		}
	})
	return Retry
}

// Wait is how long to wait after the given failed attempt (1, 2, ...):
// an exponential backoff with "equal jitter", in [d/2, d).
func (p RetryPolicy) Wait(attempt int) time.Duration {
	d := p.Base
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	if d > p.Max {
		d = p.Max
	}
	if d <= 1 {
		return d
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)))
}

var (
	retriesMu sync.Mutex
	retries   = map[string]int64{}
)

// The Beam counter of retries, summed over a job's workers (Retries is
// this process's alone).
const (
	CounterNamespace = "facebatch"
	RetriesCounter   = "storage_retries"
)

var retriesCounter = beam.NewCounter(CounterNamespace, RetriesCounter)

// Retries returns how many times each operation ("read", "write", "copy",
// "remove", "stat", "list") was retried in this process.
func Retries() map[string]int64 {
	retriesMu.Lock()
	defer retriesMu.Unlock()
	return maps.Clone(retries)
}

// retry runs op until it succeeds, fails with an error that is not
// transient, runs out of attempts or budget, or ctx is done. Each attempt
// gets its own context, cancelled when it returns (so that an abandoned
// upload stops) or when it makes no progress for the call timeout: a
// transfer reports progress through the context (see progressReader).
func retry(ctx context.Context, op, uri string, f func(ctx context.Context) error) error {
	p := policy()
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := attempt1(ctx, p.CallTimeout, f)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			// The caller gave up: whatever the attempt says, do not retry.
			return err
		case !Transient(err):
			return err
		case p.Attempts > 0 && attempt >= p.Attempts:
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		wait := p.Wait(attempt)
		if spent := time.Since(start); p.Budget > 0 && spent+wait > p.Budget {
			return fmt.Errorf("%w: %s %s: %d attempts in %v (budget %v, --storage-budget): %w",
				ErrRetryBudget, op, uri, attempt, spent.Round(time.Millisecond), p.Budget, err)
		}
		retriesMu.Lock()
		retries[op]++
		retriesMu.Unlock()
		retriesCounter.Inc(ctx, 1)
		log.Warnf(ctx, "files: %s %s: attempt %d failed, retrying in %v: %v", op, uri, attempt, wait, err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (stopped retrying: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// attempt1 runs one attempt, failing it with ErrStalled when it makes no
// progress for timeout (0: never).
func attempt1(ctx context.Context, timeout time.Duration, f func(ctx context.Context) error) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if timeout <= 0 {
		return f(actx)
	}
	watchdog := time.AfterFunc(timeout, func() { cancel(ErrStalled) })
	defer watchdog.Stop()
	err := f(context.WithValue(actx, progressKey{}, func() { watchdog.Reset(timeout) }))
	if err != nil && errors.Is(context.Cause(actx), ErrStalled) && ctx.Err() == nil {
		return fmt.Errorf("%w for %v: %v", ErrStalled, timeout, err)
	}
	return err
}

type progressKey struct{}

// progressReader tells the attempt's watchdog that bytes are moving.
type progressReader struct {
	r    io.Reader
	tick func()
}

// withProgress wraps r so that reading from it counts as progress of the
// attempt whose context is ctx.
func withProgress(ctx context.Context, r io.Reader) io.Reader {
	tick, ok := ctx.Value(progressKey{}).(func())
	if !ok {
		return r
	}
	return progressReader{r, tick}
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.tick()
	}
	return n, err
}

// Transient reports whether err is worth retrying: HTTP 408, 429, 500, 502,
// 503 or 504 from Cloud Storage, a connection reset, refused or cut short,
// or a timeout of one attempt. Permanent errors (403, 404, other 4xx) and a
// cancelled context are not.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var apiErr *googleapi.Error
	if errors.As(err, &apiErr) {
		switch apiErr.Code {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	if errors.Is(err, ErrStalled) {
		return true
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	// A keep-alive connection the server closed as the request went out
	// (golang.org/issue/53472).
	var urlErr *url.Error
	if errors.As(err, &urlErr) && errors.Is(urlErr.Err, io.EOF) {
		return true
	}
	// Some layers flatten the error to its text.
	msg := err.Error()
	for _, s := range []string{"connection reset by peer", "connection refused", "broken pipe"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
