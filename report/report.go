// Package report builds the HTML report of one identify run from its
// tables: the results table, the gallery table it was matched against and,
// when identify clustered the unknown faces, the clusters table. Tables are
// read through packages tables and files, so a run on local disk and one on
// gs:// (a Dataflow run) report alike; face thumbnails are cropped from the
// original photos (image_uri and box columns), read the same way.
package report

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"

	"github.com/facebatch/facebatch/charts"
	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/report/html"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

// Defaults of Options.
const (
	DefaultStrip = 12
	// DefaultIdentities bounds the identity strips, so a run over a large
	// gallery still gives a page a browser opens.
	DefaultIdentities = 100
	DefaultRisky      = 8
	DefaultClusters   = 30
	DefaultExamples   = 6
	// DefaultMaxBytes caps each photo read for a thumbnail, as identify's
	// --max-bytes does.
	DefaultMaxBytes = 64 << 20
)

// ClustersSuffix names the clusters table beside the results table:
// <results>_clusters.
const ClustersSuffix = "_clusters"

// ErrNoResults means the results folder holds no complete results table.
var ErrNoResults = errors.New("report: no complete results table")

// Options say what to report on.
type Options struct {
	// Results is the results table folder or gs:// prefix.
	Results string
	// Gallery is the gallery table the run matched against. The results
	// record only its version, not its location, so without it the report
	// shows no gallery photos (and says so).
	Gallery string
	// Clusters is the clusters table; default Results + "_clusters".
	Clusters string
	// Strip is the most faces shown per identity and MaxIdentities the
	// most identities (those with the most faces); Risky the most
	// near-threshold matches, and again unknowns; MaxClusters the most
	// clusters and Examples the faces shown per cluster besides its medoid.
	Strip, MaxIdentities, Risky, MaxClusters, Examples int
	// MaxBytes caps each photo read.
	MaxBytes int64
}

