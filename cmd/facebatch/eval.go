package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/evaluation"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/models"
)

// evalSummary is summary.json: the verification numbers for one model,
// profile and detector on an LFW-format pairs file.
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
}

// evalCmd runs `facebatch eval --pairs pairs.txt --images DIR --out DIR`.
func evalCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	pairsPath := fs.String("pairs", "", "LFW-format pairs file (required)")
	imagesDir := fs.String("images", "", "folder of <Name>/<Name>_NNNN.jpg images (required)")
	out := fs.String("out", "", "folder for summary.json (required)")
	modelDir := fs.String("model", "", "exported model folder (default $"+models.EnvModel+")")
	profile := fs.String("profile", "", "preprocessing profile (default: the manifest's)")
	det := fs.String("detector", "", "none (whole image), pigo or mtcnn: the largest face, the whole image when none is found (default: the profile's)")
	minFace := fs.Int("min-face", 0, "smallest face side to find, in pixels (default: the detector's)")
	threshold := fs.Float64("threshold", 0, "the configured threshold to report accuracy at (default: the profile's)")
	limit := fs.Int("limit", 0, "use only the first N same and N different pairs of each fold (0: all)")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fail(stderr, fs, fmt.Errorf("%w: %w", errUsage, err))
	}
	for _, name := range []string{"pairs", "images", "out"} {
		if fs.Lookup(name).Value.String() == "" {
			return fail(stderr, fs, fmt.Errorf("%w: --%s is required", errUsage, name))
		}
	}
	sum, err := evaluate(ctx, *pairsPath, *imagesDir, *modelDir, *profile, *det, detector.Options{MinSize: *minFace}, *threshold, *limit)
	if err != nil {
		return fail(stderr, fs, err)
	}
	data, err := json.MarshalIndent(sum, "", "  ")
	if err == nil {
		err = os.MkdirAll(*out, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(*out, "summary.json"), append(data, '\n'), 0o644)
	}
	if err != nil {
		return fail(stderr, fs, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "eval\t%d pairs, %d images (%d without a face), profile %s, detector %s\n", sum.Pairs, sum.Images, sum.NoFace, sum.Profile, sum.Detector)
	fmt.Fprintf(tw, "accuracy, threshold chosen on the other folds\t%.2f%% ± %.2f\n", 100*sum.AccuracyMean, 100*sum.AccuracyStd)
	fmt.Fprintf(tw, "accuracy at the configured threshold %.2f\t%.2f%% ± %.2f\n", sum.Threshold, 100*sum.ThresholdAccuracyMean, 100*sum.ThresholdAccuracyStd)
	fmt.Fprintf(tw, "ROC AUC\t%.4f\n", sum.AUC)
	fmt.Fprintf(tw, "TAR at FAR 1e-3 / 1e-2\t%.3f / %.3f\n", sum.TARAtFAR1e3, sum.TARAtFAR1e2)
	fmt.Fprintf(tw, "recommended threshold\t%.3f\n", sum.BestThreshold)
	tw.Flush()
	return exitAccepted
}

func evaluate(ctx context.Context, pairsPath, imagesDir, modelDir, profile, detName string, detOpts detector.Options, threshold float64, limit int) (*evalSummary, error) {
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
	if modelDir == "" {
		if modelDir, err = models.DefaultDir(); err != nil {
			return nil, err
		}
	}
	enc, err := encoder.Load(modelDir, encoder.Options{Profile: profile})
	if err != nil {
		return nil, err
	}
	if profile == "" {
		profile = enc.Manifest().DefaultProfile
	}
	if threshold == 0 {
		threshold = enc.Profile().Threshold
	}
	dec, err := decoder.New(0)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	p := enc.Profile()
	if detName == "" {
		detName = p.Detector
	}
	d, err := detector.New(detName, detOpts)
	if err != nil {
		return nil, err
	}
	finder := &faces.Finder{Decoder: dec, Detector: d, Size: enc.Size(), Margin: p.Margin, Resize: p.Resize, Template: faces.Template(p), Align: p.Align}

	// Encode every image once, in model batches.
	refs := pairs.Images()
	index := make(map[evaluation.ImageRef]int, len(refs))
	embs := make([][]float32, 0, len(refs))
	noFace := 0
	const batch = 32
	for start := 0; start < len(refs); start += batch {
		var imgs []image.Image
		for _, r := range refs[start:min(start+batch, len(refs))] {
			img, found, err := evalFace(finder, enc, r.Path(imagesDir))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", r, err)
			}
			if !found {
				noFace++
			}
			index[r] = len(embs) + len(imgs)
			imgs = append(imgs, img)
		}
		out, err := enc.Encode(ctx, imgs)
		if err != nil {
			return nil, err
		}
		embs = append(embs, out...)
	}

	dist := make([]float64, len(pairs.Pairs))
	for i, p := range pairs.Pairs {
		dist[i] = matcher.Distance(embs[index[p.A]], embs[index[p.B]])
	}
	same, folds := pairs.Labels()
	res, err := evaluation.KFold(dist, same, folds, threshold)
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
	return &evalSummary{
		Pairs: len(pairs.Pairs), Images: len(refs), NoFace: noFace, Folds: pairs.Folds,
		Profile: profile, Detector: detName, ModelID: enc.ModelID(),
		AccuracyMean: res.Mean, AccuracyStd: res.Std, BestThreshold: res.BestThreshold,
		Threshold: threshold, ThresholdAccuracyMean: res.FixedMean, ThresholdAccuracyStd: res.FixedStd,
		AUC: evaluation.AUC(roc), TARAtFAR1e3: tar3, TARAtFAR1e2: tar2,
		TripletLoss: loss, Triplets: triplets, FoldResults: res.Folds,
		SameHistogram: evaluation.Histogram(sameD, 0, 2, 40), DiffHistogram: evaluation.Histogram(diffD, 0, 2, 40),
		HistogramMax: 2,
	}, nil
}

// evalFace is the model input for one evaluation image: the largest face
// the detector finds, or the whole image when it finds none (LFW images are
// centred on the labelled person, and a pair must still be scored).
func evalFace(finder *faces.Finder, enc *encoder.Encoder, path string) (image.Image, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	photo, err := finder.Find(data)
	if err != nil {
		return nil, false, err
	}
	if face, ok := photo.Subject(); ok {
		return face.Input, true, nil
	}
	img, _, err := finder.Decoder.Decode(data)
	if err != nil {
		return nil, false, err
	}
	return enc.Input(img), false, nil
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
