package gallery

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/facebatch/facebatch/matcher"
)

// unit is a random unit vector of 128 values.
func unit(r *rand.Rand) []float32 {
	v := make([]float32, 128)
	var n float64
	for i := range v {
		v[i] = float32(r.NormFloat64())
		n += float64(v[i]) * float64(v[i])
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v
}

// near is v moved by about spread and renormalised.
func near(r *rand.Rand, v []float32, spread float64) []float32 {
	out := make([]float32, len(v))
	var n float64
	for i := range v {
		out[i] = v[i] + float32(spread*r.NormFloat64()/math.Sqrt(float64(len(v))))
		n += float64(out[i]) * float64(out[i])
	}
	for i := range out {
		out[i] /= float32(math.Sqrt(n))
	}
	return out
}

// calibrationRows is a gallery of identities with photos near a centre
// each; a few pairs of identities look alike, so that strangers' nearest
// distances spread.
func calibrationRows(identities, photos int) []Row {
	r := rand.New(rand.NewPCG(7, 8))
	var rows []Row
	var prev []float32
	for i := range identities {
		centre := unit(r)
		if i%10 == 1 {
			centre = near(r, prev, 0.8) // a look-alike of the previous identity
		}
		prev = centre
		for k := range photos {
			rows = append(rows, Row{
				Identity: fmt.Sprintf("id%03d", i), ImageURI: fmt.Sprintf("/g/id%03d/%d.jpg", i, k),
				Embedding: near(r, centre, 0.5), Status: StatusOK,
			})
		}
	}
	rows = append(rows, Row{Identity: "rejected", ImageURI: "/g/rejected/0.jpg", Status: StatusNoFace})
	return rows
}

// bruteForce is every ok photo's distance to the nearest photo of another
// identity, sorted.
func bruteForce(rows []Row) []float64 {
	var out []float64
	for _, a := range rows {
		if a.Status != StatusOK {
			continue
		}
		best := math.Inf(1)
		for _, b := range rows {
			if b.Status == StatusOK && b.Identity != a.Identity {
				best = math.Min(best, matcher.Distance(a.Embedding, b.Embedding))
			}
		}
		out = append(out, best)
	}
	sort.Float64s(out)
	return out
}

func TestCalibrate(t *testing.T) {
	tests := []struct {
		name               string
		identities, photos int
		fpir               float64
		wantThreshold      bool
		allowed            int // floor(fpir x searches)
	}{
		{"one photo each, 1%", 300, 1, 0.01, true, 3},
		{"three photos each, 5%", 60, 3, 0.05, true, 9},
		{"too few photos for 1%", 40, 2, 0.01, false, 0},
		{"one identity", 1, 200, 0.01, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := calibrationRows(tt.identities, tt.photos)
			c, err := Calibrate(rows, tt.fpir)
			if err != nil {
				t.Fatal(err)
			}
			if c.Identities != tt.identities || c.Method != CalibrationMethod || c.TargetFPIR != tt.fpir {
				t.Errorf("calibration %+v", c)
			}
			if !tt.wantThreshold {
				if c.Threshold != 0 || !strings.Contains(c.Note, "needs") {
					t.Errorf("threshold %v note %q, want none and why", c.Threshold, c.Note)
				}
				return
			}
			nearest := bruteForce(rows)
			// floor(fpir x searches) strangers may be under the threshold:
			// it is the next one's distance. Look-alike identities are each
			// other's nearest, so distances come in tied pairs and fewer
			// may be under it.
			k := tt.allowed
			want := nearest[k]
			fp := sort.SearchFloat64s(nearest, want)
			if c.Searches != len(nearest) || math.Abs(c.Threshold-want) > 1e-5 || c.FalsePositives != fp || fp > k {
				t.Errorf("threshold %.5f from %d searches, %d under it; want %.5f from %d, %d (at most %d)", c.Threshold, c.Searches, c.FalsePositives, want, len(nearest), fp, k)
			}
		})
	}
}

func TestCalibrateSamples(t *testing.T) {
	rows := calibrationRows(MaxCalibrationSearches/2+10, 2)
	c, err := Calibrate(rows, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	if c.Searches != MaxCalibrationSearches || c.Threshold <= 0 {
		t.Errorf("%d searches, threshold %v; want %d and a threshold", c.Searches, c.Threshold, MaxCalibrationSearches)
	}
	again, _ := Calibrate(rows, 0.01)
	if again.Threshold != c.Threshold {
		t.Errorf("a second calibration gave %v, the first %v", again.Threshold, c.Threshold)
	}
}

func TestCalibrateRefusesFPIR(t *testing.T) {
	for _, f := range []float64{0, 1, -0.1, math.NaN()} {
		if _, err := Calibrate(calibrationRows(5, 1), f); err == nil {
			t.Errorf("Calibrate(FPIR %v) succeeded", f)
		}
	}
}
