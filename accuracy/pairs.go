package accuracy

import (
	"context"
	"fmt"
	"os"

	"github.com/facebatch/facebatch/evaluation"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/report/html"
)

// hardestPairs is how many of the hardest pairs of each kind the report and
// the summary show.
const hardestPairs = 8

// PairsConfig is a verification run on an LFW-format pairs file.
type PairsConfig struct {
	Model     ModelConfig
	PairsFile string
	// ImagesDir holds the images the pairs name, as <Name>/<Name>_NNNN.jpg.
	ImagesDir string
	// Limit keeps the first Limit same-person and Limit different-person
	// pairs of each fold, for a quick run; 0 keeps them all.
	Limit int
}

// PairsSummary is the outcome of Pairs, written as summary.json: the
// numbers for one model, profile and detector on a pairs file.
type PairsSummary struct {
	Pairs         int     `json:"pairs"`
	Images        int     `json:"images"`
	NoFace        int     `json:"images_without_face"`
	Folds         int     `json:"folds"`
	Profile       string  `json:"profile"`
	Detector      string  `json:"detector"`
	ModelID       string  `json:"model_id"`
	Precision     string  `json:"precision"`
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
	WorstFalseAccepts []PairDistance `json:"worst_false_accepts"`
	WorstFalseRejects []PairDistance `json:"worst_false_rejects"`
}

// PairDistance is one of the hardest pairs.
type PairDistance struct {
	A        string  `json:"a"`
	B        string  `json:"b"`
	Distance float64 `json:"distance"`
	// Errors at the recommended and the configured threshold.
	ErrorAtBest      bool `json:"error_at_best_threshold"`
	ErrorAtThreshold bool `json:"error_at_threshold"`
}

// Pairs measures verification accuracy on an LFW-format pairs file, under
// the file's k-fold protocol: each fold is scored at the threshold that is
// best on the others. It encodes every image once; the page shows the
// hardest pairs side by side.
func Pairs(ctx context.Context, cfg PairsConfig) (*PairsSummary, *html.Page, error) {
	m, err := openModel(cfg.Model)
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	sp, err := scorePairs(ctx, m, cfg)
	if err != nil {
		return nil, nil, err
	}
	page, err := pairsPage(m, sp, cfg.ImagesDir)
	if err != nil {
		return nil, nil, err
	}
	return sp.summary, page, nil
}

// scoredPairs is a scored pairs file: the summary and what the page shows.
type scoredPairs struct {
	summary *PairsSummary
	pairs   *evaluation.Pairs
	dist    []float64
	same    []bool
	roc     []evaluation.Point
	// hardestAccepts and hardestRejects index pairs.Pairs.
	hardestAccepts, hardestRejects []int
}

func readPairs(path string, limit int) (*evaluation.Pairs, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all, err := evaluation.ParsePairs(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return all.Limit(limit), nil
}

func scorePairs(ctx context.Context, m *model, cfg PairsConfig) (*scoredPairs, error) {
	pairs, err := readPairs(cfg.PairsFile, cfg.Limit)
	if err != nil {
		return nil, err
	}
	refs := pairs.Images()
	paths := make([]string, len(refs))
	index := make(map[evaluation.ImageRef]int, len(refs))
	for i, r := range refs {
		paths[i] = r.Path(cfg.ImagesDir)
		index[r] = i
	}
	embs, found, err := m.encodeFiles(ctx, paths)
	if err != nil {
		return nil, err
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
	loss, triplets, err := pairTriplets(pairs, embs, index)
	if err != nil {
		return nil, err
	}
	sp := &scoredPairs{pairs: pairs, dist: dist, same: same, roc: evaluation.ROC(dist, same)}
	sp.hardestAccepts, sp.hardestRejects = evaluation.Hardest(dist, same, hardestPairs)
	sp.summary = &PairsSummary{
		Pairs: len(pairs.Pairs), Images: len(refs), NoFace: countFalse(found), Folds: pairs.Folds,
		Profile: m.profile, Detector: m.detector, ModelID: m.enc.ModelID(), Precision: m.precision,
		AccuracyMean: res.Mean, AccuracyStd: res.Std, BestThreshold: res.BestThreshold,
		Threshold: m.threshold, ThresholdAccuracyMean: res.FixedMean, ThresholdAccuracyStd: res.FixedStd,
		AUC: evaluation.AUC(sp.roc), TripletLoss: loss, Triplets: triplets, FoldResults: res.Folds,
		HistogramMax: 2,
	}
	sp.summary.TARAtFAR1e3, _ = evaluation.TARAtFAR(dist, same, 1e-3)
	sp.summary.TARAtFAR1e2, _ = evaluation.TARAtFAR(dist, same, 1e-2)
	sp.summary.SameHistogram, sp.summary.DiffHistogram = sp.histograms()
	for _, i := range sp.hardestAccepts {
		sp.summary.WorstFalseAccepts = append(sp.summary.WorstFalseAccepts, sp.pairDistance(i))
	}
	for _, i := range sp.hardestRejects {
		sp.summary.WorstFalseRejects = append(sp.summary.WorstFalseRejects, sp.pairDistance(i))
	}
	return sp, nil
}

// histograms counts the same-person and the different-person distances
// over [0, 2], where the distances of unit encodings lie.
func (sp *scoredPairs) histograms() (same, diff []int) {
	var sameD, diffD []float64
	for i, s := range sp.same {
		if s {
			sameD = append(sameD, sp.dist[i])
		} else {
			diffD = append(diffD, sp.dist[i])
		}
	}
	return evaluation.Histogram(sameD, 0, 2, 40), evaluation.Histogram(diffD, 0, 2, 40)
}

// isError reports whether pair i is misjudged at threshold t.
func (sp *scoredPairs) isError(i int, t float64) bool {
	return (sp.dist[i] < t) != sp.same[i]
}

func (sp *scoredPairs) pairDistance(i int) PairDistance {
	p := sp.pairs.Pairs[i]
	return PairDistance{
		A: p.A.String(), B: p.B.String(), Distance: sp.dist[i],
		ErrorAtBest:      sp.isError(i, sp.summary.BestThreshold),
		ErrorAtThreshold: sp.isError(i, sp.summary.Threshold),
	}
}

// pairTriplets forms triplets from the pairs (anchor and positive from a
// same-person pair, negative the second image of the different-person pair
// at the same position in the fold) and sums the notebook's triplet loss,
// so that the benchmark is comparable with the loss the model was trained
// on.
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

// countFalse is how many of bs are false.
func countFalse(bs []bool) int {
	n := 0
	for _, b := range bs {
		if !b {
			n++
		}
	}
	return n
}
