// Package promote turns a cluster of unknown faces that a person has
// recognised into gallery photos of that identity: each face of the cluster
// is cropped from its photo and written into the gallery's photo source, so
// the next gallery run encodes it and later identify runs name the person.
//
// Crops keep a wide margin (the face is half the crop's side), so that the
// gallery job's detector finds the face again, and alone. Their names come
// from the photo's bytes and the face index, so promoting the same cluster
// twice writes the same files.
package promote

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

// Margin enlarges each face box before cropping, as a fraction of its side
// (see detector.Crop): 1 doubles the side.
const Margin = 1.0

// jpegQuality keeps the crops close to the original pixels.
const jpegQuality = 95

var (
	// ErrNoCluster means the results table has no face in the cluster.
	ErrNoCluster = errors.New("promote: no such cluster")
	// ErrIdentity means an identity cannot name a gallery folder.
	ErrIdentity = errors.New("promote: bad identity name")
	// ErrDecisions means a decisions file is malformed.
	ErrDecisions = errors.New("promote: bad decisions")
)

// Decision names one cluster.
type Decision struct {
	ClusterID int64
	Identity  string
}

// Config says where the faces come from and where they go.
type Config struct {
	// Results is the identify results table whose cluster_id the decisions
	// refer to.
	Results string
	// GalleryInput is the gallery job's --input: a folder or gs:// prefix
	// of <identity>/<photo>, or a CSV file of identity,uri lines. Crops go
	// to <identity>/ inside the folder, or, for a CSV, to
	// <csv name>-promoted/<identity>/ beside it, with a line each.
	GalleryInput string
	// MaxBytes and MaxPixels bound what is read from each source photo
	// (0: no byte cap; the decoder's default pixel cap).
	MaxBytes  int64
	MaxPixels int
}

// Promoted is what one decision did.
type Promoted struct {
	Decision
	// Files are the crops written, one per face.
	Files []string
	// Skipped says why a face could not be cropped: its photo is gone,
	// changed since identify, or no longer decodes.
	Skipped []string
}

// ParseDecisions reads a CSV of cluster_id,identity lines (a header line
// with those names is allowed).
func ParseDecisions(r io.Reader) ([]Decision, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 2
	cr.TrimLeadingSpace = true
	var out []Decision
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDecisions, err)
		}
		if line == 1 && strings.EqualFold(rec[0], "cluster_id") && strings.EqualFold(rec[1], "identity") {
			continue
		}
		id, err := strconv.ParseInt(strings.TrimSpace(rec[0]), 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("%w: line %d: cluster id %q is not a positive integer", ErrDecisions, line, rec[0])
		}
		out = append(out, Decision{ClusterID: id, Identity: strings.TrimSpace(rec[1])})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no decisions", ErrDecisions)
	}
	return out, nil
}

// CheckIdentity refuses names that cannot be a gallery folder: empty,
// hidden, or holding a path separator or a control character.
func CheckIdentity(name string) error {
	switch {
	case strings.TrimSpace(name) != name || name == "":
		return fmt.Errorf("%w: %q is empty or has surrounding spaces", ErrIdentity, name)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("%w: %q starts with a dot (hidden entries are not read)", ErrIdentity, name)
	case strings.ContainsAny(name, "/\\"):
		return fmt.Errorf("%w: %q holds a path separator", ErrIdentity, name)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%w: %q holds a control character", ErrIdentity, name)
	}
	return nil
}

// Run carries out the decisions. It checks them all (identities, clusters
// present in the results) before writing anything.
func Run(ctx context.Context, cfg Config, decisions []Decision) ([]Promoted, error) {
	for _, d := range decisions {
		if err := CheckIdentity(d.Identity); err != nil {
			return nil, err
		}
	}
	byCluster, err := clusterFaces(ctx, cfg.Results, decisions)
	if err != nil {
		return nil, err
	}
	for _, d := range decisions {
		if len(byCluster[d.ClusterID]) == 0 {
			return nil, fmt.Errorf("%w: %s has no face in cluster %d", ErrNoCluster, cfg.Results, d.ClusterID)
		}
	}
	dec, err := decoder.New(cfg.MaxPixels)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	csvSource := strings.HasSuffix(strings.ToLower(cfg.GalleryInput), ".csv")
	root := strings.TrimSuffix(cfg.GalleryInput, "/")
	if csvSource {
		root = strings.TrimSuffix(root, path.Ext(root)) + "-promoted"
	}
	var out []Promoted
	var lines [][2]string // identity, uri: for a CSV source
	for _, d := range decisions {
		p := Promoted{Decision: d}
		faces := byCluster[d.ClusterID]
		slices.SortFunc(faces, func(a, b results.Row) int {
			return cmp.Or(cmp.Compare(a.ImageURI, b.ImageURI), cmp.Compare(*a.FaceIndex, *b.FaceIndex))
		})
		for start := 0; start < len(faces); {
			end := start + 1
			for end < len(faces) && faces[end].ImageURI == faces[start].ImageURI {
				end++
			}
			written, skipped, err := cropPhoto(ctx, dec, cfg.MaxBytes, faces[start:end], files.Join(root, d.Identity))
			if err != nil {
				return out, err
			}
			p.Files, p.Skipped = append(p.Files, written...), append(p.Skipped, skipped...)
			for _, f := range written {
				lines = append(lines, [2]string{d.Identity, f})
			}
			start = end
		}
		out = append(out, p)
	}
	if csvSource && len(lines) > 0 {
		if err := appendCSV(ctx, cfg.GalleryInput, lines); err != nil {
			return out, err
		}
	}
	return out, nil
}

