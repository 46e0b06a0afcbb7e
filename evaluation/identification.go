package evaluation

import "errors"

// ErrNoTrials is returned by Identification when there is nothing to score.
var ErrNoTrials = errors.New("evaluation: no identification trials")

// Trial is one 1:N identification attempt: a probe photo searched against a
// gallery.
type Trial struct {
	// Identity is who the probe shows.
	Identity string
	// Enrolled reports whether Identity is in the gallery searched. A trial
	// with Enrolled false measures the unknown-person false accept rate.
	Enrolled bool
	// Ranked lists gallery identities nearest first, with their distances
	// (as matcher.Gallery.Identify returns them).
	Ranked []Ranked
}

// Ranked is one gallery identity and its distance to the probe.
type Ranked struct {
	Identity string
	Distance float64
}

// IdentificationResult summarises 1:N trials at one threshold. A probe is
// accepted as its nearest identity when that distance is strictly below the
// threshold.
type IdentificationResult struct {
	Threshold float64
	// Enrolled and Unknown count the two kinds of trial.
	Enrolled, Unknown int
	// RankRate[k-1] is the closed-set rank-k identification rate: the
	// fraction of enrolled trials whose identity is among the k nearest,
	// whatever the threshold.
	RankRate []float64
	// Correct counts enrolled trials whose nearest identity is right and
	// accepted; DetectionRate is Correct / Enrolled, the open-set detection
	// and identification rate at the threshold.
	Correct       int
	DetectionRate float64
	// Misidentified counts enrolled trials accepted as someone else;
	// Rejected those whose nearest distance is not under the threshold.
	Misidentified, Rejected int
	// UnknownAccepted counts unknown trials accepted as someone;
	// UnknownFAR is UnknownAccepted / Unknown.
	UnknownAccepted int
	UnknownFAR      float64
}

// Identification scores trials at threshold, with rank rates up to maxRank.
// Rates over an empty class are 0.
func Identification(trials []Trial, threshold float64, maxRank int) (IdentificationResult, error) {
	if len(trials) == 0 {
		return IdentificationResult{}, ErrNoTrials
	}
	maxRank = max(maxRank, 1)
	res := IdentificationResult{Threshold: threshold, RankRate: make([]float64, maxRank)}
	hits := make([]int, maxRank)
	for _, t := range trials {
		if !t.Enrolled {
			res.Unknown++
			if len(t.Ranked) > 0 && t.Ranked[0].Distance < threshold {
				res.UnknownAccepted++
			}
			continue
		}
		res.Enrolled++
		for k, r := range t.Ranked {
			if r.Identity == t.Identity {
				for j := k; j < maxRank; j++ {
					hits[j]++
				}
				break
			}
		}
		switch {
		case len(t.Ranked) == 0 || t.Ranked[0].Distance >= threshold:
			res.Rejected++
		case t.Ranked[0].Identity == t.Identity:
			res.Correct++
		default:
			res.Misidentified++
		}
	}
	if res.Enrolled > 0 {
		for k, h := range hits {
			res.RankRate[k] = float64(h) / float64(res.Enrolled)
		}
		res.DetectionRate = float64(res.Correct) / float64(res.Enrolled)
	}
	if res.Unknown > 0 {
		res.UnknownFAR = float64(res.UnknownAccepted) / float64(res.Unknown)
	}
	return res, nil
}
