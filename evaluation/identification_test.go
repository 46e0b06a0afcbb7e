package evaluation

import (
	"errors"
	"reflect"
	"slices"
	"testing"
)

func ranked(pairs ...any) []Ranked {
	var out []Ranked
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Ranked{pairs[i].(string), pairs[i+1].(float64)})
	}
	return out
}

func TestIdentification(t *testing.T) {
	trials := []Trial{
		{Identity: "ann", Enrolled: true, Ranked: ranked("ann", 0.5, "bob", 0.9, "cy", 1.2)}, // correct
		{Identity: "ann", Enrolled: true, Ranked: ranked("bob", 0.6, "ann", 0.7, "cy", 1.3)}, // misidentified, rank 2
		{Identity: "bob", Enrolled: true, Ranked: ranked("bob", 1.1, "ann", 1.4, "cy", 1.5)}, // rejected at 1.0
		{Identity: "cy", Enrolled: true, Ranked: ranked("ann", 1.2, "bob", 1.3, "cy", 1.4)},  // rejected, rank 3
		{Identity: "dee", Ranked: ranked("ann", 0.95)},                                       // unknown accepted
		{Identity: "dee", Ranked: ranked("bob", 1.0)},                                        // unknown rejected (not strictly below)
		{Identity: "eve"}, // nothing to match: rejected
	}
	got, err := Identification(trials, 1.0, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := IdentificationResult{
		Threshold: 1.0, Enrolled: 4, Unknown: 3,
		RankRate: []float64{0.5, 0.75},
		Correct:  1, DetectionRate: 0.25, Misidentified: 1, Rejected: 2,
		UnknownAccepted: 1, UnknownFAR: 1.0 / 3,
	}
	if !slices.Equal(got.RankRate, want.RankRate) {
		t.Errorf("RankRate = %v, want %v", got.RankRate, want.RankRate)
	}
	got.RankRate, want.RankRate = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Identification =\n%+v\nwant\n%+v", got, want)
	}
}

func TestIdentificationEdges(t *testing.T) {
	if _, err := Identification(nil, 1, 1); !errors.Is(err, ErrNoTrials) {
		t.Errorf("no trials: %v, want ErrNoTrials", err)
	}
	// Only unknown trials: enrolled rates are 0, not NaN.
	got, err := Identification([]Trial{{Identity: "x", Ranked: ranked("a", 0.1)}}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Enrolled != 0 || got.DetectionRate != 0 || len(got.RankRate) != 1 || got.RankRate[0] != 0 || got.UnknownFAR != 1 {
		t.Errorf("unknown only: %+v", got)
	}
}
