// Package tables lays out the pipelines' Parquet tables: deterministic part
// names, a completion marker written last, and typed Parquet reads and
// writes over local or gs:// storage.
//
// A table is a folder (or prefix) holding part-NNNNN-of-MMMMM.parquet files
// and a _SUCCESS marker. Writers stage parts under _temporary/<run id>/ (as
// part-...parquet.inprogress) and move them into place only when every part
// is written; readers should check the marker before trusting the parts.
package tables

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/facebatch/facebatch/files"
)

// MarkerFile is written last, when the table is complete.
const MarkerFile = "_SUCCESS"

// TempDir is where parts are staged, inside the table folder.
const TempDir = "_temporary"

// StagingSuffix ends the name of a staged part, so that no "*.parquet"
// glob, not even "**/*.parquet", sees it before it is complete.
const StagingSuffix = ".inprogress"

// ErrIncomplete means a table has no completion marker: it is being written,
// or its writer died.
var ErrIncomplete = errors.New("tables: table is incomplete (no _SUCCESS marker)")

var partPattern = regexp.MustCompile(`^part-\d{5}-of-\d{5}\.parquet$`)

// PartName is the file name of one shard.
func PartName(shard, shards int) string {
	return fmt.Sprintf("part-%05d-of-%05d.parquet", shard, shards)
}

// IsPart reports whether name (a base name) is a table part.
func IsPart(name string) bool { return partPattern.MatchString(name) }

// Parts lists the part files of the table in dir, sorted.
func Parts(ctx context.Context, dir string) ([]string, error) {
	names, err := files.List(ctx, files.Join(dir, "part-*.parquet"))
	if err != nil {
		return nil, err
	}
	var parts []string
	for _, n := range names {
		if IsPart(files.Base(n)) {
			parts = append(parts, n)
		}
	}
	return parts, nil
}

// StatusCount is the number of rows (or images) with one status.
type StatusCount struct {
	Status string `json:"status"`
	Count  int64  `json:"count"`
}

// Marker is the content of _SUCCESS: what the run wrote.
type Marker struct {
	Kind  string `json:"kind"`
	RunID string `json:"run_id"`
	// Precision is what the encodings were computed in, fp32 or bf16
	// (encoder.Session.Precision); empty for a table that did not encode.
	Precision   string        `json:"precision,omitempty"`
	Rows        int64         `json:"rows"`
	Images      int64         `json:"images"`
	Faces       int64         `json:"faces"`
	ByStatus    []StatusCount `json:"images_by_status"`
	Matched     int64         `json:"matched,omitempty"`
	Unknown     int64         `json:"unknown,omitempty"`
	Files       []string      `json:"files"`
	CompletedAt time.Time     `json:"completed_at"`
}

// ReadMarker reads dir's marker; a missing one is ErrIncomplete.
func ReadMarker(ctx context.Context, dir string) (*Marker, error) {
	data, err := files.Read(ctx, files.Join(dir, MarkerFile), 1<<20)
	if errors.Is(err, files.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrIncomplete, dir)
	}
	if err != nil {
		return nil, err
	}
	var m Marker
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("tables: %s: %w", files.Join(dir, MarkerFile), err)
	}
	return &m, nil
}

// WriteJSON stores v as indented JSON at uri.
func WriteJSON(ctx context.Context, uri string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	return files.Write(ctx, uri, append(data, '\n'))
}

// Encode returns rows as one Parquet file.
func Encode[T any](rows []T) ([]byte, error) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, parquet.Compression(&parquet.Zstd))
	if _, err := w.Write(rows); err != nil {
		return nil, fmt.Errorf("tables: encoding parquet: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("tables: encoding parquet: %w", err)
	}
	return buf.Bytes(), nil
}

// Write stores rows as one Parquet file at uri.
func Write[T any](ctx context.Context, uri string, rows []T) error {
	data, err := Encode(rows)
	if err != nil {
		return err
	}
	return files.Write(ctx, uri, data)
}

// RowGroupRows bounds a streamed part's row groups. The writer holds a row
// group's pages in memory until it is complete, so this, not the run's
// size, bounds a writer's memory: results rows take about 115 bytes each
// compressed (the parts of a 20,000-photo bench run), so about 1 MB per
// row group; with embeddings, 128 floats that barely compress, about 6 MB.
const RowGroupRows = 10_000

