package accuracy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/facebatch/facebatch/evaluation"
	"github.com/facebatch/facebatch/gallery"
)

// openSetTrials are four mated searches (one named wrongly) and two
// strangers, the second stranger close to two identities.
func openSetTrials() []evaluation.Trial {
	ranked := func(a string, da float64, b string, db float64) []evaluation.Ranked {
		return []evaluation.Ranked{{Identity: a, Distance: da}, {Identity: b, Distance: db}}
	}
	return []evaluation.Trial{
		{Identity: "ann", Enrolled: true, Ranked: ranked("ann", 0.5, "bob", 0.9)},
		{Identity: "ann", Enrolled: true, Ranked: ranked("bob", 0.6, "ann", 0.7)},
		{Identity: "bob", Enrolled: true, Ranked: ranked("bob", 0.8, "ann", 0.85)},
		{Identity: "cy", Enrolled: true, Ranked: ranked("cy", 1.1, "ann", 1.5)},
		{Identity: "dee", Ranked: ranked("ann", 0.9, "bob", 1.3)},
		{Identity: "eve", Ranked: ranked("ann", 0.7, "bob", 0.72)},
	}
}

func TestScoreOpenSet(t *testing.T) {
	rules := []evaluation.Rule{{}, {MinMargin: 0.1}}
	size, err := scoreOpenSet(openSetTrials(), 3, 0.5, rules)
	if err != nil {
		t.Fatal(err)
	}
	if size.Identities != 3 || size.Mated != 4 || size.NonMated != 2 || size.Rank1 != 0.75 || len(size.det) == 0 {
		t.Errorf("size %+v, want 3 identities, 4 mated, 2 non-mated, rank-1 0.75 and a DET curve", size)
	}
	tests := []struct {
		rule     string
		atTarget OperatingPoint
	}{
		// One of the two strangers may be named: the threshold is the
		// second nearest's distance.
		{"nearest", OperatingPoint{TargetFPIR: 0.5, Threshold: 0.9, FPIR: 0.5, FNIR: 0.5, FalsePositives: 1, Misses: 2}},
		// The margin rule never accepts the stranger at 0.7, nor the mated
		// search at 0.8.
		{"margin 0.1", OperatingPoint{TargetFPIR: 0.5, Threshold: 2, FPIR: 0.5, FNIR: 0.5, FalsePositives: 1, Misses: 2}},
	}
	if len(size.Rules) != len(tests) {
		t.Fatalf("%d rules, want %d", len(size.Rules), len(tests))
	}
	for i, tt := range tests {
		r := size.Rules[i]
		if r.Rule != tt.rule || r.AtTarget != tt.atTarget || len(r.Points) != len(reportedFPIRs) {
			t.Errorf("rule %d: %s at target %+v (%d points), want %s at %+v", i, r.Rule, r.AtTarget, len(r.Points), tt.rule, tt.atTarget)
		}
		for j, p := range r.Points {
			if p.TargetFPIR != reportedFPIRs[j] || p.FalsePositives != 0 {
				t.Errorf("rule %s, point %d: %+v, want none of two strangers named at FPIR %v", r.Rule, j, p, reportedFPIRs[j])
			}
		}
	}
	if _, err := scoreOpenSet(openSetTrials()[:4], 3, 0.5, rules); !errors.Is(err, evaluation.ErrNoSearches) {
		t.Errorf("without strangers: %v, want evaluation.ErrNoSearches", err)
	}
}

func TestSampleIdentities(t *testing.T) {
	var gal []galleryPhoto
	for i := range 10 {
		id := fmt.Sprintf("id%02d", i)
		// Two photos each, so that identities are counted once.
		gal = append(gal, galleryPhoto{Photo: gallery.Photo{Identity: id}}, galleryPhoto{Photo: gallery.Photo{Identity: id}})
	}
	reversed := slices.Clone(gal)
	slices.Reverse(reversed)
	for _, n := range []int{1, 5, 10, 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			got := sampleIdentities(gal, n)
			if len(got) != min(n, 10) {
				t.Errorf("%d identities sampled, want %d", len(got), min(n, 10))
			}
			// The sample depends on the identities, not on the gallery's
			// order, so that runs and galleries compare.
			if again := sampleIdentities(reversed, n); !maps.Equal(got, again) {
				t.Errorf("samples differ: %v and %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(again)))
			}
		})
	}
}

