package evaluation

import (
	"errors"
	"math"
	"testing"
)

// openSetTrials is a hand-made fixture: four mated searches (one named
// wrongly) and four strangers, with the margins to the runner-up chosen so
// that the margin rule drops some of each.
func openSetTrials() []Trial {
	return []Trial{
		{Identity: "ann", Enrolled: true, Ranked: ranked("ann", 0.5, "bob", 0.9)},  // right, margin 0.4
		{Identity: "ann", Enrolled: true, Ranked: ranked("bob", 0.6, "ann", 0.7)},  // wrong name: a miss at any threshold
		{Identity: "bob", Enrolled: true, Ranked: ranked("bob", 0.8, "ann", 0.85)}, // right, margin 0.05
		{Identity: "cy", Enrolled: true, Ranked: ranked("cy", 1.1, "ann", 1.5)},    // right, margin 0.4
		{Identity: "dee", Ranked: ranked("ann", 0.7, "bob", 0.72)},                 // margin 0.02
		{Identity: "dee", Ranked: ranked("bob", 0.9, "cy", 1.3)},                   // margin 0.4
		{Identity: "eve", Ranked: ranked("cy", 1.0, "ann", 1.05)},                  // margin 0.05
		{Identity: "eve", Ranked: ranked("ann", 1.2, "bob", 1.6)},                  // margin 0.4
	}
}

func TestOpenSet(t *testing.T) {
	tests := []struct {
		name   string
		rule   Rule
		at     float64 // At(at)
		target float64 // AtFPIR(target)
		want   OperatingPoint
		wantAt OperatingPoint
	}{
		{
			name: "nearest, FPIR 25%", rule: Rule{}, at: 1.0, target: 0.25,
			// One stranger may be named: the threshold is the second's distance.
			want:   OperatingPoint{Threshold: 0.9, FPIR: 0.25, FalsePositives: 1, FNIR: 0.5, Misses: 2},
			wantAt: OperatingPoint{Threshold: 1.0, FPIR: 0.5, FalsePositives: 2, FNIR: 0.5, Misses: 2},
		},
		{
			name: "nearest, FPIR 10%: none of four may be named", rule: Rule{}, at: 0.5, target: 0.1,
			want: OperatingPoint{Threshold: 0.7, FPIR: 0, FalsePositives: 0, FNIR: 0.75, Misses: 3},
			// Strictly below: the 0.5 search is not accepted at 0.5.
			wantAt: OperatingPoint{Threshold: 0.5, FPIR: 0, FalsePositives: 0, FNIR: 1, Misses: 4},
		},
		{
			name: "nearest, FPIR 100%: the threshold caps at 2", rule: Rule{}, at: 2, target: 1,
			want:   OperatingPoint{Threshold: 2, FPIR: 1, FalsePositives: 4, FNIR: 0.25, Misses: 1},
			wantAt: OperatingPoint{Threshold: 2, FPIR: 1, FalsePositives: 4, FNIR: 0.25, Misses: 1},
		},
		{
			// Margin 0.1 drops the strangers at 0.7 and 1.0 and the mated
			// search at 0.8; the threshold for one stranger is now 1.2.
			name: "margin 0.1, FPIR 25%", rule: Rule{MinMargin: 0.1}, at: 1.0, target: 0.25,
			want:   OperatingPoint{Threshold: 1.2, FPIR: 0.25, FalsePositives: 1, FNIR: 0.5, Misses: 2},
			wantAt: OperatingPoint{Threshold: 1.0, FPIR: 0.25, FalsePositives: 1, FNIR: 0.75, Misses: 3},
		},
		{
			name: "margin 0.1, FPIR 50%: both strangers the rule accepts", rule: Rule{MinMargin: 0.1}, at: 1.25, target: 0.5,
			want:   OperatingPoint{Threshold: 2, FPIR: 0.5, FalsePositives: 2, FNIR: 0.5, Misses: 2},
			wantAt: OperatingPoint{Threshold: 1.25, FPIR: 0.5, FalsePositives: 2, FNIR: 0.5, Misses: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := OpenSet(openSetTrials(), tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			if r.Mated != 4 || r.NonMated != 4 || r.Rank1 != 0.75 {
				t.Errorf("mated %d, non-mated %d, rank-1 %v; want 4, 4, 0.75", r.Mated, r.NonMated, r.Rank1)
			}
			if got := r.AtFPIR(tt.target); got != tt.want {
				t.Errorf("AtFPIR(%v) = %+v, want %+v", tt.target, got, tt.want)
			}
			if got := r.At(tt.at); got != tt.wantAt {
				t.Errorf("At(%v) = %+v, want %+v", tt.at, got, tt.wantAt)
			}
		})
	}
}

func TestOpenSetMarginOneIdentity(t *testing.T) {
	// No runner-up: the margin rule cannot reject.
	trials := []Trial{
		{Identity: "ann", Enrolled: true, Ranked: ranked("ann", 0.4)},
		{Identity: "bob", Ranked: ranked("ann", 0.9)},
	}
	r, err := OpenSet(trials, Rule{MinMargin: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.At(1); got.FPIR != 1 || got.FNIR != 0 {
		t.Errorf("At(1) = %+v, want both searches accepted", got)
	}
}

func TestOpenSetNeedsBothKinds(t *testing.T) {
	for _, trials := range [][]Trial{
		{{Identity: "ann", Enrolled: true, Ranked: ranked("ann", 0.4)}},
		{{Identity: "bob", Ranked: ranked("ann", 0.9)}},
		nil,
	} {
		if _, err := OpenSet(trials, Rule{}); !errors.Is(err, ErrNoSearches) {
			t.Errorf("OpenSet(%d trials) error = %v, want ErrNoSearches", len(trials), err)
		}
	}
}

func TestDET(t *testing.T) {
	r, err := OpenSet(openSetTrials(), Rule{})
	if err != nil {
		t.Fatal(err)
	}
	pts := r.DET(100)
	wantFPIR := []float64{1, 0.75, 0.5, 0.25, 0}
	if len(pts) != len(wantFPIR) {
		t.Fatalf("DET has %d points, want %d: %+v", len(pts), len(wantFPIR), pts)
	}
	for i, p := range pts {
		if p.FPIR != wantFPIR[i] {
			t.Errorf("point %d FPIR = %v, want %v", i, p.FPIR, wantFPIR[i])
		}
		if i > 0 && p.FNIR < pts[i-1].FNIR {
			t.Errorf("FNIR falls from %v to %v as the threshold tightens", pts[i-1].FNIR, p.FNIR)
		}
	}
	if last := pts[len(pts)-1]; last.FNIR != 0.75 || math.IsInf(last.Threshold, 0) {
		t.Errorf("last point %+v, want FNIR 0.75 at the nearest stranger's distance", last)
	}
	if got := len(r.DET(2)); got > 3 {
		t.Errorf("DET(2) has %d points, want at most 3", got)
	}
}

func TestRuleString(t *testing.T) {
	for rule, want := range map[Rule]string{{}: "nearest", {MinMargin: 0.05}: "margin 0.05"} {
		if got := rule.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", rule, got, want)
		}
	}
}
