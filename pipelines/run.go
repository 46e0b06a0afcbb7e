package pipelines

import (
	"context"
	"flag"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/facebatch/facebatch/files"
)

// DefaultRunner runs a job in this process. Measured on 590 photos on 2
// cores: direct 69.6 images/s, prism 43.9 (prism's scheduler spins a core
// while a bundle runs). See docs/benchmarks.md, "Runners".
const DefaultRunner = "direct"

// knownRunners are the runners beamx links in.
var knownRunners = map[string]bool{
	"direct": true, "DirectRunner": true, "prism": true, "PrismRunner": true,
	"universal": true, "dataflow": true, "DataflowRunner": true,
	"flink": true, "FlinkRunner": true, "spark": true, "SparkRunner": true, "dot": true,
}

// KnownRunner reports whether Run can use the runner name. Beam exits the
// process on an unknown one, so a caller checks it with its other flags,
// before any work starts.
func KnownRunner(name string) bool { return knownRunners[name] }

func isDataflow(runner string) bool { return runner == "dataflow" || runner == "DataflowRunner" }

// Result is what a finished job counted.
type Result struct {
	// StorageRetries is the transient storage errors that the job's
	// workers retried, all together (files.RetriesCounter): the job
	// succeeded, but they show how unreliable its storage was.
	StorageRetries int64
	// DryRun is set when the runner only translated the job (Dataflow's
	// --dry_run): nothing ran and nothing was written.
	DryRun bool
}

// Run runs p to its end on the runner that Beam's --runner flag names.
func Run(ctx context.Context, p *beam.Pipeline) (Result, error) {
	res, err := beamx.RunWithMetrics(ctx, p)
	if err != nil {
		return Result{}, err
	}
	var out Result
	// Some runners (dot, and Dataflow when it only translates) report no
	// metrics.
	if res == nil {
		if f := flag.Lookup("dry_run"); f != nil && f.Value.String() == "true" && isDataflow(*runners.Runner) {
			out.DryRun = true
		}
		return out, nil
	}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Namespace() == files.CounterNamespace && c.Name() == files.RetriesCounter {
			out.StorageRetries += c.Result()
		}
	}
	return out, nil
}