// openSetSummary is a two-size open-set summary for the text and report
// tests.
func openSetSummary(target float64) *OpenSetSummary {
	rule := func(name string, margin float64, fnir float64) OpenSetRule {
		p := func(fpir float64) OperatingPoint {
			return OperatingPoint{TargetFPIR: fpir, Threshold: 0.5 + fpir, FPIR: fpir / 2, FNIR: fnir}
		}
		return OpenSetRule{Rule: name, MinMargin: margin, AtTarget: p(target), Points: []OperatingPoint{p(0.01), p(0.001)}}
	}
	return &OpenSetSummary{TargetFPIR: target, Sizes: []OpenSetSize{
		{Identities: 100, Mated: 900, NonMated: 1000, Rank1: 0.95, Rules: []OpenSetRule{rule("nearest", 0, 0.125), rule("margin 0.05", 0.05, 0.25)}},
		{Identities: 5749, Mated: 1680, NonMated: 4069, Rank1: 0.875, Rules: []OpenSetRule{rule("nearest", 0, 0.5)}},
	}}
}

// TestOpenSetWriteText pins the open-set table: a column per reported FPIR,
// and one for the target unless it is one of them.
func TestOpenSetWriteText(t *testing.T) {
	tests := []struct {
		target float64
		want   string
	}{
		{0.01, `open set: FNIR (known people not named right) at FPIR (strangers named), threshold in brackets
  identities mated    non-mated    rank-1   rule            FNIR@FPIR 1%          FNIR@FPIR 0.1%      
  100        900      1000         95.00%   nearest         12.50% (0.510)        12.50% (0.501)      
                                            margin 0.05     25.00% (0.510)        25.00% (0.501)      
  5749       1680     4069         87.50%   nearest         50.00% (0.510)        50.00% (0.501)      
`},
		{0.05, `open set: FNIR (known people not named right) at FPIR (strangers named), threshold in brackets
  identities mated    non-mated    rank-1   rule            FNIR@FPIR 1%          FNIR@FPIR 0.1%        FNIR@FPIR 5%        
  100        900      1000         95.00%   nearest         12.50% (0.510)        12.50% (0.501)        12.50% (0.550)      
                                            margin 0.05     25.00% (0.510)        25.00% (0.501)        25.00% (0.550)      
  5749       1680     4069         87.50%   nearest         50.00% (0.510)        50.00% (0.501)        50.00% (0.550)      
`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.target), func(t *testing.T) {
			var out strings.Builder
			openSetSummary(tt.target).writeText(&out)
			if out.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", out.String(), tt.want)
			}
		})
	}
}

func TestOpenSetSection(t *testing.T) {
	if sec := openSetSection(nil); sec.Empty == "" || len(sec.Stats) != 0 || len(sec.Charts) != 0 {
		t.Errorf("without strangers: %+v, want only the empty note", sec)
	}
	sec := openSetSection(openSetSummary(0.05))
	// Per size and rule: the reported FPIRs and the target.
	if len(sec.Stats) != 3*3 || len(sec.Charts) != 1 {
		t.Fatalf("%d stats and %d charts, want 9 and 1", len(sec.Stats), len(sec.Charts))
	}
	first, last := sec.Stats[0], sec.Stats[len(sec.Stats)-1]
	if first.Key != "fnir_n100_nearest_fpir0.01" || first.Value != "12.50% at threshold 0.510 (FPIR 0.50%, rank-1 95.00%)" {
		t.Errorf("first stat %+v", first)
	}
	if last.Key != "fnir_n5749_nearest_fpir0.05" || last.Label != "5749 identities, nearest: FNIR at FPIR 5%" {
		t.Errorf("last stat %+v", last)
	}
	if margin := sec.Stats[3].Key; margin != "fnir_n100_margin0.05_fpir0.01" {
		t.Errorf("a margin rule's key %q: the rule's name without spaces", margin)
	}
}
