package accuracy

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/facebatch/facebatch/charts"
	"github.com/facebatch/facebatch/evaluation"
	"github.com/facebatch/facebatch/report/html"
)

// reportedFPIRs are the FPIRs every open-set table reports, besides the
// target.
var reportedFPIRs = []float64{0.01, 0.001}

// detPoints bounds the points of a DET curve on the report.
const detPoints = 200

// OpenSetSummary is NIST-style FNIR at fixed FPIRs, per gallery size and
// decision rule.
type OpenSetSummary struct {
	TargetFPIR float64       `json:"target_fpir"`
	Sizes      []OpenSetSize `json:"sizes"`
}

// OpenSetSize is the searches against one gallery: all identities, or a
// sample of them (the probes of the identities left out become strangers).
type OpenSetSize struct {
	Identities int           `json:"gallery_identities"`
	Mated      int           `json:"mated_searches"`
	NonMated   int           `json:"non_mated_searches"`
	Rank1      float64       `json:"rank1_rate"`
	Rules      []OpenSetRule `json:"rules"`
	det        []evaluation.OperatingPoint
}

// OpenSetRule is one decision rule's operating points.
type OpenSetRule struct {
	Rule      string           `json:"rule"`
	MinMargin float64          `json:"min_margin"`
	AtTarget  OperatingPoint   `json:"at_target_fpir"`
	Points    []OperatingPoint `json:"at_fpir"`
}

// OperatingPoint is the threshold that keeps the FPIR at or under
// TargetFPIR, and the rates and counts there.
type OperatingPoint struct {
	TargetFPIR     float64 `json:"target_fpir"`
	Threshold      float64 `json:"threshold"`
	FPIR           float64 `json:"fpir"`
	FNIR           float64 `json:"fnir"`
	FalsePositives int     `json:"false_positives"`
	Misses         int     `json:"misses"`
}

func point(target float64, p evaluation.OperatingPoint) OperatingPoint {
	return OperatingPoint{TargetFPIR: target, Threshold: p.Threshold, FPIR: p.FPIR, FNIR: p.FNIR, FalsePositives: p.FalsePositives, Misses: p.Misses}
}

// openSet scores the searches made (the whole gallery) and those against
// each sampled gallery size, under the nearest-identity rule and each
// margin rule. It is nil when there are no strangers to score.
func (r *search) openSet(cfg IdentifyConfig) (*OpenSetSummary, error) {
	rules := []evaluation.Rule{{}}
	for _, m := range cfg.Margins {
		rules = append(rules, evaluation.Rule{MinMargin: m})
	}
	identities := len(r.enrolled)
	s := &OpenSetSummary{TargetFPIR: cfg.TargetFPIR}
	sizes := slices.Sorted(slices.Values(cfg.GallerySizes))
	for _, n := range slices.Compact(sizes) {
		if n >= identities {
			continue
		}
		sample, err := r.sampleTrials(sampleIdentities(r.gal, n))
		if err != nil {
			return nil, err
		}
		size, err := scoreOpenSet(sample, n, cfg.TargetFPIR, rules)
		if errors.Is(err, evaluation.ErrNoSearches) {
			continue // a sample none of whose identities has a probe
		}
		if err != nil {
			return nil, err
		}
		s.Sizes = append(s.Sizes, size)
	}
	all, err := scoreOpenSet(r.trials, identities, cfg.TargetFPIR, rules)
	if errors.Is(err, evaluation.ErrNoSearches) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.Sizes = append(s.Sizes, all)
	return s, nil
}

// scoreOpenSet scores the trials of one gallery under each rule.
func scoreOpenSet(trials []evaluation.Trial, identities int, target float64, rules []evaluation.Rule) (OpenSetSize, error) {
	size := OpenSetSize{Identities: identities}
	for i, rule := range rules {
		r, err := evaluation.OpenSet(trials, rule)
		if err != nil {
			return size, err
		}
		if i == 0 {
			size.Mated, size.NonMated, size.Rank1 = r.Mated, r.NonMated, r.Rank1
			size.det = r.DET(detPoints)
		}
		or := OpenSetRule{Rule: rule.String(), MinMargin: rule.MinMargin, AtTarget: point(target, r.AtFPIR(target))}
		for _, f := range reportedFPIRs {
			or.Points = append(or.Points, point(f, r.AtFPIR(f)))
		}
		size.Rules = append(size.Rules, or)
	}
	return size, nil
}

// sampleIdentities is n of the gallery's identities, the same n for the
// same gallery on every run so that runs compare.
func sampleIdentities(gal []galleryPhoto, n int) map[string]bool {
	var ids []string
	seen := map[string]bool{}
	for _, p := range gal {
		if !seen[p.Identity] {
			seen[p.Identity] = true
			ids = append(ids, p.Identity)
		}
	}
	slices.Sort(ids)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	keep := map[string]bool{}
	for _, id := range ids[:min(n, len(ids))] {
		keep[id] = true
	}
	return keep
}

