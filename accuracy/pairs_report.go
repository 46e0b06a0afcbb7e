package accuracy

import (
	"fmt"
	"html/template"
	"io"
	"text/tabwriter"

	"github.com/facebatch/facebatch/charts"
	"github.com/facebatch/facebatch/evaluation"
	"github.com/facebatch/facebatch/report/html"
)

// WriteText writes the main numbers as `facebatch eval` prints them, as a
// table ending with the path of the report.
func (s *PairsSummary) WriteText(w io.Writer, reportPath string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "eval\t%d pairs, %d images (%d without a face), profile %s, detector %s, %s\n", s.Pairs, s.Images, s.NoFace, s.Profile, s.Detector, s.Precision)
	fmt.Fprintf(tw, "accuracy, threshold chosen on the other folds\t%.2f%% ± %.2f\n", 100*s.AccuracyMean, 100*s.AccuracyStd)
	fmt.Fprintf(tw, "accuracy at the configured threshold %.2f\t%.2f%% ± %.2f\n", s.Threshold, 100*s.ThresholdAccuracyMean, 100*s.ThresholdAccuracyStd)
	fmt.Fprintf(tw, "ROC AUC\t%.4f\n", s.AUC)
	fmt.Fprintf(tw, "TAR at FAR 1e-3 / 1e-2\t%.3f / %.3f\n", s.TARAtFAR1e3, s.TARAtFAR1e2)
	fmt.Fprintf(tw, "recommended threshold\t%.3f\n", s.BestThreshold)
	fmt.Fprintf(tw, "report\t%s\n", reportPath)
	return tw.Flush()
}

// pairsPage is the verification report.
func pairsPage(m *model, sp *scoredPairs, imagesDir string) (*html.Page, error) {
	s := sp.summary
	accepts, err := pairGroups(m, sp, sp.hardestAccepts, imagesDir)
	if err != nil {
		return nil, err
	}
	rejects, err := pairGroups(m, sp, sp.hardestRejects, imagesDir)
	if err != nil {
		return nil, err
	}
	return &html.Page{
		Title:    "facebatch eval: verification",
		Subtitle: fmt.Sprintf("model %s, profile %s, detector %s", s.ModelID, s.Profile, s.Detector),
		Sections: []html.Section{pairsSummarySection(s),
			{ID: "distances", Title: "Distances and ROC", Charts: []template.HTML{pairsHistogram(s).SVG(), sp.rocCurve().SVG()}},
			{ID: "false-accepts", Title: "Worst false accepts: different people, closest pairs",
				Note:   "The different-person pairs with the smallest distances. Red edge: accepted (an error) at the recommended threshold.",
				Groups: accepts, Empty: "no different-person pairs"},
			{ID: "false-rejects", Title: "Worst false rejects: same person, farthest pairs",
				Note:   "The same-person pairs with the largest distances. Red edge: rejected (an error) at the recommended threshold.",
				Groups: rejects, Empty: "no same-person pairs"},
		},
	}, nil
}

func pairsSummarySection(s *PairsSummary) html.Section {
	return html.Section{
		ID: "summary", Title: "Summary",
		Note: fmt.Sprintf("%d-fold LFW protocol: each fold is scored at the threshold that is best on the other folds; the recommended threshold is their mean. A pair is accepted as the same person when its distance is below the threshold.", s.Folds),
		Stats: []html.Stat{
			{Key: "pairs", Label: "pairs", Value: fmt.Sprint(s.Pairs)},
			{Key: "images", Label: "images", Value: fmt.Sprint(s.Images)},
			{Key: "images_without_face", Label: "images without a face (whole image encoded)", Value: fmt.Sprint(s.NoFace)},
			{Key: "accuracy", Label: "accuracy (threshold from the other folds)", Value: fmt.Sprintf("%.2f%% ± %.2f", 100*s.AccuracyMean, 100*s.AccuracyStd)},
			{Key: "best_threshold", Label: "recommended threshold", Value: fmt.Sprintf("%.3f", s.BestThreshold)},
			{Key: "threshold", Label: "configured threshold", Value: fmt.Sprintf("%.3f", s.Threshold)},
			{Key: "threshold_accuracy", Label: "accuracy at the configured threshold", Value: fmt.Sprintf("%.2f%% ± %.2f", 100*s.ThresholdAccuracyMean, 100*s.ThresholdAccuracyStd)},
			{Key: "auc", Label: "ROC AUC", Value: fmt.Sprintf("%.4f", s.AUC)},
			{Key: "tar_at_far_1e-3", Label: "TAR at FAR 1e-3", Value: fmt.Sprintf("%.3f", s.TARAtFAR1e3)},
			{Key: "tar_at_far_1e-2", Label: "TAR at FAR 1e-2", Value: fmt.Sprintf("%.3f", s.TARAtFAR1e2)},
			{Key: "triplet_loss", Label: fmt.Sprintf("triplet loss (%d triplets)", s.Triplets), Value: fmt.Sprintf("%.3f", s.TripletLoss)},
		},
	}
}

