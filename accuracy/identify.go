package accuracy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/evaluation"
	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/report/html"
)

// How the unknown-person false accept rate was measured
// (IdentifySummary.UnknownMethod).
const (
	// MethodUnknownProbes: probes whose identity is not in the gallery.
	MethodUnknownProbes = "unknown_probes"
	// MethodLeaveOneOut: the probe set has no unknown person, so each
	// gallery identity in turn is removed from the gallery and its probes
	// are searched against the rest.
	MethodLeaveOneOut = "leave_one_identity_out"
)

// Kinds of Confusion.
const (
	KindMisidentified   = "misidentified"
	KindRejected        = "rejected"
	KindUnknownAccepted = "unknown_accepted"
)

// maxRank is the largest rank-k rate reported.
const maxRank = 5

// IdentifyConfig is an identification run: a probe set searched against a
// gallery.
type IdentifyConfig struct {
	Model ModelConfig
	// GalleryDir holds the known people, as <Identity>/<photo> or
	// <Identity>.jpg (gallery.ScanDir).
	GalleryDir string
	// ProbesDir holds the photos to identify, as <Identity>/<photo>;
	// identities the gallery lacks are unknown people.
	ProbesDir string
	// Limit keeps the first Limit probes of each identity; 0 keeps them all.
	Limit int
	// EnrolMean enrols each identity as the mean of its photos' unit
	// encodings, renormalised, instead of every photo.
	EnrolMean bool
	// TargetFPIR is the share of strangers named as someone to choose the
	// open-set threshold for, in (0, 1).
	TargetFPIR float64
	// GallerySizes are smaller galleries to score as well, each a fixed
	// sample of that many identities; the probes of the identities left out
	// are strangers.
	GallerySizes []int
	// Margins are the margin rules scored beside the nearest identity: a
	// search is accepted only when the runner-up is this much further.
	Margins []float64
}

// IdentifySummary is the outcome of Identify, written as summary.json.
type IdentifySummary struct {
	Mode              string `json:"mode"`
	Gallery           string `json:"gallery"`
	Probes            string `json:"probes"`
	GalleryPhotos     int    `json:"gallery_photos"`
	GalleryIdentities int    `json:"gallery_identities"`
	// GalleryNoFace photos are left out of the gallery, as the gallery job
	// rejects them.
	GalleryNoFace   int `json:"gallery_photos_without_face"`
	ProbeCount      int `json:"probe_count"`
	ProbeIdentities int `json:"probe_identities"`
	// ProbesNoFace probes are encoded whole, so every probe is scored.
	ProbesNoFace   int    `json:"probes_without_face"`
	EnrolledProbes int    `json:"enrolled_probes"`
	UnknownProbes  int    `json:"unknown_probes"`
	Profile        string `json:"profile"`
	Flip           bool   `json:"flip"`
	// EnrolMean: each identity enrolled as the mean of its photos.
	EnrolMean bool    `json:"enrol_mean"`
	Detector  string  `json:"detector"`
	ModelID   string  `json:"model_id"`
	Precision string  `json:"precision"`
	Threshold float64 `json:"threshold"`
	// Rank1 and RankRates (ranks 1 to 5) are closed-set rates over the
	// enrolled probes: the right identity among the k nearest, at any
	// distance.
	Rank1     float64   `json:"rank1_rate"`
	RankRates []float64 `json:"rank_rates"`
	// At the threshold: right and accepted, accepted as someone else, or
	// not accepted.
	IdentifiedRate float64 `json:"identification_rate_at_threshold"`
	Identified     int     `json:"identified"`
	Misidentified  int     `json:"misidentified"`
	Rejected       int     `json:"rejected"`
	// Unknown people accepted as someone, measured as UnknownMethod says.
	UnknownMethod   string  `json:"unknown_method"`
	UnknownTrials   int     `json:"unknown_trials"`
	UnknownAccepted int     `json:"unknown_accepted"`
	UnknownFAR      float64 `json:"unknown_false_accept_rate"`
	// Confusions lists every error: misidentified and rejected enrolled
	// probes, accepted unknown ones.
	Confusions []Confusion `json:"confusions"`
	// Distances of enrolled probes to their own identity (genuine) and of
	// unknown trials to their nearest identity.
	GenuineHistogram []int   `json:"genuine_distance_histogram"`
	UnknownHistogram []int   `json:"unknown_distance_histogram"`
	HistogramMax     float64 `json:"histogram_range_max"`
	// OpenSet is FNIR at fixed FPIRs, with the thresholds that give them,
	// for the whole gallery and the sampled sizes.
	OpenSet *OpenSetSummary `json:"open_set,omitempty"`
	// searched is how many encodings the gallery searched holds: its photos
	// with a face, or one mean per identity.
	searched int
}

