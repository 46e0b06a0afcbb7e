// Package files reads and writes objects by URI, local paths and gs:// alike,
// through Beam's filesystem registry, adding what the pipelines need on top:
// recursive listing, capped reads and atomic replacement.
//
// The filesystems themselves are registered by blank imports in main (and in
// tests): github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local and
// .../filesystem/gcs.
package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
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
	names, err := fsys.List(ctx, glob)
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
// found without reading past the cap.
func Read(ctx context.Context, uri string, maxBytes int64) ([]byte, error) {
	fsys, err := open(ctx, uri)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	r, err := fsys.OpenRead(ctx, uri)
	if err != nil {
		return nil, notFound(uri, err)
	}
	defer r.Close()
	var src io.Reader = r
	if maxBytes > 0 {
		src = io.LimitReader(r, maxBytes+1)
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

func notFound(uri string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, uri)
	}
	return fmt.Errorf("files: reading %s: %w", uri, err)
}

// Write stores data at uri, replacing what was there. Local writes create the
// parent folders.
func Write(ctx context.Context, uri string, data []byte) error {
	if !IsGCS(uri) {
		if err := os.MkdirAll(filepath.Dir(uri), 0o755); err != nil {
			return fmt.Errorf("files: %w", err)
		}
	}
	fsys, err := open(ctx, uri)
	if err != nil {
		return err
	}
	defer fsys.Close()
	w, err := fsys.OpenWrite(ctx, uri)
	if err != nil {
		return fmt.Errorf("files: writing %s: %w", uri, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return fmt.Errorf("files: writing %s: %w", uri, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("files: writing %s: %w", uri, err)
	}
	return nil
}

// Exists reports whether an object is at uri.
func Exists(ctx context.Context, uri string) (bool, error) {
	fsys, err := open(ctx, uri)
	if err != nil {
		return false, err
	}
	defer fsys.Close()
	if _, err := fsys.Size(ctx, uri); err != nil {
		if errors.Is(notFound(uri, err), ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("files: %s: %w", uri, err)
	}
	return true, nil
}

// Remove deletes the object at uri; a missing object is not an error.
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
	if err := rm.Remove(ctx, uri); err != nil && !errors.Is(notFound(uri, err), ErrNotFound) {
		return fmt.Errorf("files: removing %s: %w", uri, err)
	}
	return nil
}

// Rename moves from to to, replacing to. On local disks this is an atomic
// rename; on GCS it is a server-side copy then delete, and readers see
// either the old or the new object, never a partial one.
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
	if r, ok := fsys.(filesystem.Renamer); ok {
		if err := r.Rename(ctx, from, to); err != nil {
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

// RemoveEmptyDir removes a local folder if it is empty. GCS has no folders,
// so there is nothing to do there.
func RemoveEmptyDir(dir string) {
	if !IsGCS(dir) {
		_ = os.Remove(dir) // fails, as wanted, when not empty
	}
}
