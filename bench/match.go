package main

import (
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/facebatch/facebatch/gemm"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/matcher/matchertest"
)

const embeddingDim = 128

type matchResult struct {
	Identities int
	Scorer     string
	QueriesS   float64
	FLOPS      float64 // 2 * identities * dim per query
	RSSBytes   int64   // resident memory the gallery and its scorer added
	Err        string
}

// measureMatch identifies random unit queries against a gallery of n
// random unit identities, with the given scorer, for about d.
func measureMatch(n int, scorer string, newScorer matcher.NewScorerFunc, d time.Duration) matchResult {
	res := matchResult{Identities: n, Scorer: scorer}
	runtime.GC()
	debug.FreeOSMemory()
	before := rssBytes()
	r := rand.New(rand.NewSource(int64(n)))
	g, err := matcher.NewGallery(1.1)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer g.Close()
	g.SetScorer(newScorer)
	for i := range n {
		if err := g.Add("id"+strconv.Itoa(i), matchertest.RandomUnit(r, embeddingDim)); err != nil {
			res.Err = err.Error()
			return res
		}
	}
	// Enough queries per call that the product, not the call, dominates.
	nq := max(64, min(4096, (1<<30)/(2*n*embeddingDim)*64))
	queries := make([][]float32, nq)
	for i := range queries {
		queries[i] = matchertest.RandomUnit(r, embeddingDim)
	}
	// The first call builds the scorer (copies the gallery into TensorFlow).
	if _, err := g.IdentifyBatch(queries[:1], 3); err != nil {
		res.Err = err.Error()
		return res
	}
	runtime.GC()
	debug.FreeOSMemory()
	res.RSSBytes = rssBytes() - before
	start, done := time.Now(), 0
	for done == 0 || time.Since(start) < d {
		if _, err := g.IdentifyBatch(queries, 3); err != nil {
			res.Err = err.Error()
			return res
		}
		done += nq
	}
	res.QueriesS = float64(done) / time.Since(start).Seconds()
	res.FLOPS = res.QueriesS * 2 * float64(n) * embeddingDim
	return res
}

// rssBytes is this process's resident memory now (Linux).
func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

var scorers = map[string]matcher.NewScorerFunc{"tensorflow": gemm.NewScorer, "go": matcher.NewScorer}

func (r matchResult) String() string {
	if r.Err != "" {
		return fmt.Sprintf("%d identities (%s): error: %s", r.Identities, r.Scorer, r.Err)
	}
	return fmt.Sprintf("%d identities (%s)", r.Identities, r.Scorer)
}