// Confusion is one identification error.
type Confusion struct {
	Probe    string `json:"probe"`
	Identity string `json:"identity"`
	// Nearest is the nearest gallery identity and Distance its distance.
	Nearest  string  `json:"nearest"`
	Distance float64 `json:"distance"`
	Accepted bool    `json:"accepted"`
	Kind     string  `json:"kind"`
	// IdentityDistance is the distance to the probe's own identity, when
	// the gallery searched holds it.
	IdentityDistance *float64 `json:"identity_distance,omitempty"`
	// Without names the identity left out of the gallery for a
	// leave-one-identity-out trial.
	Without string `json:"gallery_without,omitempty"`
	probe   int
}

// galleryPhoto is one encoded gallery photo.
type galleryPhoto struct {
	gallery.Photo
	emb []float32
}

// Identify measures 1:N identification: every probe is searched against
// the gallery, and the unknown-person rate comes from the probes of people
// the gallery lacks or, when there are none, from leaving each identity out
// of the gallery in turn. The page shows every error (up to a bound) beside
// the gallery photos it was matched with.
func Identify(ctx context.Context, cfg IdentifyConfig) (*IdentifySummary, *html.Page, error) {
	galPhotos, err := gallery.ScanDir(cfg.GalleryDir)
	if err != nil {
		return nil, nil, err
	}
	probes, err := gallery.ScanDir(cfg.ProbesDir)
	if err != nil {
		return nil, nil, err
	}
	probes = limitProbes(probes, cfg.Limit)
	m, err := openModel(cfg.Model)
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	r, err := encodeSearch(ctx, m, cfg, galPhotos, probes)
	if err != nil {
		return nil, nil, err
	}
	if err := r.searchAll(); err != nil {
		return nil, nil, err
	}
	if err := r.score(cfg); err != nil {
		return nil, nil, err
	}
	page, err := identifyPage(m, r.sum, r.gal, r.probeEmbs)
	if err != nil {
		return nil, nil, err
	}
	return r.sum, page, nil
}

// search is one identification run: the encoded gallery and probes, and
// what searching them gave.
type search struct {
	sum        *IdentifySummary
	threshold  float64
	gal        []galleryPhoto
	full       *matcher.Gallery // every identity of gal
	enrolled   map[string]bool  // the identities of full
	probes     []gallery.Photo
	probeEmbs  [][]float32
	probeFound []bool
	trials     []evaluation.Trial
	// genuine are the enrolled probes' distances to their own identity,
	// unknown the unknown trials' to their nearest.
	genuine, unknown []float64
}

