package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"text/tabwriter"

	"github.com/facebatch/facebatch/charts"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/evaluation"
	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/report"
)

// How the unknown-person false accept rate was measured (summary.json's
// unknown_method).
const (
	// unknownProbes: probes whose identity is not in the gallery.
	unknownProbes = "unknown_probes"
	// leaveOneOut: the probe set has no unknown person, so each gallery
	// identity in turn is removed from the gallery and its probes are
	// searched against the rest.
	leaveOneOut = "leave_one_identity_out"
)

// maxRank is the largest rank-k rate reported.
const maxRank = 5

// maxConfusionGroups bounds the errors shown with pictures on the report;
// summary.json lists them all.
const maxConfusionGroups = 60

// identifySummary is summary.json of the identification (1:N) mode.
type identifySummary struct {
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
	Confusions []confusion `json:"confusions"`
	// Distances of enrolled probes to their own identity (genuine) and of
	// unknown trials to their nearest identity.
	GenuineHistogram []int   `json:"genuine_distance_histogram"`
	UnknownHistogram []int   `json:"unknown_distance_histogram"`
	HistogramMax     float64 `json:"histogram_range_max"`
	// OpenSet is FNIR at fixed FPIRs, with the thresholds that give them,
	// for the whole gallery and the sampled sizes.
	OpenSet *openSetSummary `json:"open_set,omitempty"`
}

// Kinds of confusion.
const (
	kindMisidentified   = "misidentified"
	kindRejected        = "rejected"
	kindUnknownAccepted = "unknown_accepted"
)