func (o *Options) defaults() {
	if o.Strip <= 0 {
		o.Strip = DefaultStrip
	}
	if o.MaxIdentities <= 0 {
		o.MaxIdentities = DefaultIdentities
	}
	if o.Risky <= 0 {
		o.Risky = DefaultRisky
	}
	if o.MaxClusters <= 0 {
		o.MaxClusters = DefaultClusters
	}
	if o.Examples <= 0 {
		o.Examples = DefaultExamples
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Clusters == "" {
		o.Clusters = strings.TrimSuffix(o.Results, "/") + ClustersSuffix
	}
}

// Summary is what the report counts, from the rows themselves.
type Summary struct {
	RunIDs  []string
	Rows    int
	Images  int
	Faces   int
	Matched int
	Unknown int
	// ByStatus counts images by status: an image's status is that of its
	// row without a face, or of its first face's row (ok, or encode_error
	// where the model failed on that face).
	ByStatus   map[string]int
	Identities map[string]int // matched faces per identity
	// Thresholds, ModelIDs, Profiles, GalleryVersions, Detectors list the
	// distinct values in the rows (one each for a single run).
	Thresholds      []float64
	ModelIDs        []string
	Profiles        []string
	GalleryVersions []string
	Detectors       []string
	// Clustered reports whether a clusters table was found; Clusters
	// counts its rows.
	Clustered bool
	Clusters  int
	// Marker is the table's _SUCCESS content.
	Marker *tables.Marker
}

// Build reads the run's tables and returns the report page and its counts.
// It reads the results table in one pass, keeping counts and the few rows
// each section shows, so that its memory does not grow with the table.
func Build(ctx context.Context, opt Options) (*html.Page, *Summary, error) {
	opt.defaults()
	marker, err := tables.ReadMarker(ctx, opt.Results)
	if err != nil {
		return nil, nil, fmt.Errorf("%w at %s: %v", ErrNoResults, opt.Results, err)
	}
	var galRows []gallery.Row
	var galManifest *gallery.Manifest
	if opt.Gallery != "" {
		if galManifest, err = gallery.ReadManifest(ctx, opt.Gallery); err != nil {
			return nil, nil, err
		}
		if galRows, err = tables.ReadAll[gallery.Row](ctx, opt.Gallery); err != nil {
			return nil, nil, fmt.Errorf("report: gallery: %w", err)
		}
	}
	// The clusters come first: the pass over the results keeps the faces
	// of those shown only.
	var clusters []results.ClusterRow
	clustered, clusterCount := false, 0
	if ok, err := files.Exists(ctx, files.Join(opt.Clusters, tables.MarkerFile)); err != nil {
		return nil, nil, fmt.Errorf("report: clusters: %w", err)
	} else if ok {
		if clusters, clusterCount, err = largestClusters(ctx, opt.Clusters, opt.MaxClusters); err != nil {
			return nil, nil, err
		}
		clustered = true
	}
	t := newTally(opt, clusters)
	err = tables.Scan(ctx, opt.Results, func(rows []results.Row) error {
		for i := range rows {
			t.add(&rows[i])
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("report: %w", err)
	}
	sum := t.summary()
	sum.Marker = marker
	sum.Clustered, sum.Clusters = clustered, clusterCount

	b := &builder{opt: opt, sum: sum, tally: t, gal: galRows, galManifest: galManifest, clusters: clusters,
		thumbs: newThumbnailer(opt.MaxBytes)}
	defer b.thumbs.Close()
	page, err := b.page(ctx)
	if err != nil {
		return nil, nil, err
	}
	return page, sum, nil
}

type set map[string]bool

func (s set) add(v string) { s[v] = true }

func (s set) sorted() []string {
	out := make([]string, 0, len(s))
	for v := range s {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// builder holds what the sections are made from.
type builder struct {
	opt         Options
	sum         *Summary
	tally       *tally
	gal         []gallery.Row
	galManifest *gallery.Manifest
	clusters    []results.ClusterRow // those shown, in order
	thumbs      *thumbnailer
}

func (b *builder) page(ctx context.Context) (*html.Page, error) {
	// Every picture is requested first, then the photos are read and
	// decoded once each.
	identities := b.identitySection()
	risky := b.riskySection()
	clusters := b.clusterSection()
	problems := b.problemSection()
	if err := b.thumbs.Load(ctx); err != nil {
		return nil, err
	}
	s := b.sum
	return &html.Page{
		Title: "facebatch run report",
		Subtitle: fmt.Sprintf("run %s; results %s; model %s%s, profile %s, gallery %s",
			strings.Join(s.RunIDs, ", "), b.opt.Results, strings.Join(s.ModelIDs, ", "), precisionNote(s.Marker), strings.Join(s.Profiles, ", "), strings.Join(s.GalleryVersions, ", ")),
		Sections: []html.Section{
			b.summarySection(),
			b.distanceSection(),
			b.thumbs.resolve(identities),
			b.thumbs.resolve(risky),
			b.thumbs.resolve(clusters),
			b.thumbs.resolve(problems),
		},
	}, nil
}

// precisionNote names the encodings' precision after the model, as
// " (bf16)", when the marker records it (tables written before it did
// not).
func precisionNote(m *tables.Marker) string {
	if m == nil || m.Precision == "" {
		return ""
	}
	return " (" + m.Precision + ")"
}

func (b *builder) summarySection() html.Section {
	s := b.sum
	thresholds := make([]string, len(s.Thresholds))
	for i, t := range s.Thresholds {
		thresholds[i] = fmt.Sprint(t)
	}
	stats := []html.Stat{
		{Key: "run_id", Label: "run", Value: strings.Join(s.RunIDs, ", ")},
		{Key: "images", Label: "images", Value: fmt.Sprint(s.Images)},
	}
	statuses := make([]string, 0, len(s.ByStatus))
	for st := range s.ByStatus {
		statuses = append(statuses, st)
	}
	sort.Strings(statuses)
	for _, st := range statuses {
		stats = append(stats, html.Stat{Key: "status_" + st, Label: "images " + st, Value: fmt.Sprint(s.ByStatus[st])})
	}
	stats = append(stats,
		html.Stat{Key: "faces", Label: "faces", Value: fmt.Sprint(s.Faces)},
		html.Stat{Key: "matched", Label: "matched", Value: fmt.Sprint(s.Matched)},
		html.Stat{Key: "unknown", Label: "unknown", Value: fmt.Sprint(s.Unknown)},
		html.Stat{Key: "identities", Label: "identities seen", Value: fmt.Sprint(len(s.Identities))},
		html.Stat{Key: "threshold", Label: "threshold", Value: strings.Join(thresholds, ", ")},
		html.Stat{Key: "model_id", Label: "model", Value: strings.Join(s.ModelIDs, ", ")},
		html.Stat{Key: "profile", Label: "profile", Value: strings.Join(s.Profiles, ", ")},
		html.Stat{Key: "detector", Label: "detector", Value: strings.Join(s.Detectors, ", ")},
		html.Stat{Key: "gallery_version", Label: "gallery version", Value: strings.Join(s.GalleryVersions, ", ")},
	)
	if m := s.Marker; m != nil {
		stats = append(stats, html.Stat{Key: "completed_at", Label: "completed", Value: m.CompletedAt.UTC().Format("2006-01-02 15:04:05 UTC")})
	}
	var notes []string
	if m := s.Marker; m != nil && (m.Images != int64(s.Images) || m.Faces != int64(s.Faces) || m.Matched != int64(s.Matched) || m.Unknown != int64(s.Unknown)) {
		notes = append(notes, fmt.Sprintf("The table's _SUCCESS marker counts differ from its rows (marker: %d images, %d faces, %d matched, %d unknown): the numbers here are the rows'.",
			m.Images, m.Faces, m.Matched, m.Unknown))
	}
	if len(s.RunIDs) > 1 {
		notes = append(notes, "The table holds rows of several runs.")
	}
	if g := b.galManifest; g != nil && g.SubjectKept > 0 {
		notes = append(notes, fmt.Sprintf("Of the gallery's %d reference photos, %d showed several faces and kept the one they are of (the others are counted in its ignored_faces column).", g.Photos, g.SubjectKept))
	}
	return html.Section{ID: "summary", Title: "Run summary", Stats: stats, Note: strings.Join(notes, " "),
		Empty: "the results table is empty"}
}

func (b *builder) distanceSection() html.Section {
	h := charts.Histogram{
		Title: "Distance of each face to its nearest gallery identity", XLabel: "L2 distance between unit encodings",
		Min: 0, Max: distanceMax,
		Series: []charts.Series{
			{Name: "matched", Color: "#2e7d32", Counts: b.tally.distances[0][:]},
			{Name: "unknown", Color: "#c62828", Counts: b.tally.distances[1][:]},
		},
	}
	for _, t := range b.sum.Thresholds {
		h.Markers = append(h.Markers, charts.Marker{Label: fmt.Sprintf("threshold %g", t), Value: t, Color: "#263238"})
	}
	sec := html.Section{ID: "distances", Title: "Match distances", Empty: "no faces were matched against the gallery"}
	if b.tally.distanced > 0 {
		sec.Charts = []template.HTML{h.SVG()}
	}
	return sec
}

func (b *builder) identitySection() pending {
	byID := b.tally.identities
	names := make([]string, 0, len(byID))
	for n := range byID {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if byID[names[i]].n != byID[names[j]].n {
			return byID[names[i]].n > byID[names[j]].n
		}
		return names[i] < names[j]
	})
	sec := pending{Section: html.Section{ID: "identities", Title: "Identities",
		Note:  fmt.Sprintf("The faces matched to each identity, nearest first (at most %d each), with their distances.", b.opt.Strip),
		Empty: "no face was matched"}}
	if len(names) > b.opt.MaxIdentities {
		sec.Note += fmt.Sprintf(" The %d identities with the most faces, of %d.", b.opt.MaxIdentities, len(names))
		names = names[:b.opt.MaxIdentities]
	}
	for _, n := range names {
		id := byID[n]
		g := pendingGroup{Title: n + ": " + count(id.n, "face")}
		if id.n > b.opt.Strip {
			g.Note = fmt.Sprintf("the nearest %d of %d", b.opt.Strip, id.n)
		}
		for _, k := range id.top.sorted() {
			g.Faces = append(g.Faces, b.faceThumb(&k.row, fmt.Sprintf("%.3f", *k.row.Distance)))
		}
		sec.Groups = append(sec.Groups, g)
	}
	return sec
}

func (b *builder) riskySection() pending {
	note := "The riskiest labels: the matches closest under the threshold, and the unknown faces closest above it, each beside the gallery photo of the identity it is nearest to."
	if b.opt.Gallery == "" {
		note += " The results record the gallery's version but not its location: pass --gallery to show the gallery photos."
	} else if b.galManifest != nil && !contains(b.sum.GalleryVersions, b.galManifest.Version) {
		note += fmt.Sprintf(" Warning: the gallery at %s is version %s, but the results were matched against %s: its photos may not be the ones matched.",
			b.opt.Gallery, b.galManifest.Version, strings.Join(b.sum.GalleryVersions, ", "))
	}
	sec := pending{Section: html.Section{ID: "near-threshold", Title: "Near the threshold", Note: note, Empty: "no faces"}}
	for _, k := range b.tally.near.sorted() {
		r := &k.row
		sec.Groups = append(sec.Groups, b.riskyGroup(r, *r.Identity,
			fmt.Sprintf("matched %s: %.3f, %.3f under the threshold", *r.Identity, *r.Distance, r.Threshold-*r.Distance)))
	}
	for _, k := range b.tally.unknown.sorted() {
		r := &k.row
		nearest := ""
		if len(r.Candidates) > 0 {
			nearest = r.Candidates[0].Identity
		}
		sec.Groups = append(sec.Groups, b.riskyGroup(r, nearest,
			fmt.Sprintf("unknown: nearest %s at %.3f, %.3f over the threshold", nearest, *r.Distance, *r.Distance-r.Threshold)))
	}
	return sec
}

func (b *builder) riskyGroup(r *results.Row, identity, title string) pendingGroup {
	g := pendingGroup{Title: title, Class: "warn", Note: fmt.Sprintf("%s face %d", files.Base(r.ImageURI), *r.FaceIndex)}
	if !r.Accepted {
		g.Class = ""
	}
	g.Faces = append(g.Faces, b.faceThumb(r, "face"))
	if b.opt.Gallery != "" && identity != "" {
		if p, how := b.galleryPhoto(identity, r.Embedding); p != nil {
			g.Faces = append(g.Faces, b.thumbs.request(p.ImageURI, galleryBox(p), "gallery: "+identity+" ("+how+")", p.ImageURI))
		}
	}
	return g
}

// galleryPhoto picks identity's gallery photo to show beside a face: the
// nearest one when both have embeddings (identify's --with-embeddings),
// else the first by URI.
func (b *builder) galleryPhoto(identity string, emb []float32) (*gallery.Row, string) {
	var best *gallery.Row
	bestD, n := math.Inf(1), 0
	for i := range b.gal {
		p := &b.gal[i]
		if p.Identity != identity || p.Status != gallery.StatusOK {
			continue
		}
		n++
		if len(emb) > 0 && len(emb) == len(p.Embedding) {
			if d := matcher.Distance(emb, p.Embedding); d < bestD {
				best, bestD = p, d
			}
		} else if best == nil || p.ImageURI < best.ImageURI {
			best = p
		}
	}
	switch {
	case best == nil:
		return nil, ""
	case !math.IsInf(bestD, 1):
		return best, fmt.Sprintf("nearest photo, %.3f", bestD)
	case n == 1:
		return best, "its photo"
	default:
		return best, fmt.Sprintf("1 of %d photos", n)
	}
}

func galleryBox(p *gallery.Row) *box {
	if p.BoxX == nil || p.BoxY == nil || p.BoxW == nil || p.BoxH == nil {
		return nil
	}
	return &box{*p.BoxX, *p.BoxY, *p.BoxW, *p.BoxH}
}

func (b *builder) clusterSection() pending {
	sec := pending{Section: html.Section{ID: "clusters", Title: "Unknown clusters", Empty: "no clustering in this run"}}
	if !b.sum.Clustered {
		return sec
	}
	sec.Empty = "clustering ran but found no unknown faces"
	sec.Note = fmt.Sprintf("Unknown faces that look like one person, largest first: the medoid (the face nearest the others), then other faces of the cluster (at most %d).", b.opt.Examples)
	if b.sum.Clusters > b.opt.MaxClusters {
		sec.Note += fmt.Sprintf(" The %d largest of %d clusters.", b.opt.MaxClusters, b.sum.Clusters)
	}
	for _, c := range b.clusters {
		g := pendingGroup{Title: fmt.Sprintf("cluster %d: %s", c.ClusterID, count(int(c.Size), "face"))}
		if c.FirstSeen != nil && c.LastSeen != nil {
			g.Note = "seen " + formatMillis(*c.FirstSeen) + " to " + formatMillis(*c.LastSeen)
		}
		g.Faces = append(g.Faces, b.thumbs.request(c.MedoidImageURI,
			&box{c.MedoidBoxX, c.MedoidBoxY, c.MedoidBoxW, c.MedoidBoxH}, "medoid", c.MedoidImageURI))
		// Other faces: the example images' faces first, in the table's
		// order, then any other member.
		for _, k := range b.tally.clusters[c.ClusterID].top.sorted() {
			g.Faces = append(g.Faces, b.faceThumb(&k.row, fmt.Sprintf("nearest %s", nearestCaption(&k.row))))
		}
		sec.Groups = append(sec.Groups, g)
	}
	return sec
}

func nearestCaption(r *results.Row) string {
	if len(r.Candidates) == 0 || r.Distance == nil {
		return "-"
	}
	return fmt.Sprintf("%s %.3f", r.Candidates[0].Identity, *r.Distance)
}

// problemSection shows the images that gave no face: no face found, or a
// status saying why the image was not read.
func (b *builder) problemSection() pending {
	sec := pending{Section: html.Section{ID: "problems", Title: "Images without a face",
		Empty: "every image gave at least one face"}}
	byStatus := b.tally.problems
	statuses := make([]string, 0, len(byStatus))
	for st := range byStatus {
		statuses = append(statuses, st)
	}
	sort.Strings(statuses)
	for _, st := range statuses {
		p := byStatus[st]
		g := pendingGroup{Title: st + ": " + count(p.n, "image")}
		if st != results.StatusNoFace {
			g.Class = "error"
		}
		if p.n > b.opt.Strip {
			g.Note = fmt.Sprintf("the first %d of %d", b.opt.Strip, p.n)
		}
		for _, k := range p.top.sorted() {
			r := &k.row
			caption := files.Base(r.ImageURI)
			if r.Error != nil {
				caption += ": " + *r.Error
			}
			if st == results.StatusNoFace {
				g.Faces = append(g.Faces, b.thumbs.request(r.ImageURI, nil, caption, r.ImageURI))
			} else {
				// The photo could not be read when the run read it; no
				// point trying again.
				g.Faces = append(g.Faces, b.thumbs.unavailable(caption, r.ImageURI))
			}
		}
		sec.Groups = append(sec.Groups, g)
	}
	return sec
}

// faceThumb requests the thumbnail of a results row's face.
func (b *builder) faceThumb(r *results.Row, caption string) pendingFace {
	var bx *box
	if r.BoxX != nil && r.BoxY != nil && r.BoxW != nil && r.BoxH != nil {
		bx = &box{*r.BoxX, *r.BoxY, *r.BoxW, *r.BoxH}
	}
	return b.thumbs.request(r.ImageURI, bx, caption, fmt.Sprintf("%s face %d", r.ImageURI, *r.FaceIndex))
}

// count says "1 face", "2 faces".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
