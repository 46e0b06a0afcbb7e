package main

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"

	"github.com/facebatch/facebatch/charts"
	"github.com/facebatch/facebatch/evaluation"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/report"
)

// worstPairs is how many of the hardest pairs of each kind the report and
// summary.json show.
const worstPairs = 8

// Colours shared by the evaluation reports.
const (
	colorSame        = "#2e7d32"
	colorDifferent   = "#c62828"
	colorThreshold   = "#263238"
	colorRecommended = "#ef6c00"
)

// evalSummary is summary.json of the verification mode: the numbers for one
// model, profile and detector on an LFW-format pairs file.
type evalSummary struct {
	Pairs         int     `json:"pairs"`
	Images        int     `json:"images"`
	NoFace        int     `json:"images_without_face"`
	Folds         int     `json:"folds"`
	Profile       string  `json:"profile"`
	Detector      string  `json:"detector"`
	ModelID       string  `json:"model_id"`
	AccuracyMean  float64 `json:"accuracy_mean"`
	AccuracyStd   float64 `json:"accuracy_std"`
	BestThreshold float64 `json:"best_threshold"`
	Threshold     float64 `json:"threshold"`
	// At Threshold, the configured one, on every fold.
	ThresholdAccuracyMean float64 `json:"threshold_accuracy_mean"`
	ThresholdAccuracyStd  float64 `json:"threshold_accuracy_std"`
	AUC                   float64 `json:"auc"`
	TARAtFAR1e3           float64 `json:"tar_at_far_1e-3"`
	TARAtFAR1e2           float64 `json:"tar_at_far_1e-2"`
	// TripletLoss sums the notebook's loss (alpha 0.2) over triplets made
	// of each same-person pair and the different-person pair at the same
	// position of its fold.
	TripletLoss   float64                 `json:"triplet_loss"`
	Triplets      int                     `json:"triplets"`
	FoldResults   []evaluation.FoldResult `json:"fold_results"`
	SameHistogram []int                   `json:"same_distance_histogram"`
	DiffHistogram []int                   `json:"different_distance_histogram"`
	HistogramMax  float64                 `json:"histogram_range_max"`
	// The hardest pairs: different people closest together (false accepts
	// at a high enough threshold) and the same person farthest apart.
	WorstFalseAccepts []pairDistance `json:"worst_false_accepts"`
	WorstFalseRejects []pairDistance `json:"worst_false_rejects"`
}

// pairDistance is one pair of summary.json's hardest pairs.
type pairDistance struct {
	A        string  `json:"a"`
	B        string  `json:"b"`
	Distance float64 `json:"distance"`
	// Errors at the recommended and the configured threshold.
	ErrorAtBest      bool `json:"error_at_best_threshold"`
	ErrorAtThreshold bool `json:"error_at_threshold"`
}

// pairsEval is a scored pairs file: the summary and what the report shows.
type pairsEval struct {
	summary *evalSummary
	pairs   *evaluation.Pairs
	dist    []float64
	same    []bool
	roc     []evaluation.Point
	// worstAccept and worstReject index pairs.Pairs.
	worstAccept, worstReject []int
}

// evalPairs runs the verification mode.
func evalPairs(ctx context.Context, f evalFlags, stdout io.Writer) error {
	m, err := openEvalModel(f)
	if err != nil {
		return err
	}
	defer m.Close()
	ev, err := evaluatePairs(ctx, m, f.pairs, f.images, f.limit)
	if err != nil {
		return err
	}
	page, err := pairsPage(m, ev, f.images)
	if err != nil {
		return err
	}
	if err := writeEvalOutputs(f.out, ev.summary, page); err != nil {
		return err
	}
	sum := ev.summary
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "eval\t%d pairs, %d images (%d without a face), profile %s, detector %s\n", sum.Pairs, sum.Images, sum.NoFace, sum.Profile, sum.Detector)
	fmt.Fprintf(tw, "accuracy, threshold chosen on the other folds\t%.2f%% ± %.2f\n", 100*sum.AccuracyMean, 100*sum.AccuracyStd)
	fmt.Fprintf(tw, "accuracy at the configured threshold %.2f\t%.2f%% ± %.2f\n", sum.Threshold, 100*sum.ThresholdAccuracyMean, 100*sum.ThresholdAccuracyStd)
	fmt.Fprintf(tw, "ROC AUC\t%.4f\n", sum.AUC)
	fmt.Fprintf(tw, "TAR at FAR 1e-3 / 1e-2\t%.3f / %.3f\n", sum.TARAtFAR1e3, sum.TARAtFAR1e2)
	fmt.Fprintf(tw, "recommended threshold\t%.3f\n", sum.BestThreshold)
	fmt.Fprintf(tw, "report\t%s\n", filepath.Join(f.out, "report.html"))
	return tw.Flush()
}