// confusion is one identification error.
type confusion struct {
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

// evalIdentify runs the identification mode.
func evalIdentify(ctx context.Context, f evalFlags, stdout io.Writer) error {
	galPhotos, err := gallery.ScanDir(f.gallery)
	if err != nil {
		return err
	}
	probes, err := gallery.ScanDir(f.probes)
	if err != nil {
		return err
	}
	probes = limitProbes(probes, f.limit)
	m, err := openEvalModel(f)
	if err != nil {
		return err
	}
	defer m.Close()

	embs, found, err := m.encodeFiles(ctx, photoPaths(galPhotos))
	if err != nil {
		return err
	}
	var gal []galleryPhoto
	for i, p := range galPhotos {
		if found[i] || m.detector == "none" {
			gal = append(gal, galleryPhoto{Photo: p, emb: embs[i]})
		}
	}
	if f.enrolMean {
		if gal, err = meanGallery(gal); err != nil {
			return err
		}
	}
	probeEmbs, probeFound, err := m.encodeFiles(ctx, photoPaths(probes))
	if err != nil {
		return err
	}
	full, err := buildEvalGallery(gal, m.threshold, "")
	if err != nil {
		return err
	}
	enrolled := map[string]bool{}
	for _, id := range full.Identities() {
		enrolled[id] = true
	}

	sum := &identifySummary{
		Mode: "identification", Gallery: f.gallery, Probes: f.probes,
		GalleryPhotos: len(galPhotos), GalleryIdentities: len(enrolled), GalleryNoFace: len(galPhotos) - len(gal),
		ProbeCount: len(probes), ProbeIdentities: len(identities(probes)),
		Profile: m.profile, Flip: m.enc.Profile().Flip, EnrolMean: f.enrolMean, Detector: m.detector, ModelID: m.enc.ModelID(), Threshold: m.threshold,
		HistogramMax: 2,
	}
	var trials []evaluation.Trial
	var genuine, unknown []float64
	// addTrial records probe i searched in g (which lacks identity without,
	// if set).
	addTrial := func(g *matcher.Gallery, i int, without string) error {
		id, err := g.Identify(probeEmbs[i], len(g.Identities()))
		if err != nil {
			return fmt.Errorf("%s: %w", probes[i].Path, err)
		}
		t := evaluation.Trial{Identity: probes[i].Identity, Enrolled: without == "" && enrolled[probes[i].Identity], Ranked: ranked(id)}
		trials = append(trials, t)
		c := confusion{Probe: probes[i].Path, Identity: t.Identity, Nearest: id.Identity, Distance: id.Distance,
			Accepted: id.Accepted, Without: without, probe: i}
		for _, r := range t.Ranked {
			if r.Identity == t.Identity {
				c.IdentityDistance = &r.Distance
			}
		}
		switch {
		case !t.Enrolled:
			unknown = append(unknown, id.Distance)
			if id.Accepted {
				c.Kind = kindUnknownAccepted
			}
		case c.IdentityDistance != nil:
			genuine = append(genuine, *c.IdentityDistance)
			if !id.Accepted {
				c.Kind = kindRejected
			} else if id.Identity != t.Identity {
				c.Kind = kindMisidentified
			}
		}
		if c.Kind != "" {
			sum.Confusions = append(sum.Confusions, c)
		}
		return nil
	}
	for i, p := range probes {
		if !probeFound[i] {
			sum.ProbesNoFace++
		}
		if enrolled[p.Identity] {
			sum.EnrolledProbes++
		} else {
			sum.UnknownProbes++
		}
		if err := addTrial(full, i, ""); err != nil {
			return err
		}
	}
	sum.UnknownMethod = unknownProbes
	if sum.UnknownProbes == 0 {
		sum.UnknownMethod = leaveOneOut
		for _, left := range full.Identities() {
			g, err := buildEvalGallery(gal, m.threshold, left)
			if errors.Is(err, matcher.ErrEmptyGallery) {
				continue // a one-identity gallery leaves nothing to search
			}
			if err != nil {
				return err
			}
			for i, p := range probes {
				if p.Identity == left {
					if err := addTrial(g, i, left); err != nil {
						return err
					}
				}
			}
		}
	}
	res, err := evaluation.Identification(trials, m.threshold, maxRank)
	if err != nil {
		return err
	}
	sum.Rank1, sum.RankRates = res.RankRate[0], res.RankRate
	sum.IdentifiedRate, sum.Identified = res.DetectionRate, res.Correct
	sum.Misidentified, sum.Rejected = res.Misidentified, res.Rejected
	sum.UnknownTrials, sum.UnknownAccepted, sum.UnknownFAR = res.Unknown, res.UnknownAccepted, res.UnknownFAR
	sum.GenuineHistogram = evaluation.Histogram(genuine, 0, 2, 40)
	sum.UnknownHistogram = evaluation.Histogram(unknown, 0, 2, 40)
	if sum.OpenSet, err = openSet(f, gal, probes, probeEmbs, trials, len(enrolled), m.threshold); err != nil {
		return err
	}

	page, err := identifyPage(m, sum, gal, probes, probeEmbs)
	if err != nil {
		return err
	}
	if err := writeEvalOutputs(f.out, sum, page); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "eval 1:N\t%d probes of %d identities against %d photos of %d identities; profile %s, detector %s\n",
		sum.ProbeCount, sum.ProbeIdentities, len(gal), sum.GalleryIdentities, sum.Profile, sum.Detector)
	fmt.Fprintf(tw, "rank-1 identification rate\t%.2f%% (%d enrolled probes)\n", 100*sum.Rank1, sum.EnrolledProbes)
	fmt.Fprintf(tw, "identified at threshold %.3f\t%.2f%% (%d misidentified, %d rejected)\n", sum.Threshold, 100*sum.IdentifiedRate, sum.Misidentified, sum.Rejected)
	fmt.Fprintf(tw, "unknown people accepted\t%.2f%% (%d of %d, %s)\n", 100*sum.UnknownFAR, sum.UnknownAccepted, sum.UnknownTrials, sum.UnknownMethod)
	if err := tw.Flush(); err != nil {
		return err
	}
	if sum.OpenSet != nil {
		printOpenSet(stdout, sum.OpenSet)
	}
	_, err = fmt.Fprintf(stdout, "report  %s\n", filepath.Join(f.out, "report.html"))
	return err
}

