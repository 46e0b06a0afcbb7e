package matcher

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// SetScorer makes IdentifyBatch scan the gallery with scorers made by f
// (NewScorer when never called). Call it before querying.
func (g *Gallery) SetScorer(f NewScorerFunc) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.newScorer = f
	g.closeScorer()
}

// Close releases the gallery's scorer.
func (g *Gallery) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closeScorer()
}

func (g *Gallery) closeScorer() error {
	var err error
	if g.scorer != nil {
		err = g.scorer.Close()
	}
	g.scorer, g.scored, g.members = nil, 0, nil
	return err
}

// scorerFor returns a scorer over all current encodings.
func (g *Gallery) scorerFor() (Scorer, [][]int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.scorer != nil && g.scored == len(g.owner) {
		return g.scorer, g.members, nil
	}
	g.closeScorer()
	f := g.newScorer
	if f == nil {
		f = NewScorer
	}
	s, err := f(g.vectors, g.dim)
	if err != nil {
		return nil, nil, fmt.Errorf("matcher: making a scorer: %w", err)
	}
	members := make([][]int, len(g.names))
	for i, id := range g.owner {
		members[id] = append(members[id], i)
	}
	g.scorer, g.scored, g.members = s, len(g.owner), members
	return s, members, nil
}

// IdentifyBatch answers Identify for many encodings at once, with the
// gallery scan done as blocked matrix products by the gallery's Scorer:
// for unit vectors the nearest encodings are those with the largest dot
// products (d² = 2 - 2·a·b). The scan picks the candidate identities; their
// distances are then computed exactly, as Identify does, so the answers
// agree with Identify's except where two distances tie to within float32
// rounding.
func (g *Gallery) IdentifyBatch(encs [][]float32, k int) ([]Identification, error) {
	if len(encs) == 0 {
		return nil, nil
	}
	queries := make([]float32, 0, len(encs)*g.dim)
	for i, enc := range encs {
		if err := g.checkQuery(enc); err != nil {
			return nil, fmt.Errorf("encoding %d: %w", i, err)
		}
		queries = append(queries, enc...)
	}
	scorer, members, err := g.scorerFor()
	if err != nil {
		return nil, err
	}
	if k < 1 {
		k = 1
	}
	k = min(k, len(g.names))
	// k identities and a runner-up for the margin; identities with several
	// encodings can fill the top rows, so ask for more rows than that.
	want := min(k+1, len(g.names))
	m := min(len(g.owner), max(4*want, 16))
	_, rows, err := scorer.TopDots(queries, m)
	if err != nil {
		return nil, fmt.Errorf("matcher: scoring: %w", err)
	}
	out := make([]Identification, len(encs))
	for q, enc := range encs {
		ids := g.candidates(rows[q*m:(q+1)*m], want)
		if len(ids) < want {
			// The top rows held too few identities: scan this one fully.
			if out[q], err = g.Identify(enc, k); err != nil {
				return nil, err
			}
			continue
		}
		out[q] = g.rank(enc, ids, members, k)
	}
	return out, nil
}

// candidates are the first want distinct identities owning rows.
func (g *Gallery) candidates(rows []int32, want int) []int {
	ids := make([]int, 0, want)
	for _, r := range rows {
		if r < 0 {
			break
		}
		id := g.owner[r]
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
			if len(ids) == want {
				break
			}
		}
	}
	return ids
}

// rank computes the candidates' exact distances and orders them as
// Identify does.
func (g *Gallery) rank(enc []float32, ids []int, members [][]int, k int) Identification {
	best := make([]float64, len(ids))
	for i, id := range ids {
		best[i] = math.Inf(1)
		for _, e := range members[id] {
			best[i] = math.Min(best[i], g.distance(enc, e))
		}
	}
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		if best[order[a]] != best[order[b]] {
			return best[order[a]] < best[order[b]]
		}
		return ids[order[a]] < ids[order[b]]
	})
	res := Identification{Identity: g.names[ids[order[0]]], Distance: best[order[0]], Margin: math.Inf(1)}
	res.Accepted = res.Distance < g.threshold
	if len(order) > 1 {
		res.Margin = best[order[1]] - best[order[0]]
	}
	for _, i := range order[:k] {
		res.Candidates = append(res.Candidates, Candidate{Identity: g.names[ids[i]], Distance: best[i]})
	}
	return res
}
