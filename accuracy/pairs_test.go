package accuracy

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/facebatch/facebatch/evaluation"
	"github.com/facebatch/facebatch/report/html"

	"github.com/facebatch/facebatch/internal/browser/browsertest"
)

// TestPairs runs the verification benchmark on a small LFW subset (6 same
// and 6 different pairs of each of the 5 folds) and checks the summary's
// numbers agree with each other and with the page.
func TestPairs(t *testing.T) {
	sum, page, err := Pairs(context.Background(), PairsConfig{
		Model:     ModelConfig{Profile: "notebook", Detector: "pigo"},
		PairsFile: lfwPairs, ImagesDir: lfwImages, Limit: 6,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Pairs != 60 || sum.Images < 60 || sum.Folds != 5 || len(sum.FoldResults) != 5 ||
		sum.Profile != "notebook" || sum.Detector != "pigo" || !strings.HasPrefix(sum.ModelID, "facenet-keras-") {
		t.Errorf("pairs %d, images %d, folds %d (%d results), profile %s, detector %s, model %s",
			sum.Pairs, sum.Images, sum.Folds, len(sum.FoldResults), sum.Profile, sum.Detector, sum.ModelID)
	}
	for name, v := range map[string]float64{"accuracy": sum.AccuracyMean, "AUC": sum.AUC, "TAR at FAR 1e-3": sum.TARAtFAR1e3,
		"TAR at FAR 1e-2": sum.TARAtFAR1e2, "accuracy at the threshold": sum.ThresholdAccuracyMean} {
		if v < 0 || v > 1 {
			t.Errorf("%s = %v, outside [0, 1]", name, v)
		}
	}
	// These weights separate LFW pairs well above chance even with the
	// notebook's preprocessing (96% on all 3000 pairs).
	if sum.AUC < 0.85 || sum.AccuracyMean < 0.75 {
		t.Errorf("AUC %v, accuracy %v: far below what these weights reach", sum.AUC, sum.AccuracyMean)
	}
	if sum.BestThreshold <= 0 || sum.BestThreshold > 2 || sum.Threshold != 0.7 {
		t.Errorf("recommended threshold %v, configured %v; want one in (0, 2] and the profile's 0.7", sum.BestThreshold, sum.Threshold)
	}
	if sum.Triplets != 30 || sum.TripletLoss < 0 {
		t.Errorf("%d triplets, loss %v; want one per same-person pair", sum.Triplets, sum.TripletLoss)
	}
	// Distances of unit encodings lie in [0, 2], the histograms' range.
	if same, diff := total(sum.SameHistogram), total(sum.DiffHistogram); same != 30 || diff != 30 || sum.HistogramMax != 2 {
		t.Errorf("histograms hold %d same and %d different pairs over [0, %v], want 30 and 30 over [0, 2]", same, diff, sum.HistogramMax)
	}
	checkHardest(t, sum)
	checkPairsPage(t, sum, page)

	var out strings.Builder
	if err := sum.WriteText(&out, "out/report.html"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("recommended threshold                          %.3f\n", sum.BestThreshold), "report                                         out/report.html\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
}

func total(counts []int) (n int) {
	for _, c := range counts {
		n += c
	}
	return n
}

// checkHardest checks the hardest pairs: as many as the report shows, the
// closest different-person pairs and the farthest same-person ones first,
// with their errors as their distances imply.
func checkHardest(t *testing.T, sum *PairsSummary) {
	t.Helper()
	for _, tt := range []struct {
		name  string
		pairs []PairDistance
		same  bool
	}{{"false accepts", sum.WorstFalseAccepts, false}, {"false rejects", sum.WorstFalseRejects, true}} {
		if len(tt.pairs) != hardestPairs {
			t.Errorf("%d %s, want %d", len(tt.pairs), tt.name, hardestPairs)
		}
		d := make([]float64, len(tt.pairs))
		for i, p := range tt.pairs {
			d[i] = p.Distance
			if got, want := p.ErrorAtBest, (p.Distance < sum.BestThreshold) != tt.same; got != want {
				t.Errorf("%s %s-%s at %.3f: error at the recommended threshold %v, want %v", tt.name, p.A, p.B, p.Distance, got, want)
			}
			if got, want := p.ErrorAtThreshold, (p.Distance < sum.Threshold) != tt.same; got != want {
				t.Errorf("%s %s-%s at %.3f: error at the threshold %v, want %v", tt.name, p.A, p.B, p.Distance, got, want)
			}
		}
		if tt.same {
			slices.Reverse(d)
		}
		if !slices.IsSorted(d) {
			t.Errorf("%s not hardest first: %v", tt.name, d)
		}
	}
}

// checkPairsPage renders the verification page and checks it against the
// summary: the numbers, both charts, and the hardest pairs with four
// pictures each.
func checkPairsPage(t *testing.T, sum *PairsSummary, page *html.Page) {
	t.Helper()
	p := render(t, page, true)
	for key, want := range map[string]string{
		"pairs":          fmt.Sprint(sum.Pairs),
		"auc":            fmt.Sprintf("%.4f", sum.AUC),
		"best_threshold": fmt.Sprintf("%.3f", sum.BestThreshold),
		"triplet_loss":   fmt.Sprintf("%.3f", sum.TripletLoss),
	} {
		if got := browsertest.Stat(t, p, key); got != want {
			t.Errorf("page shows %s = %q, summary %q", key, got, want)
		}
	}
	if n := browsertest.Count(t, p, `svg[data-chart=histogram] line.marker`); n != 2 {
		t.Errorf("histogram has %d threshold markers, want 2 (configured and recommended)", n)
	}
	if n := browsertest.Count(t, p, `svg[data-chart=curve] path.line`); n != 1 {
		t.Errorf("%d ROC curves, want 1", n)
	}
	for _, sec := range []struct {
		id    string
		pairs []PairDistance
	}{{"false-accepts", sum.WorstFalseAccepts}, {"false-rejects", sum.WorstFalseRejects}} {
		errors := 0
		for _, pd := range sec.pairs {
			if pd.ErrorAtBest {
				errors++
			}
		}
		sel := fmt.Sprintf("[data-section=%s] .group", sec.id)
		if n := browsertest.Count(t, p, sel); n != len(sec.pairs) {
			t.Errorf("%s: %d groups on the page, %d in the summary", sec.id, n, len(sec.pairs))
		}
		if n := browsertest.Count(t, p, sel+" img"); n != 4*len(sec.pairs) {
			t.Errorf("%s: %d pictures, want 4 per pair", sec.id, n)
		}
		if n := browsertest.Count(t, p, sel+".error"); n != errors {
			t.Errorf("%s: %d marked as errors, the summary %d", sec.id, n, errors)
		}
	}
}

func TestPairsErrors(t *testing.T) {
	dir := t.TempDir()
	malformed := filepath.Join(dir, "malformed.txt")
	if err := os.WriteFile(malformed, []byte("5 300\nAaron_Peirsol 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	model := ModelConfig{Profile: "notebook", Detector: "pigo"}
	tests := []struct {
		name string
		cfg  PairsConfig
		want string
	}{
		{"missing pairs file", PairsConfig{Model: model, PairsFile: filepath.Join(dir, "none.txt"), ImagesDir: lfwImages}, "no such file"},
		{"malformed pairs file", PairsConfig{Model: model, PairsFile: malformed, ImagesDir: lfwImages}, malformed + ": pairs line 2"},
		{"missing images", PairsConfig{Model: model, PairsFile: lfwPairs, ImagesDir: dir, Limit: 1}, "no such file"},
		{"unknown profile", PairsConfig{Model: ModelConfig{Profile: "magic"}, PairsFile: lfwPairs, ImagesDir: lfwImages}, `no profile "magic"`},
		{"unknown detector", PairsConfig{Model: ModelConfig{Detector: "haar"}, PairsFile: lfwPairs, ImagesDir: lfwImages}, `unknown detector "haar"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, page, err := Pairs(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || sum != nil || page != nil {
				t.Errorf("error %v (summary %v, page %v), want one with %q", err, sum != nil, page != nil, tt.want)
			}
		})
	}
}

// TestPairsWriteText pins the printed table: its columns line up, the
// report's path included.
func TestPairsWriteText(t *testing.T) {
	sum := &PairsSummary{
		Pairs: 600, Images: 1000, NoFace: 3, Profile: "notebook", Detector: "pigo", Precision: "bf16",
		AccuracyMean: 0.9512, AccuracyStd: 0.0123, Threshold: 0.7, ThresholdAccuracyMean: 0.8, ThresholdAccuracyStd: 0.05,
		AUC: 0.98765, TARAtFAR1e3: 0.5, TARAtFAR1e2: 0.75, BestThreshold: 1.1234,
	}
	want := `eval                                           600 pairs, 1000 images (3 without a face), profile notebook, detector pigo, bf16
accuracy, threshold chosen on the other folds  95.12% ± 1.23
accuracy at the configured threshold 0.70      80.00% ± 5.00
ROC AUC                                        0.9877
TAR at FAR 1e-3 / 1e-2                         0.500 / 0.750
recommended threshold                          1.123
report                                         out/report.html
`
	var out strings.Builder
	if err := sum.WriteText(&out, "out/report.html"); err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// TestPairTriplets checks each same-person pair is the anchor and positive
// of a triplet whose negative is the second image of the different-person
// pair at its position in the fold, and that the losses add up.
func TestPairTriplets(t *testing.T) {
	ref := func(name string, i int) evaluation.ImageRef { return evaluation.ImageRef{Name: name, Index: i} }
	p := &evaluation.Pairs{Folds: 3, PerClass: 1, Pairs: []evaluation.Pair{
		{Fold: 0, Same: true, A: ref("ann", 1), B: ref("ann", 2)},
		{Fold: 0, A: ref("bob", 1), B: ref("cy", 1)},
		{Fold: 1, Same: true, A: ref("dan", 1), B: ref("dan", 2)},
		{Fold: 1, A: ref("eve", 1), B: ref("fay", 1)},
		{Fold: 2, Same: true, A: ref("gus", 1), B: ref("gus", 2)}, // no different-person pair to go with
	}}
	embs := map[evaluation.ImageRef][]float32{
		// ann_2 is 2 from ann_1 (squared), cy_1 on it: a loss of 2 + 0.2.
		ref("ann", 1): {1, 0}, ref("ann", 2): {0, 1}, ref("bob", 1): {0, 1}, ref("cy", 1): {1, 0},
		// dan_2 on dan_1, fay_1 opposite: no loss.
		ref("dan", 1): {1, 0}, ref("dan", 2): {1, 0}, ref("eve", 1): {0, 1}, ref("fay", 1): {-1, 0},
		ref("gus", 1): {1, 0}, ref("gus", 2): {0, 1},
	}
	var all [][]float32
	index := map[evaluation.ImageRef]int{}
	for _, r := range p.Images() {
		index[r] = len(all)
		all = append(all, embs[r])
	}
	loss, n, err := pairTriplets(p, all, index)
	if err != nil || n != 2 || math.Abs(loss-2.2) > 1e-9 {
		t.Errorf("loss %v over %d triplets (%v), want 2.2 over 2", loss, n, err)
	}
}