// encodeSearch encodes the gallery and the probes and builds the gallery
// searched. It leaves out the gallery photos without a face, as the gallery
// job does; detector none takes each whole photo as the face.
func encodeSearch(ctx context.Context, m *model, cfg IdentifyConfig, galPhotos, probes []gallery.Photo) (*search, error) {
	embs, found, err := m.encodeFiles(ctx, photoPaths(galPhotos))
	if err != nil {
		return nil, err
	}
	r := &search{threshold: m.threshold, probes: probes}
	for i, p := range galPhotos {
		if found[i] || m.detector == "none" {
			r.gal = append(r.gal, galleryPhoto{Photo: p, emb: embs[i]})
		}
	}
	// Counted before the mean folds each identity's photos into one entry.
	noFace := len(galPhotos) - len(r.gal)
	if cfg.EnrolMean {
		if r.gal, err = meanGallery(r.gal); err != nil {
			return nil, err
		}
	}
	if r.probeEmbs, r.probeFound, err = m.encodeFiles(ctx, photoPaths(probes)); err != nil {
		return nil, err
	}
	if r.full, err = buildGallery(r.gal, m.threshold, ""); err != nil {
		return nil, err
	}
	r.enrolled = map[string]bool{}
	for _, id := range r.full.Identities() {
		r.enrolled[id] = true
	}
	r.sum = &IdentifySummary{
		Mode: "identification", Gallery: cfg.GalleryDir, Probes: cfg.ProbesDir,
		GalleryPhotos: len(galPhotos), GalleryIdentities: len(r.enrolled), GalleryNoFace: noFace,
		ProbeCount: len(probes), ProbeIdentities: countIdentities(probes),
		Profile: m.profile, Flip: m.enc.Profile().Flip, EnrolMean: cfg.EnrolMean, Detector: m.detector, ModelID: m.enc.ModelID(), Precision: m.precision, Threshold: m.threshold,
		HistogramMax: 2, searched: len(r.gal),
	}
	return r, nil
}