// A Writer streams rows into one Parquet file, a row group at a time. The
// file appears under its name only when Close succeeds.
type Writer[T any] struct {
	uri string
	f   *files.Writer
	w   *parquet.GenericWriter[T]
}

// Create starts a Parquet file at uri.
func Create[T any](ctx context.Context, uri string) (*Writer[T], error) {
	f, err := files.Create(ctx, uri)
	if err != nil {
		return nil, err
	}
	w := parquet.NewGenericWriter[T](f, parquet.Compression(&parquet.Zstd), parquet.MaxRowsPerRowGroup(RowGroupRows))
	return &Writer[T]{uri: uri, f: f, w: w}, nil
}

// Write appends rows. After an error the file is abandoned.
func (w *Writer[T]) Write(rows ...T) error {
	if _, err := w.w.Write(rows); err != nil {
		w.f.Abort()
		return fmt.Errorf("tables: writing %s: %w", w.uri, err)
	}
	return nil
}

// Close completes the file.
func (w *Writer[T]) Close() error {
	if err := w.w.Close(); err != nil {
		w.f.Abort()
		return fmt.Errorf("tables: writing %s: %w", w.uri, err)
	}
	return w.f.Close()
}

// Abort abandons the file; it is a no-op after Close.
func (w *Writer[T]) Abort() { w.f.Abort() }

// Read returns every row of the Parquet file at uri.
func Read[T any](ctx context.Context, uri string) ([]T, error) {
	data, err := files.Read(ctx, uri, 0)
	if err != nil {
		return nil, err
	}
	rows, err := parquet.Read[T](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("tables: reading %s: %w", uri, err)
	}
	return rows, nil
}

// ScanRows is how many rows Scan hands fn at a time.
const ScanRows = 1024

// Scan calls fn with the rows of every part of a complete table, in order,
// ScanRows or fewer at a time, for tables too big to hold in memory: it
// holds one batch of rows and a page of each column, never a whole part.
// A gs:// part is copied to a local temporary file first (see files.Open).
//
// Scan reuses the slice it passes fn, so fn must not keep the slice past
// the call; the rows in it it may keep, by copying them out: each row's
// strings, pointers and slices are its own, not shared with later rows.
// An error from fn stops the scan and is returned as it is.
func Scan[T any](ctx context.Context, dir string, fn func(rows []T) error) error {
	if _, err := ReadMarker(ctx, dir); err != nil {
		return err
	}
	parts, err := Parts(ctx, dir)
	if err != nil {
		return err
	}
	buf := make([]T, ScanRows)
	for _, p := range parts {
		if err := scanPart(ctx, p, buf, fn); err != nil {
			return err
		}
	}
	return nil
}

// ScanPart is Scan over one part file (or any Parquet file) at uri, with
// no marker check: for a job that spreads a table's parts over workers.
func ScanPart[T any](ctx context.Context, uri string, fn func(rows []T) error) error {
	return scanPart(ctx, uri, make([]T, ScanRows), fn)
}

// scanPart reads the Parquet file at uri into buf, a batch at a time, and
// hands each batch to fn.
func scanPart[T any](ctx context.Context, uri string, buf []T, fn func(rows []T) error) error {
	f, err := files.Open(ctx, uri)
	if err != nil {
		return err
	}
	defer f.Close()
	pf, err := parquet.OpenFile(f, f.Size())
	if err != nil {
		return fmt.Errorf("tables: reading %s: %w", uri, err)
	}
	r := parquet.NewGenericReader[T](pf)
	defer r.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Zero values leave the reader nothing to reuse: every row read
		// gets storage of its own, which is what lets fn keep rows.
		clear(buf)
		n, err := r.Read(buf)
		if n > 0 {
			if err := fn(buf[:n]); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tables: reading %s: %w", uri, err)
		}
	}
}

// ReadAll reads every part of a complete table into memory: for small
// tables (a gallery, clusters); Scan reads big ones.
func ReadAll[T any](ctx context.Context, dir string) ([]T, error) {
	var all []T
	err := Scan(ctx, dir, func(rows []T) error {
		all = append(all, rows...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}
