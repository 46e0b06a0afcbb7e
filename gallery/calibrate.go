package gallery

import (
	"fmt"
	"math"
	"sort"

	"github.com/facebatch/facebatch/evaluation"
)

// CalibrationMethod names how Calibrate measures strangers: each sampled
// photo is searched against the gallery without its own identity, so it
// stands for a stranger meeting a gallery of (almost) this size.
const CalibrationMethod = "leave_one_identity_out"

// DefaultCalibrationFPIR is the share of strangers the gallery job's
// threshold lets be named as someone by default.
const DefaultCalibrationFPIR = 0.01

// MaxCalibrationSearches bounds the photos Calibrate searches; a larger
// gallery's are sampled, the same ones on every run.
const MaxCalibrationSearches = 5000

// Calibration is the threshold a gallery carries for identification
// against it: the largest at which at most TargetFPIR of strangers would
// be named as one of its identities. The more identities a gallery holds,
// the nearer a stranger's nearest one lies, so the threshold falls as the
// gallery grows (docs/open-set.md).
type Calibration struct {
	TargetFPIR float64 `json:"target_fpir"`
	// Threshold is 0 when the gallery is too small to calibrate (Note
	// says why); identify then uses the profile's.
	Threshold float64 `json:"threshold"`
	Method    string  `json:"method"`
	// Identities in the gallery; Searches made, FalsePositives of them
	// under Threshold.
	Identities     int    `json:"identities"`
	Searches       int    `json:"searches"`
	FalsePositives int    `json:"false_positives"`
	Note           string `json:"note,omitempty"`
}

// Calibrate measures the threshold for targetFPIR on the gallery's own ok
// rows: each photo (up to MaxCalibrationSearches of them) is searched
// against the other identities, and the threshold is the largest under
// which at most targetFPIR of those searches find anyone. It needs at
// least 1/targetFPIR searches (100 photos of two identities or more at
// 1%); a smaller gallery gets Threshold 0 and a Note.
func Calibrate(rows []Row, targetFPIR float64) (*Calibration, error) {
	if !(targetFPIR > 0 && targetFPIR < 1) {
		return nil, fmt.Errorf("gallery: calibration FPIR %v is outside (0, 1)", targetFPIR)
	}
	c := &Calibration{TargetFPIR: targetFPIR, Method: CalibrationMethod}
	var ok []int
	ids := map[string]bool{}
	for i := range rows {
		if rows[i].Status == StatusOK {
			ok = append(ok, i)
			ids[rows[i].Identity] = true
		}
	}
	c.Identities = len(ids)
	need := int(math.Ceil(1/targetFPIR - 1e-9))
	if c.Identities < 2 || len(ok) < need {
		c.Note = fmt.Sprintf("%d photos of %d identities: calibrating for FPIR %g%% needs %d photos of 2 identities or more", len(ok), c.Identities, 100*targetFPIR, need)
		return c, nil
	}
	g, err := Build(rows, 2)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	probes := sampleRows(rows, ok, MaxCalibrationSearches)
	encs := make([][]float32, len(probes))
	for i, r := range probes {
		encs[i] = rows[r].Embedding
	}
	// Three candidates: the photo's own identity is among them at most
	// once, leaving the nearest other identity.
	found, err := g.IdentifyBatch(encs, 3)
	if err != nil {
		return nil, fmt.Errorf("gallery: calibrating: %w", err)
	}
	nearest := make([]float64, 0, len(found))
	for i, id := range found {
		for _, cand := range id.Candidates {
			if cand.Identity != rows[probes[i]].Identity {
				nearest = append(nearest, cand.Distance)
				break
			}
		}
	}
	sort.Float64s(nearest)
	c.Searches = len(nearest)
	c.Threshold = evaluation.ThresholdForFPIR(nearest, targetFPIR)
	c.FalsePositives = sort.SearchFloat64s(nearest, c.Threshold)
	return c, nil
}

// sampleRows is up to n of the indices ok, evenly spread over them in
// the rows' order (their image URIs, once written), so the same gallery
// gives the same sample.
func sampleRows(rows []Row, ok []int, n int) []int {
	sort.Slice(ok, func(a, b int) bool { return rows[ok[a]].ImageURI < rows[ok[b]].ImageURI })
	if len(ok) <= n {
		return ok
	}
	out := make([]int, n)
	for i := range out {
		out[i] = ok[i*len(ok)/n]
	}
	return out
}