// openSet scores the searches made (the whole gallery) and those against
// each sampled gallery size, under the nearest-identity rule and each
// margin rule. It is nil when there are no strangers to score.
func openSet(f evalFlags, gal []galleryPhoto, probes []gallery.Photo, probeEmbs [][]float32, trials []evaluation.Trial, identities int, threshold float64) (*openSetSummary, error) {
	rules := []evaluation.Rule{{}}
	for _, m := range f.margins {
		rules = append(rules, evaluation.Rule{MinMargin: m})
	}
	s := &openSetSummary{TargetFPIR: f.targetFPIR}
	sizes := slices.Sorted(slices.Values(f.gallerySizes))
	for _, n := range slices.Compact(sizes) {
		if n >= identities {
			continue
		}
		sample, err := sampleTrials(gal, probes, probeEmbs, sampleIdentities(gal, n), threshold)
		if err != nil {
			return nil, err
		}
		size, err := scoreOpenSet(sample, n, f.targetFPIR, rules)
		if errors.Is(err, evaluation.ErrNoSearches) {
			continue // a sample none of whose identities has a probe
		}
		if err != nil {
			return nil, err
		}
		s.Sizes = append(s.Sizes, size)
	}
	all, err := scoreOpenSet(trials, identities, f.targetFPIR, rules)
	if errors.Is(err, evaluation.ErrNoSearches) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.Sizes = append(s.Sizes, all)
	return s, nil
}

// buildEvalGallery makes a matcher gallery of the photos, leaving out one
// identity if without is set.
func buildEvalGallery(photos []galleryPhoto, threshold float64, without string) (*matcher.Gallery, error) {
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

func identities(photos []gallery.Photo) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range photos {
		if !seen[p.Identity] {
			seen[p.Identity] = true
			out = append(out, p.Identity)
		}
	}
	sort.Strings(out)
	return out
}