func evaluatePairs(ctx context.Context, m *evalModel, pairsPath, imagesDir string, limit int) (*pairsEval, error) {
	f, err := os.Open(pairsPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all, err := evaluation.ParsePairs(f)
	if err != nil {
		return nil, err
	}
	pairs := limitPairs(all, limit)

	// Encode every image once.
	refs := pairs.Images()
	paths := make([]string, len(refs))
	index := make(map[evaluation.ImageRef]int, len(refs))
	for i, r := range refs {
		paths[i] = r.Path(imagesDir)
		index[r] = i
	}
	embs, found, err := m.encodeFiles(ctx, paths)
	if err != nil {
		return nil, err
	}
	noFace := 0
	for _, ok := range found {
		if !ok {
			noFace++
		}
	}

	dist := make([]float64, len(pairs.Pairs))
	for i, p := range pairs.Pairs {
		dist[i] = matcher.Distance(embs[index[p.A]], embs[index[p.B]])
	}
	same, folds := pairs.Labels()
	res, err := evaluation.KFold(dist, same, folds, m.threshold)
	if err != nil {
		return nil, err
	}
	roc := evaluation.ROC(dist, same)
	tar3, _ := evaluation.TARAtFAR(dist, same, 1e-3)
	tar2, _ := evaluation.TARAtFAR(dist, same, 1e-2)
	var sameD, diffD []float64
	for i, s := range same {
		if s {
			sameD = append(sameD, dist[i])
		} else {
			diffD = append(diffD, dist[i])
		}
	}
	loss, triplets, err := pairTriplets(pairs, embs, index)
	if err != nil {
		return nil, err
	}
	ev := &pairsEval{pairs: pairs, dist: dist, same: same, roc: roc}
	ev.worstAccept, ev.worstReject = worst(dist, same, worstPairs)
	ev.summary = &evalSummary{
		Pairs: len(pairs.Pairs), Images: len(refs), NoFace: noFace, Folds: pairs.Folds,
		Profile: m.profile, Detector: m.detector, ModelID: m.enc.ModelID(),
		AccuracyMean: res.Mean, AccuracyStd: res.Std, BestThreshold: res.BestThreshold,
		Threshold: m.threshold, ThresholdAccuracyMean: res.FixedMean, ThresholdAccuracyStd: res.FixedStd,
		AUC: evaluation.AUC(roc), TARAtFAR1e3: tar3, TARAtFAR1e2: tar2,
		TripletLoss: loss, Triplets: triplets, FoldResults: res.Folds,
		SameHistogram: evaluation.Histogram(sameD, 0, 2, 40), DiffHistogram: evaluation.Histogram(diffD, 0, 2, 40),
		HistogramMax: 2,
	}
	for _, i := range ev.worstAccept {
		ev.summary.WorstFalseAccepts = append(ev.summary.WorstFalseAccepts, ev.pairDistance(i))
	}
	for _, i := range ev.worstReject {
		ev.summary.WorstFalseRejects = append(ev.summary.WorstFalseRejects, ev.pairDistance(i))
	}
	return ev, nil
}

// worst returns the n different-person pairs with the smallest distances and
// the n same-person pairs with the largest, hardest first.
func worst(dist []float64, same []bool, n int) (accepts, rejects []int) {
	for i, s := range same {
		if s {
			rejects = append(rejects, i)
		} else {
			accepts = append(accepts, i)
		}
	}
	sort.SliceStable(accepts, func(a, b int) bool { return dist[accepts[a]] < dist[accepts[b]] })
	sort.SliceStable(rejects, func(a, b int) bool { return dist[rejects[a]] > dist[rejects[b]] })
	return accepts[:min(n, len(accepts))], rejects[:min(n, len(rejects))]
}

// isError reports whether pair i is misjudged at threshold t.
func (ev *pairsEval) isError(i int, t float64) bool {
	return (ev.dist[i] < t) != ev.same[i]
}

func (ev *pairsEval) pairDistance(i int) pairDistance {
	p := ev.pairs.Pairs[i]
	return pairDistance{
		A: p.A.String(), B: p.B.String(), Distance: ev.dist[i],
		ErrorAtBest:      ev.isError(i, ev.summary.BestThreshold),
		ErrorAtThreshold: ev.isError(i, ev.summary.Threshold),
	}
}

// rates returns the true and false accept rates at threshold t.
func (ev *pairsEval) rates(t float64) (tar, far float64) {
	var same, diff, sameAcc, diffAcc int
	for i, s := range ev.same {
		acc := ev.dist[i] < t
		if s {
			same++
			sameAcc += boolInt(acc)
		} else {
			diff++
			diffAcc += boolInt(acc)
		}
	}
	return float64(sameAcc) / float64(max(same, 1)), float64(diffAcc) / float64(max(diff, 1))
}

// pairsPage is report.html of the verification mode.
func pairsPage(m *evalModel, ev *pairsEval, imagesDir string) (*report.Page, error) {
	s := ev.summary
	best := fmt.Sprintf("recommended %.3f", s.BestThreshold)
	configured := fmt.Sprintf("configured %.3f", s.Threshold)
	hist := charts.Histogram{
		Title: "Distances of same-person and different-person pairs", XLabel: "L2 distance between unit encodings",
		Min: 0, Max: s.HistogramMax,
		Series: []charts.Series{
			{Name: "same person", Color: colorSame, Counts: s.SameHistogram},
			{Name: "different people", Color: colorDifferent, Counts: s.DiffHistogram},
		},
		Markers: []charts.Marker{
			{Label: configured, Value: s.Threshold, Color: colorThreshold},
			{Label: best, Value: s.BestThreshold, Color: colorRecommended},
		},
	}
	line := make([]charts.Point, len(ev.roc))
	for i, p := range ev.roc {
		line[i] = charts.Point{X: p.FAR, Y: p.TAR}
	}
	diffs := len(ev.same) - countTrue(ev.same)
	farMin := 1e-3
	if diffs > 0 && 1/float64(diffs) > farMin {
		farMin = 1 / float64(diffs)
	}
	tarC, farC := ev.rates(s.Threshold)
	tarB, farB := ev.rates(s.BestThreshold)
	roc := charts.Curve{
		Title: fmt.Sprintf("ROC (AUC %.4f)", s.AUC), XLabel: "false accept rate (log scale)", YLabel: "true accept rate",
		LogX: true, XMin: farMin, XMax: 1, YMin: 0, YMax: 1,
		Lines: []charts.Line{{Name: "ROC", Color: "#1565c0", Points: line}},
		Dots: []charts.Dot{
			{Label: configured, Point: charts.Point{X: farC, Y: tarC}, Color: colorThreshold},
			{Label: best, Point: charts.Point{X: farB, Y: tarB}, Color: colorRecommended},
		},
	}
	summary := report.Section{
		ID: "summary", Title: "Summary",
		Note: fmt.Sprintf("%d-fold LFW protocol: each fold is scored at the threshold that is best on the other folds; the recommended threshold is their mean. A pair is accepted as the same person when its distance is below the threshold.", s.Folds),
		Stats: []report.Stat{
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
	distances := report.Section{ID: "distances", Title: "Distances and ROC",
		Charts: []template.HTML{hist.SVG(), roc.SVG()}}
	accepts, err := pairGroups(m, ev, ev.worstAccept, imagesDir)
	if err != nil {
		return nil, err
	}
	rejects, err := pairGroups(m, ev, ev.worstReject, imagesDir)
	if err != nil {
		return nil, err
	}
	return &report.Page{
		Title:    "facebatch eval: verification",
		Subtitle: fmt.Sprintf("model %s, profile %s, detector %s", s.ModelID, s.Profile, s.Detector),
		Sections: []report.Section{summary, distances,
			{ID: "false-accepts", Title: "Worst false accepts: different people, closest pairs",
				Note:   "The different-person pairs with the smallest distances. Red edge: accepted (an error) at the recommended threshold.",
				Groups: accepts, Empty: "no different-person pairs"},
			{ID: "false-rejects", Title: "Worst false rejects: same person, farthest pairs",
				Note:   "The same-person pairs with the largest distances. Red edge: rejected (an error) at the recommended threshold.",
				Groups: rejects, Empty: "no same-person pairs"},
		},
	}, nil
}

// pairGroups shows pairs side by side: both model inputs, then both photos.
func pairGroups(m *evalModel, ev *pairsEval, idx []int, imagesDir string) ([]report.Group, error) {
	var groups []report.Group
	for _, i := range idx {
		p := ev.pairs.Pairs[i]
		pd := ev.pairDistance(i)
		cropA, photoA, err := m.thumbs(p.A.Path(imagesDir), "A")
		if err != nil {
			return nil, err
		}
		cropB, photoB, err := m.thumbs(p.B.Path(imagesDir), "B")
		if err != nil {
			return nil, err
		}
		g := report.Group{
			Title: fmt.Sprintf("distance %.3f", pd.Distance),
			Note:  fmt.Sprintf("A %s, B %s (fold %d)", p.A, p.B, p.Fold+1),
			Faces: []report.Face{cropA, cropB, photoA, photoB},
		}
		if pd.ErrorAtBest {
			g.Class = "error"
		}
		groups = append(groups, g)
	}
	return groups, nil
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		n += boolInt(b)
	}
	return n
}

// limitPairs keeps the first n same and n different pairs of each fold.
func limitPairs(p *evaluation.Pairs, n int) *evaluation.Pairs {
	if n <= 0 || n >= p.PerClass {
		return p
	}
	out := &evaluation.Pairs{Folds: p.Folds, PerClass: n}
	kept := map[[2]int]int{}
	for _, pair := range p.Pairs {
		key := [2]int{pair.Fold, boolInt(pair.Same)}
		if kept[key] < n {
			kept[key]++
			out.Pairs = append(out.Pairs, pair)
		}
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pairTriplets forms triplets from the pairs (anchor and positive from a
// same-person pair, negative the second image of the different-person pair
// at the same position in the fold) and sums the notebook's triplet loss.
func pairTriplets(p *evaluation.Pairs, embs [][]float32, index map[evaluation.ImageRef]int) (float64, int, error) {
	sames := map[int][]evaluation.Pair{}
	diffs := map[int][]evaluation.Pair{}
	for _, pair := range p.Pairs {
		if pair.Same {
			sames[pair.Fold] = append(sames[pair.Fold], pair)
		} else {
			diffs[pair.Fold] = append(diffs[pair.Fold], pair)
		}
	}
	var a, pos, neg [][]float32
	for fold, ss := range sames {
		for i, s := range ss {
			if i >= len(diffs[fold]) {
				break
			}
			a = append(a, embs[index[s.A]])
			pos = append(pos, embs[index[s.B]])
			neg = append(neg, embs[index[diffs[fold][i].B]])
		}
	}
	loss, err := matcher.TripletLoss(a, pos, neg, matcher.DefaultAlpha)
	if err != nil {
		return 0, 0, fmt.Errorf("triplet loss: %w", err)
	}
	return loss, len(a), nil
}
