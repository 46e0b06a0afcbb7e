package transforms

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/results"
)

func init() {
	register.DoFn3x1[context.Context, string, func(ImageRef), error](&listImagesFn{})
	register.DoFn3x1[context.Context, string, func(ImageRef), error](&listGalleryFn{})
	register.DoFn3x1[context.Context, string, func(ImageRef), error](&listManifestFn{})
	register.DoFn3x1[context.Context, ImageRef, func(Photo), error](&readFn{})
	register.Emitter1[ImageRef]()
	register.Emitter1[Photo]()
}

var (
	imagesListed = beam.NewCounter("facebatch", "images_listed")
	bytesRead    = beam.NewCounter("facebatch", "bytes_read")
)

// ErrNoInput means an input pattern matched nothing.
var ErrNoInput = errors.New("transforms: input matched no objects")

// ListImages expands each input (a folder, a gs:// prefix or a glob) into the
// objects it names. Every object becomes an input image, so files that are
// not images are reported in the output rather than silently skipped.
func ListImages(s beam.Scope, inputs []string) beam.PCollection {
	s = s.Scope("transforms.ListImages")
	refs := beam.ParDo(s, &listImagesFn{}, beam.CreateList(s, inputs))
	// Listing happens in one bundle; spread the images over workers.
	return beam.Reshuffle(s, refs)
}

type listImagesFn struct{}

func (f *listImagesFn) ProcessElement(ctx context.Context, src string, emit func(ImageRef)) error {
	uris, err := files.List(ctx, src)
	if err != nil {
		return err
	}
	if len(uris) == 0 {
		return fmt.Errorf("%w: %s", ErrNoInput, src)
	}
	for _, u := range uris {
		imagesListed.Inc(ctx, 1)
		emit(ImageRef{URI: u})
	}
	return nil
}

// ListGallery lists a gallery's photos with their identities. src is a folder
// or gs:// prefix laid out as <identity>/<photo> (or <identity>.<ext> for
// one photo each), or a CSV file of identity,uri lines.
func ListGallery(s beam.Scope, src string) beam.PCollection {
	s = s.Scope("transforms.ListGallery")
	refs := beam.ParDo(s, &listGalleryFn{}, beam.Create(s, src))
	return beam.Reshuffle(s, refs)
}

type listGalleryFn struct{}

func (f *listGalleryFn) ProcessElement(ctx context.Context, src string, emit func(ImageRef)) error {
	refs, err := GalleryPhotos(ctx, src)
	if err != nil {
		return err
	}
	for _, r := range refs {
		imagesListed.Inc(ctx, 1)
		emit(r)
	}
	return nil
}

// GalleryPhotos lists a gallery source (see ListGallery).
func GalleryPhotos(ctx context.Context, src string) ([]ImageRef, error) {
	if strings.HasSuffix(strings.ToLower(src), ".csv") {
		return galleryCSV(ctx, src)
	}
	uris, err := files.List(ctx, src)
	if err != nil {
		return nil, err
	}
	root := strings.TrimSuffix(src, "/") + "/"
	var refs []ImageRef
	for _, u := range uris {
		rel := strings.TrimPrefix(u, root)
		if !files.IsGCS(u) {
			rel = strings.TrimPrefix(filepath.ToSlash(u), filepath.ToSlash(root))
		}
		id, _, nested := strings.Cut(rel, "/")
		if !nested {
			id = strings.TrimSuffix(rel, path.Ext(rel))
		}
		refs = append(refs, ImageRef{URI: u, Identity: id})
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoInput, src)
	}
	return refs, nil
}

func galleryCSV(ctx context.Context, src string) ([]ImageRef, error) {
	data, err := files.Read(ctx, src, 256<<20)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(strings.NewReader(string(data)))
	r.FieldsPerRecord = 2
	r.TrimLeadingSpace = true
	var refs []ImageRef
	for line := 1; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("transforms: %s: %w", src, err)
		}
		if line == 1 && strings.EqualFold(rec[0], "identity") && strings.EqualFold(rec[1], "uri") {
			continue
		}
		if rec[0] == "" || rec[1] == "" {
			return nil, fmt.Errorf("transforms: %s line %d: empty identity or uri", src, line)
		}
		refs = append(refs, ImageRef{URI: rec[1], Identity: rec[0]})
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoInput, src)
	}
	return refs, nil
}

// ReadImages reads each object, up to maxBytes. A failed read becomes a
// Photo with a status, never a dropped image.
func ReadImages(s beam.Scope, refs beam.PCollection, maxBytes int64) beam.PCollection {
	s = s.Scope("transforms.ReadImages")
	return beam.ParDo(s, &readFn{MaxBytes: maxBytes}, refs)
}

type readFn struct {
	MaxBytes int64
}

func (f *readFn) ProcessElement(ctx context.Context, ref ImageRef, emit func(Photo)) error {
	data, err := files.Read(ctx, ref.URI, f.MaxBytes)
	if err != nil {
		emit(Photo{Ref: ref, Status: statusOf(err), Error: err.Error()})
		return nil
	}
	bytesRead.Inc(ctx, int64(len(data)))
	sum := sha256.Sum256(data)
	emit(Photo{Ref: ref, Data: data, SHA256: hex.EncodeToString(sum[:]), Status: results.StatusOK})
	return nil
}

// ListManifest reads a text file of image URIs, one per line (blank lines
// and lines starting with # are skipped), each taken as one input image.
func ListManifest(s beam.Scope, manifest string) beam.PCollection {
	s = s.Scope("transforms.ListManifest")
	refs := beam.ParDo(s, &listManifestFn{}, beam.Create(s, manifest))
	return beam.Reshuffle(s, refs)
}

type listManifestFn struct{}

func (f *listManifestFn) ProcessElement(ctx context.Context, manifest string, emit func(ImageRef)) error {
	data, err := files.Read(ctx, manifest, 256<<20)
	if err != nil {
		return err
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		imagesListed.Inc(ctx, 1)
		emit(ImageRef{URI: line})
		n++
	}
	if n == 0 {
		return fmt.Errorf("%w: manifest %s lists no images", ErrNoInput, manifest)
	}
	return nil
}
