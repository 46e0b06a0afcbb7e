package evaluation

import "sort"

// Limit keeps the first n same-person and the first n different-person pairs
// of each fold, so that a quick run keeps the protocol's folds and balance.
// It returns p itself when n is not positive or keeps every pair.
func (p *Pairs) Limit(n int) *Pairs {
	if n <= 0 || n >= p.PerClass {
		return p
	}
	out := &Pairs{Folds: p.Folds, PerClass: n}
	type class struct {
		fold int
		same bool
	}
	kept := map[class]int{}
	for _, pair := range p.Pairs {
		c := class{pair.Fold, pair.Same}
		if kept[c] < n {
			kept[c]++
			out.Pairs = append(out.Pairs, pair)
		}
	}
	return out
}

// Hardest returns the indices of the n different-person pairs with the
// smallest distances (the first false accepts as the threshold rises) and of
// the n same-person pairs with the largest (the last to be accepted), hardest
// first; ties keep the input order.
func Hardest(d []float64, same []bool, n int) (accepts, rejects []int) {
	for i, s := range same {
		if s {
			rejects = append(rejects, i)
		} else {
			accepts = append(accepts, i)
		}
	}
	sort.SliceStable(accepts, func(a, b int) bool { return d[accepts[a]] < d[accepts[b]] })
	sort.SliceStable(rejects, func(a, b int) bool { return d[rejects[a]] > d[rejects[b]] })
	return accepts[:min(n, len(accepts))], rejects[:min(n, len(rejects))]
}

// Rates returns the true and false accept rates at threshold: the shares of
// same-person and of different-person pairs whose distance is below it. A
// class without pairs has rate 0, so that a plot of an unbalanced subset
// still has a point.
func Rates(d []float64, same []bool, threshold float64) (tar, far float64) {
	var sames, diffs, sameAccepted, diffAccepted int
	for i, s := range same {
		accepted := d[i] < threshold
		if s {
			sames++
			if accepted {
				sameAccepted++
			}
		} else {
			diffs++
			if accepted {
				diffAccepted++
			}
		}
	}
	return float64(sameAccepted) / float64(max(sames, 1)), float64(diffAccepted) / float64(max(diffs, 1))
}