// thresholdLabels name the two thresholds marked on both charts.
func thresholdLabels(s *PairsSummary) (configured, recommended string) {
	return fmt.Sprintf("configured %.3f", s.Threshold), fmt.Sprintf("recommended %.3f", s.BestThreshold)
}

func pairsHistogram(s *PairsSummary) charts.Histogram {
	configured, recommended := thresholdLabels(s)
	return charts.Histogram{
		Title: "Distances of same-person and different-person pairs", XLabel: "L2 distance between unit encodings",
		Min: 0, Max: s.HistogramMax,
		Series: []charts.Series{
			{Name: "same person", Color: colorSame, Counts: s.SameHistogram},
			{Name: "different people", Color: colorDifferent, Counts: s.DiffHistogram},
		},
		Markers: []charts.Marker{
			{Label: configured, Value: s.Threshold, Color: colorThreshold},
			{Label: recommended, Value: s.BestThreshold, Color: colorRecommended},
		},
	}
}

// rocCurve plots the ROC with the configured and recommended thresholds'
// operating points.
func (sp *scoredPairs) rocCurve() charts.Curve {
	s := sp.summary
	line := make([]charts.Point, len(sp.roc))
	for i, p := range sp.roc {
		line[i] = charts.Point{X: p.FAR, Y: p.TAR}
	}
	// The log axis starts where one different-person pair accepted would
	// put the FAR, as no smaller FAR can be measured.
	farMin := 1e-3
	if diffs := countFalse(sp.same); diffs > 0 && 1/float64(diffs) > farMin {
		farMin = 1 / float64(diffs)
	}
	configured, recommended := thresholdLabels(s)
	tarC, farC := evaluation.Rates(sp.dist, sp.same, s.Threshold)
	tarB, farB := evaluation.Rates(sp.dist, sp.same, s.BestThreshold)
	return charts.Curve{
		Title: fmt.Sprintf("ROC (AUC %.4f)", s.AUC), XLabel: "false accept rate (log scale)", YLabel: "true accept rate",
		LogX: true, XMin: farMin, XMax: 1, YMin: 0, YMax: 1,
		Lines: []charts.Line{{Name: "ROC", Color: "#1565c0", Points: line}},
		Dots: []charts.Dot{
			{Label: configured, Point: charts.Point{X: farC, Y: tarC}, Color: colorThreshold},
			{Label: recommended, Point: charts.Point{X: farB, Y: tarB}, Color: colorRecommended},
		},
	}
}

// pairGroups shows pairs side by side: both model inputs, then both photos.
func pairGroups(m *model, sp *scoredPairs, idx []int, imagesDir string) ([]html.Group, error) {
	var groups []html.Group
	for _, i := range idx {
		p := sp.pairs.Pairs[i]
		pd := sp.pairDistance(i)
		cropA, photoA, err := m.thumbs(p.A.Path(imagesDir), "A")
		if err != nil {
			return nil, err
		}
		cropB, photoB, err := m.thumbs(p.B.Path(imagesDir), "B")
		if err != nil {
			return nil, err
		}
		g := html.Group{
			Title: fmt.Sprintf("distance %.3f", pd.Distance),
			Note:  fmt.Sprintf("A %s, B %s (fold %d)", p.A, p.B, p.Fold+1),
			Faces: []html.Face{cropA, cropB, photoA, photoB},
		}
		if pd.ErrorAtBest {
			g.Class = "error"
		}
		groups = append(groups, g)
	}
	return groups, nil
}