// searchAll searches every probe in the whole gallery and, when no probe is
// of an unknown person, each enrolled identity's probes in the gallery
// without it.
func (r *search) searchAll() error {
	for i, p := range r.probes {
		if !r.probeFound[i] {
			r.sum.ProbesNoFace++
		}
		if r.enrolled[p.Identity] {
			r.sum.EnrolledProbes++
		} else {
			r.sum.UnknownProbes++
		}
		if err := r.searchProbe(r.full, i, ""); err != nil {
			return err
		}
	}
	r.sum.UnknownMethod = MethodUnknownProbes
	if r.sum.UnknownProbes > 0 {
		return nil
	}
	r.sum.UnknownMethod = MethodLeaveOneOut
	for _, left := range r.full.Identities() {
		g, err := buildGallery(r.gal, r.threshold, left)
		if errors.Is(err, matcher.ErrEmptyGallery) {
			continue // a one-identity gallery leaves nothing to search
		}
		if err != nil {
			return err
		}
		for i, p := range r.probes {
			if p.Identity == left {
				if err := r.searchProbe(g, i, left); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// searchProbe records the search of probe i in g, which lacks identity
// without if that is set.
func (r *search) searchProbe(g *matcher.Gallery, i int, without string) error {
	id, err := g.Identify(r.probeEmbs[i], len(g.Identities()))
	if err != nil {
		return fmt.Errorf("%s: %w", r.probes[i].Path, err)
	}
	t := evaluation.Trial{Identity: r.probes[i].Identity, Enrolled: without == "" && r.enrolled[r.probes[i].Identity], Ranked: ranked(id)}
	r.trials = append(r.trials, t)
	c := Confusion{Probe: r.probes[i].Path, Identity: t.Identity, Nearest: id.Identity, Distance: id.Distance,
		Accepted: id.Accepted, Without: without, probe: i}
	for _, rk := range t.Ranked {
		if rk.Identity == t.Identity {
			c.IdentityDistance = &rk.Distance
		}
	}
	switch {
	case !t.Enrolled:
		r.unknown = append(r.unknown, id.Distance)
		if id.Accepted {
			c.Kind = KindUnknownAccepted
		}
	case c.IdentityDistance != nil:
		r.genuine = append(r.genuine, *c.IdentityDistance)
		if !id.Accepted {
			c.Kind = KindRejected
		} else if id.Identity != t.Identity {
			c.Kind = KindMisidentified
		}
	}
	if c.Kind != "" {
		r.sum.Confusions = append(r.sum.Confusions, c)
	}
	return nil
}

// score fills the summary's rates, histograms and open-set measures from
// the searches made.
func (r *search) score(cfg IdentifyConfig) error {
	res, err := evaluation.Identification(r.trials, r.threshold, maxRank)
	if err != nil {
		return err
	}
	s := r.sum
	s.Rank1, s.RankRates = res.RankRate[0], res.RankRate
	s.IdentifiedRate, s.Identified = res.DetectionRate, res.Correct
	s.Misidentified, s.Rejected = res.Misidentified, res.Rejected
	s.UnknownTrials, s.UnknownAccepted, s.UnknownFAR = res.Unknown, res.UnknownAccepted, res.UnknownFAR
	s.GenuineHistogram = evaluation.Histogram(r.genuine, 0, 2, 40)
	s.UnknownHistogram = evaluation.Histogram(r.unknown, 0, 2, 40)
	s.OpenSet, err = r.openSet(cfg)
	return err
}

// ranked is a search's candidates as the evaluation scores them.
func ranked(id matcher.Identification) []evaluation.Ranked {
	out := make([]evaluation.Ranked, len(id.Candidates))
	for i, c := range id.Candidates {
		out[i] = evaluation.Ranked{Identity: c.Identity, Distance: c.Distance}
	}
	return out
}

// buildGallery makes a matcher gallery of the photos, leaving out one
// identity if without is set.
func buildGallery(photos []galleryPhoto, threshold float64, without string) (*matcher.Gallery, error) {
	g, err := matcher.NewGallery(threshold)
	if err != nil {
		return nil, err
	}
	for _, p := range photos {
		if p.Identity == without {
			continue
		}
		if err := g.Add(p.Identity, p.emb); err != nil {
			return nil, fmt.Errorf("%s: %w", p.Path, err)
		}
	}
	if g.Len() == 0 {
		return nil, fmt.Errorf("%w: no gallery photo with a face", matcher.ErrEmptyGallery)
	}
	return g, nil
}

// meanGallery is one entry per identity, the mean of its photos' unit
// encodings renormalised, shown on the report as its first photo.
func meanGallery(gal []galleryPhoto) ([]galleryPhoto, error) {
	var out []galleryPhoto
	at := map[string]int{}
	for _, p := range gal {
		i, ok := at[p.Identity]
		if !ok {
			at[p.Identity] = len(out)
			out = append(out, galleryPhoto{Photo: p.Photo, emb: slices.Clone(p.emb)})
			continue
		}
		for k, v := range p.emb {
			out[i].emb[k] += v
		}
	}
	for i := range out {
		if err := encoder.Normalize(out[i].emb); err != nil {
			return nil, fmt.Errorf("the mean of %s's photos: %w", out[i].Identity, err)
		}
	}
	return out, nil
}

// nearestPhoto is identity's gallery photo nearest to emb.
func nearestPhoto(gal []galleryPhoto, identity string, emb []float32) (galleryPhoto, float64, bool) {
	var best galleryPhoto
	bestD, ok := math.Inf(1), false
	for _, p := range gal {
		if p.Identity != identity {
			continue
		}
		if d := matcher.Distance(emb, p.emb); d < bestD {
			best, bestD, ok = p, d, true
		}
	}
	return best, bestD, ok
}

// limitProbes keeps the first n photos of each identity.
func limitProbes(photos []gallery.Photo, n int) []gallery.Photo {
	if n <= 0 {
		return photos
	}
	kept := map[string]int{}
	var out []gallery.Photo
	for _, p := range photos {
		if kept[p.Identity] < n {
			kept[p.Identity]++
			out = append(out, p)
		}
	}
	return out
}

func photoPaths(photos []gallery.Photo) []string {
	paths := make([]string, len(photos))
	for i, p := range photos {
		paths[i] = p.Path
	}
	return paths
}

func countIdentities(photos []gallery.Photo) int {
	seen := map[string]bool{}
	for _, p := range photos {
		seen[p.Identity] = true
	}
	return len(seen)
}
