package accuracy

import (
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/facebatch/facebatch/charts"
	"github.com/facebatch/facebatch/report/html"
)

// maxConfusionGroups bounds the errors shown with pictures on the report,
// which embeds every picture; the summary lists them all.
const maxConfusionGroups = 60

// WriteText writes the main numbers as `facebatch eval` prints them: the
// rates, the open-set table, and the path of the report.
func (s *IdentifySummary) WriteText(w io.Writer, reportPath string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "eval 1:N\t%d probes of %d identities against %d photos of %d identities; profile %s, detector %s, %s\n",
		s.ProbeCount, s.ProbeIdentities, s.searched, s.GalleryIdentities, s.Profile, s.Detector, s.Precision)
	fmt.Fprintf(tw, "rank-1 identification rate\t%.2f%% (%d enrolled probes)\n", 100*s.Rank1, s.EnrolledProbes)
	fmt.Fprintf(tw, "identified at threshold %.3f\t%.2f%% (%d misidentified, %d rejected)\n", s.Threshold, 100*s.IdentifiedRate, s.Misidentified, s.Rejected)
	fmt.Fprintf(tw, "unknown people accepted\t%.2f%% (%d of %d, %s)\n", 100*s.UnknownFAR, s.UnknownAccepted, s.UnknownTrials, s.UnknownMethod)
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.OpenSet != nil {
		s.OpenSet.writeText(w)
	}
	_, err := fmt.Fprintf(w, "report  %s\n", reportPath)
	return err
}

// identifyPage is the identification report.
func identifyPage(m *model, s *IdentifySummary, gal []galleryPhoto, probeEmbs [][]float32) (*html.Page, error) {
	unknownNote := "probes whose identity is not in the gallery"
	if s.UnknownMethod == MethodLeaveOneOut {
		unknownNote = "the probe set has no unknown person, so each identity in turn was removed from the gallery and its probes searched against the rest (leave-one-identity-out)"
	}
	var groups []html.Group
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
	return &html.Page{
		Title:    "facebatch eval: identification (1:N)",
		Subtitle: fmt.Sprintf("model %s, profile %s, detector %s; gallery %s, probes %s", s.ModelID, s.Profile, s.Detector, s.Gallery, s.Probes),
		Sections: []html.Section{
			{ID: "summary", Title: "Summary", Stats: identifyStats(s),
				Note: "Rank-k rates are closed-set (the right identity among the k nearest, at any distance); the rest is at the threshold: a probe is accepted as its nearest identity when the distance is below it. Unknown people: " + unknownNote + "."},
			{ID: "distances", Title: "Distances", Charts: []template.HTML{identifyHistogram(s).SVG()}},
			openSetSection(s.OpenSet),
			{ID: "confusions", Title: "Errors", Note: errorsNote, Groups: groups, Empty: "no errors: every enrolled probe was identified and no unknown person accepted"},
		},
	}, nil
}

func identifyStats(s *IdentifySummary) []html.Stat {
	stats := []html.Stat{
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
		stats = append(stats, html.Stat{Key: fmt.Sprintf("rank%d_rate", k), Label: fmt.Sprintf("rank-%d rate", k), Value: fmt.Sprintf("%.2f%%", 100*s.RankRates[k-1])})
	}
	return append(stats,
		html.Stat{Key: "identification_rate_at_threshold", Label: "identified at the threshold", Value: fmt.Sprintf("%.2f%%", 100*s.IdentifiedRate)},
		html.Stat{Key: "misidentified", Label: "misidentified (accepted as someone else)", Value: fmt.Sprint(s.Misidentified)},
		html.Stat{Key: "rejected", Label: "rejected (nearest not under the threshold)", Value: fmt.Sprint(s.Rejected)},
		html.Stat{Key: "unknown_false_accept_rate", Label: "unknown people accepted", Value: fmt.Sprintf("%.2f%% (%d of %d)", 100*s.UnknownFAR, s.UnknownAccepted, s.UnknownTrials)},
		html.Stat{Key: "unknown_method", Label: "unknown people measured with", Value: s.UnknownMethod},
		html.Stat{Key: "confusions", Label: "errors", Value: fmt.Sprint(len(s.Confusions))},
	)
}

func identifyHistogram(s *IdentifySummary) charts.Histogram {
	return charts.Histogram{
		Title: "Distance to the probe's own identity, and unknown people's nearest", XLabel: "L2 distance between unit encodings",
		Min: 0, Max: s.HistogramMax, Normalize: true,
		Series: []charts.Series{
			{Name: "own identity", Color: colorSame, Counts: s.GenuineHistogram},
			{Name: "unknown person, nearest", Color: colorDifferent, Counts: s.UnknownHistogram},
		},
		Markers: []charts.Marker{{Label: fmt.Sprintf("threshold %.3f", s.Threshold), Value: s.Threshold, Color: colorThreshold}},
	}
}

// confusionGroup shows one error: the probe, the nearest gallery photo of the
// identity it matched and, when the gallery holds it, of its own.
func confusionGroup(m *model, c Confusion, gal []galleryPhoto, emb []float32) (html.Group, error) {
	crop, photo, err := m.thumbs(c.Probe, "probe")
	if err != nil {
		return html.Group{}, err
	}
	faces := []html.Face{crop, photo}
	if p, d, ok := nearestPhoto(gal, c.Nearest, emb); ok {
		matched, _, err := m.thumbs(p.Path, fmt.Sprintf("matched %s %.4f", c.Nearest, d))
		if err != nil {
			return html.Group{}, err
		}
		faces = append(faces, matched)
	}
	if c.Without == "" {
		if p, d, ok := nearestPhoto(gal, c.Identity, emb); ok {
			own, _, err := m.thumbs(p.Path, fmt.Sprintf("own %s %.4f", c.Identity, d))
			if err != nil {
				return html.Group{}, err
			}
			faces = append(faces, own)
		}
	}
	title := fmt.Sprintf("%s: %s → %s (%.4f)", c.Kind, c.Identity, c.Nearest, c.Distance)
	note := filepath.Base(c.Probe)
	if c.Without != "" {
		note += fmt.Sprintf(" (searched in the gallery without %s)", c.Without)
	}
	return html.Group{Title: title, Note: note, Class: "error", Faces: faces}, nil
}