// identifyPage is report.html of the identification mode.
func identifyPage(m *evalModel, s *identifySummary, gal []galleryPhoto, probes []gallery.Photo, probeEmbs [][]float32) (*report.Page, error) {
	unknownNote := "probes whose identity is not in the gallery"
	if s.UnknownMethod == leaveOneOut {
		unknownNote = "the probe set has no unknown person, so each identity in turn was removed from the gallery and its probes searched against the rest (leave-one-identity-out)"
	}
	stats := []report.Stat{
		{Key: "gallery_photos", Label: "gallery photos", Value: fmt.Sprint(s.GalleryPhotos)},
		{Key: "gallery_identities", Label: "gallery identities", Value: fmt.Sprint(s.GalleryIdentities)},
		{Key: "gallery_photos_without_face", Label: "gallery photos without a face (left out)", Value: fmt.Sprint(s.GalleryNoFace)},
		{Key: "probe_count", Label: "probes", Value: fmt.Sprint(s.ProbeCount)},
		{Key: "probes_without_face", Label: "probes without a face (whole image encoded)", Value: fmt.Sprint(s.ProbesNoFace)},
		{Key: "enrolled_probes", Label: "probes of gallery identities", Value: fmt.Sprint(s.EnrolledProbes)},
		{Key: "unknown_probes", Label: "probes of unknown people", Value: fmt.Sprint(s.UnknownProbes)},
		{Key: "threshold", Label: "threshold", Value: fmt.Sprintf("%.3f", s.Threshold)},
		{Key: "rank1_rate", Label: "rank-1 identification rate", Value: fmt.Sprintf("%.2f%%", 100*s.Rank1)},
	}
	for k := 2; k <= len(s.RankRates); k++ {
		stats = append(stats, report.Stat{Key: fmt.Sprintf("rank%d_rate", k), Label: fmt.Sprintf("rank-%d rate", k), Value: fmt.Sprintf("%.2f%%", 100*s.RankRates[k-1])})
	}
	stats = append(stats,
		report.Stat{Key: "identification_rate_at_threshold", Label: "identified at the threshold", Value: fmt.Sprintf("%.2f%%", 100*s.IdentifiedRate)},
		report.Stat{Key: "misidentified", Label: "misidentified (accepted as someone else)", Value: fmt.Sprint(s.Misidentified)},
		report.Stat{Key: "rejected", Label: "rejected (nearest not under the threshold)", Value: fmt.Sprint(s.Rejected)},
		report.Stat{Key: "unknown_false_accept_rate", Label: "unknown people accepted", Value: fmt.Sprintf("%.2f%% (%d of %d)", 100*s.UnknownFAR, s.UnknownAccepted, s.UnknownTrials)},
		report.Stat{Key: "unknown_method", Label: "unknown people measured with", Value: s.UnknownMethod},
		report.Stat{Key: "confusions", Label: "errors", Value: fmt.Sprint(len(s.Confusions))},
	)
	hist := charts.Histogram{
		Title: "Distance to the probe's own identity, and unknown people's nearest", XLabel: "L2 distance between unit encodings",
		Min: 0, Max: s.HistogramMax, Normalize: true,
		Series: []charts.Series{
			{Name: "own identity", Color: colorSame, Counts: s.GenuineHistogram},
			{Name: "unknown person, nearest", Color: colorDifferent, Counts: s.UnknownHistogram},
		},
		Markers: []charts.Marker{{Label: fmt.Sprintf("threshold %.3f", s.Threshold), Value: s.Threshold, Color: colorThreshold}},
	}
	var groups []report.Group
	for _, c := range s.Confusions[:min(len(s.Confusions), maxConfusionGroups)] {
		g, err := confusionGroup(m, c, gal, probeEmbs[c.probe])
		if err != nil {
			return nil, err
		}
		groups = append(groups, g)
	}
	errorsNote := "Each error with the probe (the face the model saw, and the photo) beside the nearest gallery photo of the identity it matched and, for enrolled probes, of its own identity."
	if len(s.Confusions) > maxConfusionGroups {
		errorsNote += fmt.Sprintf(" The first %d of %d; summary.json lists them all.", maxConfusionGroups, len(s.Confusions))
	}
	return &report.Page{
		Title:    "facebatch eval: identification (1:N)",
		Subtitle: fmt.Sprintf("model %s, profile %s, detector %s; gallery %s, probes %s", s.ModelID, s.Profile, s.Detector, s.Gallery, s.Probes),
		Sections: []report.Section{
			{ID: "summary", Title: "Summary", Stats: stats,
				Note: "Rank-k rates are closed-set (the right identity among the k nearest, at any distance); the rest is at the threshold: a probe is accepted as its nearest identity when the distance is below it. Unknown people: " + unknownNote + "."},
			{ID: "distances", Title: "Distances", Charts: []template.HTML{hist.SVG()}},
			openSetSection(s.OpenSet),
			{ID: "confusions", Title: "Errors", Note: errorsNote, Groups: groups, Empty: "no errors: every enrolled probe was identified and no unknown person accepted"},
		},
	}, nil
}

// confusionGroup shows one error: the probe, the nearest gallery photo of the
// identity it matched and, when the gallery holds it, of its own.
func confusionGroup(m *evalModel, c confusion, gal []galleryPhoto, emb []float32) (report.Group, error) {
	crop, photo, err := m.thumbs(c.Probe, "probe")
	if err != nil {
		return report.Group{}, err
	}
	faces := []report.Face{crop, photo}
	if p, d, ok := nearestPhoto(gal, c.Nearest, emb); ok {
		matched, _, err := m.thumbs(p.Path, fmt.Sprintf("matched %s %.4f", c.Nearest, d))
		if err != nil {
			return report.Group{}, err
		}
		faces = append(faces, matched)
	}
	if c.Without == "" {
		if p, d, ok := nearestPhoto(gal, c.Identity, emb); ok {
			own, _, err := m.thumbs(p.Path, fmt.Sprintf("own %s %.4f", c.Identity, d))
			if err != nil {
				return report.Group{}, err
			}
			faces = append(faces, own)
		}
	}
	title := fmt.Sprintf("%s: %s → %s (%.4f)", c.Kind, c.Identity, c.Nearest, c.Distance)
	note := filepath.Base(c.Probe)
	if c.Without != "" {
		note += fmt.Sprintf(" (searched in the gallery without %s)", c.Without)
	}
	return report.Group{Title: title, Note: note, Class: "error", Faces: faces}, nil
}