// sampleTrials searches every probe in the gallery of the sampled
// identities; a probe of an identity left out is a non-mated search.
func (r *search) sampleTrials(keep map[string]bool) ([]evaluation.Trial, error) {
	var sub []galleryPhoto
	for _, p := range r.gal {
		if keep[p.Identity] {
			sub = append(sub, p)
		}
	}
	g, err := buildGallery(sub, r.threshold, "")
	if err != nil {
		return nil, err
	}
	trials := make([]evaluation.Trial, len(r.probes))
	for i, p := range r.probes {
		// Rank-1 and the margin rule need the two nearest identities.
		id, err := g.Identify(r.probeEmbs[i], 2)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Path, err)
		}
		trials[i] = evaluation.Trial{Identity: p.Identity, Enrolled: keep[p.Identity], Ranked: ranked(id)}
	}
	return trials, nil
}

// writeText writes the open-set table.
func (s *OpenSetSummary) writeText(w io.Writer) {
	// The target gets a column of its own unless a reported FPIR is it.
	extra := !slices.Contains(reportedFPIRs, s.TargetFPIR)
	fmt.Fprintf(w, "open set: FNIR (known people not named right) at FPIR (strangers named), threshold in brackets\n")
	fmt.Fprintf(w, "  %-10s %-8s %-12s %-7s", "identities", "mated", "non-mated", "rank-1")
	fmt.Fprintf(w, "  %-14s", "rule")
	for _, f := range reportedFPIRs {
		fmt.Fprintf(w, "  %-20s", fmt.Sprintf("FNIR@FPIR %g%%", 100*f))
	}
	if extra {
		fmt.Fprintf(w, "  %-20s", fmt.Sprintf("FNIR@FPIR %g%%", 100*s.TargetFPIR))
	}
	fmt.Fprintln(w)
	for _, size := range s.Sizes {
		for i, r := range size.Rules {
			if i == 0 {
				fmt.Fprintf(w, "  %-10d %-8d %-12d %-7s", size.Identities, size.Mated, size.NonMated, fmt.Sprintf("%.2f%%", 100*size.Rank1))
			} else {
				fmt.Fprintf(w, "  %-10s %-8s %-12s %-7s", "", "", "", "")
			}
			fmt.Fprintf(w, "  %-14s", r.Rule)
			pts := r.Points
			if extra {
				pts = append(pts, r.AtTarget)
			}
			for _, p := range pts {
				fmt.Fprintf(w, "  %-20s", fmt.Sprintf("%.2f%% (%.3f)", 100*p.FNIR, p.Threshold))
			}
			fmt.Fprintln(w)
		}
	}
}

// detColors tell the gallery sizes apart on the DET plot.
var detColors = []string{"#1565c0", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00", "#00838f"}

// detChart is the DET plot of the nearest-identity rule, one line per
// gallery size, with the operating point at the target FPIR.
func detChart(s *OpenSetSummary) template.HTML {
	c := charts.Curve{
		Title:  "Detection error tradeoff (nearest identity under the threshold)",
		XLabel: "FPIR: strangers named as someone", YLabel: "FNIR: known people not named right",
		XMin: 1e-4, XMax: 1, YMin: 0, YMax: 0.5, LogX: true,
	}
	for i, size := range s.Sizes {
		color := detColors[i%len(detColors)]
		l := charts.Line{Name: fmt.Sprintf("%d identities", size.Identities), Color: color}
		for _, p := range size.det {
			l.Points = append(l.Points, charts.Point{X: p.FPIR, Y: min(p.FNIR, c.YMax)})
		}
		c.Lines = append(c.Lines, l)
		if len(size.Rules) > 0 {
			p := size.Rules[0].AtTarget
			c.Dots = append(c.Dots, charts.Dot{Label: fmt.Sprintf("%.3f", p.Threshold), Point: charts.Point{X: p.FPIR, Y: min(p.FNIR, c.YMax)}, Color: color})
		}
	}
	return c.SVG()
}

// openSetSection is the report's open-set section: the table's numbers and
// the DET plot.
func openSetSection(s *OpenSetSummary) html.Section {
	sec := html.Section{ID: "open_set", Title: "Open set (FNIR at FPIR)",
		Empty: "no strangers among the searches: open-set rates need probes of people the gallery lacks, or a gallery of two identities or more"}
	if s == nil {
		return sec
	}
	sec.Note = fmt.Sprintf("NIST FRVT 1:N measures. FNIR: known people not named right (named as someone else, or rejected); FPIR: strangers named as someone. "+
		"Each threshold is the largest whose FPIR is at most the target, on searches against a gallery of that many identities; "+
		"a sampled gallery's left-out identities' probes are strangers. Margin rules accept only when the runner-up identity is that much further. Target FPIR %g%%.", 100*s.TargetFPIR)
	for _, size := range s.Sizes {
		for _, r := range size.Rules {
			for _, p := range append(r.Points, r.AtTarget) {
				sec.Stats = append(sec.Stats, html.Stat{
					Key:   fmt.Sprintf("fnir_n%d_%s_fpir%g", size.Identities, strings.ReplaceAll(r.Rule, " ", ""), p.TargetFPIR),
					Label: fmt.Sprintf("%d identities, %s: FNIR at FPIR %g%%", size.Identities, r.Rule, 100*p.TargetFPIR),
					Value: fmt.Sprintf("%.2f%% at threshold %.3f (FPIR %.2f%%, rank-1 %.2f%%)", 100*p.FNIR, p.Threshold, 100*p.FPIR, 100*size.Rank1),
				})
			}
		}
	}
	sec.Charts = []template.HTML{detChart(s)}
	return sec
}