// clusterFaces reads the unknown faces of the decided clusters from the
// results table. The table is streamed and only those faces kept, without
// the embeddings and candidates a crop does not need: a run's table can be
// far bigger than memory, a few clusters' faces are not.
func clusterFaces(ctx context.Context, table string, decisions []Decision) (map[int64][]results.Row, error) {
	byCluster := map[int64][]results.Row{}
	for _, d := range decisions {
		byCluster[d.ClusterID] = nil
	}
	err := tables.Scan(ctx, table, func(rows []results.Row) error {
		for _, r := range rows {
			if r.ClusterID == nil || r.FaceIndex == nil || r.Status != results.StatusOK || r.Identity != nil {
				continue
			}
			if faces, ok := byCluster[*r.ClusterID]; ok {
				r.Embedding, r.Candidates = nil, nil
				byCluster[*r.ClusterID] = append(faces, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("promote: results %s: %w", table, err)
	}
	return byCluster, nil
}

// cropPhoto writes the crops of one photo's faces into dir. A photo that
// cannot be read back as it was becomes skip reasons; only a failed write
// is an error.
func cropPhoto(ctx context.Context, dec *decoder.Decoder, maxBytes int64, faces []results.Row, dir string) (written, skipped []string, err error) {
	uri := faces[0].ImageURI
	skipAll := func(why string) ([]string, []string, error) {
		for _, f := range faces {
			skipped = append(skipped, fmt.Sprintf("%s face %d: %s", uri, *f.FaceIndex, why))
		}
		return nil, skipped, nil
	}
	data, err := files.Read(ctx, uri, maxBytes)
	if err != nil {
		return skipAll(err.Error())
	}
	sum := sha256Hex(data)
	if faces[0].ImageSHA256 == nil || *faces[0].ImageSHA256 != sum {
		return skipAll("the photo changed since identify read it")
	}
	img, _, err := dec.Decode(data)
	if err != nil {
		return skipAll(err.Error())
	}
	for _, f := range faces {
		if f.BoxX == nil || f.BoxY == nil || f.BoxW == nil || f.BoxH == nil {
			skipped = append(skipped, fmt.Sprintf("%s face %d: no box", uri, *f.FaceIndex))
			continue
		}
		box := image.Rect(int(*f.BoxX), int(*f.BoxY), int(*f.BoxX+*f.BoxW), int(*f.BoxY+*f.BoxH))
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, detector.Crop(img, box, Margin), &jpeg.Options{Quality: jpegQuality}); err != nil {
			return written, skipped, fmt.Errorf("promote: encoding a crop of %s: %w", uri, err)
		}
		name := files.Join(dir, fmt.Sprintf("promoted-%s-%d.jpg", sum[:16], *f.FaceIndex))
		if err := files.Write(ctx, name, buf.Bytes()); err != nil {
			return written, skipped, fmt.Errorf("promote: %w", err)
		}
		written = append(written, name)
	}
	return written, skipped, nil
}

// appendCSV adds the identity,uri lines the CSV does not hold yet.
func appendCSV(ctx context.Context, uri string, lines [][2]string) error {
	data, err := files.Read(ctx, uri, 256<<20)
	if err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	have := map[[2]string]bool{}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	recs, err := r.ReadAll()
	if err != nil {
		return fmt.Errorf("promote: %s: %w", uri, err)
	}
	for _, rec := range recs {
		if len(rec) == 2 {
			have[[2]string{rec[0], rec[1]}] = true
		}
	}
	var buf bytes.Buffer
	buf.Write(data)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		buf.WriteByte('\n')
	}
	w := csv.NewWriter(&buf)
	for _, l := range lines {
		if !have[l] {
			have[l] = true
			w.Write(l[:])
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	return files.Write(ctx, uri, buf.Bytes())
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
