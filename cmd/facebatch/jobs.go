package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"

	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/gallery"
	"github.com/facebatch/facebatch/pipelines"
	"github.com/facebatch/facebatch/tables"
	"github.com/facebatch/facebatch/transforms"
)

// jobFlags returns a flag set holding the job's own flags and Beam's global
// ones (--runner, --endpoint, --environment_type, --project, ...), which
// Beam reads from its package variables when the pipeline runs.
func jobFlags(name string, c interface{ RegisterFlags(*flag.FlagSet) }) *flag.FlagSet {
	fs := beamFlags(name)
	c.RegisterFlags(fs)
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run to this file (see `go tool pprof`)")
	return fs
}

func galleryJob(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "promote" {
		return promoteCmd(ctx, args[1:], stdout, stderr)
	}
	var c pipelines.GalleryConfig
	fs := jobFlags("gallery", &c)
	if err := parseJob(fs, args); err != nil {
		return fail(stderr, fs, err)
	}
	start := time.Now()
	if err := c.Prepare(ctx); err != nil {
		return fail(stderr, fs, err)
	}
	if code, next := runPipeline(ctx, "gallery", stdout, stderr, func(s beam.Scope) { pipelines.Gallery(s, c) }); !next {
		return code
	}
	m, err := gallery.ReadManifest(ctx, c.Output)
	if err != nil {
		fmt.Fprintf(stderr, "facebatch gallery: %v\n", err)
		return exitRejected
	}
	marker, err := tables.ReadMarker(ctx, c.Output)
	if err != nil {
		fmt.Fprintf(stderr, "facebatch gallery: %v\n", err)
		return exitRejected
	}
	fmt.Fprintf(stdout, "gallery %s: %d photos of %d identities (%d encoded, %d reused, %d rejected) in %.1fs\n",
		m.Version, m.Photos, len(m.Identities), m.Encoded, m.Reused, m.Rejected, time.Since(start).Seconds())
	fmt.Fprintf(stdout, "  photos by status: %s\n", statusLine(marker.ByStatus))
	if m.SubjectKept > 0 {
		fmt.Fprintf(stdout, "  %d photos showed several faces and kept the one they are of (ignored_faces)\n", m.SubjectKept)
	}
	fmt.Fprintf(stdout, "  model %s, profile %s, detector %s, %s, table %s\n", m.ModelID, m.Profile, m.Detector, precision(c.Session), c.Output)
	if cal := m.Calibration; cal != nil && cal.Threshold > 0 {
		fmt.Fprintf(stdout, "  threshold %.3f for FPIR %g%% over %d identities (%d of %d searches under it), used by identify\n",
			cal.Threshold, 100*cal.TargetFPIR, cal.Identities, cal.FalsePositives, cal.Searches)
	} else if cal != nil {
		fmt.Fprintf(stdout, "  not calibrated: %s; identify uses the profile's threshold\n", cal.Note)
	}
	return exitAccepted
}

func identifyJob(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c pipelines.IdentifyConfig
	fs := jobFlags("identify", &c)
	if err := parseJob(fs, args); err != nil {
		return fail(stderr, fs, err)
	}
	start := time.Now()
	if err := c.Prepare(ctx); err != nil {
		return fail(stderr, fs, err)
	}
	if code, next := runPipeline(ctx, "identify", stdout, stderr, func(s beam.Scope) { pipelines.Identify(s, c) }); !next {
		return code
	}
	m, err := tables.ReadMarker(ctx, c.Output)
	if err != nil {
		fmt.Fprintf(stderr, "facebatch identify: %v\n", err)
		return exitRejected
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "identify %s: %d images, %d faces: %d matched, %d unknown; %.1f images/s\n",
		m.RunID, m.Images, m.Faces, m.Matched, m.Unknown, float64(m.Images)/secs)
	fmt.Fprintf(stdout, "  images by status: %s\n", statusLine(m.ByStatus))
	fmt.Fprintf(stdout, "  threshold %g (%s), model %s, %s, results %s\n", c.Threshold, c.ThresholdSource, c.ModelID(), precision(c.Session), c.Output)
	if c.Cluster {
		cm, err := tables.ReadMarker(ctx, c.ClustersOutput)
		if err != nil {
			fmt.Fprintf(stderr, "facebatch identify: %v\n", err)
			return exitRejected
		}
		if m.Unknown < transforms.DefaultClusterMinFaces {
			fmt.Fprintf(stdout, "  %d unknown faces: too few to cluster, table %s\n", m.Unknown, c.ClustersOutput)
		} else {
			fmt.Fprintf(stdout, "  %d unknown faces in %d clusters (threshold %g), table %s\n", cm.Faces, cm.Rows, c.ClusterThreshold, c.ClustersOutput)
		}
	}
	return exitAccepted
}

// precision says what the job encoded in and, for bfloat16 chosen by
// default, why.
func precision(s encoder.Session) string {
	if hw := encoder.BFloat16Hardware(); s.BFloat16 && hw != "" {
		return "bf16 (this CPU has " + hw + "; --bf16=false for fp32)"
	}
	return s.Precision()
}

func parseJob(fs *flag.FlagSet, args []string) error {
	*runners.Runner = "" // a package variable: forget an earlier in-process run's
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *runners.Runner == "" {
		*runners.Runner = pipelines.DefaultRunner
	}
	if !pipelines.KnownRunner(*runners.Runner) {
		return fmt.Errorf("%w: unknown --runner %q (want direct, prism, universal, dataflow, flink or spark)", errUsage, *runners.Runner)
	}
	if err := files.SetRetry(storage.timeout, storage.budget); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	beam.Init()
	return nil
}

// beamFlags is a flag set holding Beam's global flags only.
func beamFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	flag.CommandLine.VisitAll(func(f *flag.Flag) {
		if fs.Lookup(f.Name) == nil {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
	fs.DurationVar(&storage.timeout, "storage-timeout", files.DefaultCallTimeout, "fail a storage call (read, list, write, stat, delete) that makes no progress for this long, and retry it")
	fs.DurationVar(&storage.budget, "storage-budget", files.DefaultRetryBudget, "stop retrying a storage operation on one object after this long: the photo gets read_error, or the job fails naming the object; 0: retry until the job is cancelled")
	return fs
}

// storage is the jobs' --storage-timeout and --storage-budget.
var storage struct{ timeout, budget time.Duration }

// rematchJob runs `facebatch rematch`: the nightly step between a new
// gallery and the report.
func rematchJob(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c pipelines.RematchConfig
	fs := beamFlags("rematch")
	c.RegisterFlags(fs)
	if err := parseJob(fs, args); err != nil {
		return fail(stderr, fs, err)
	}
	start := time.Now()
	if err := c.Prepare(ctx); err != nil {
		return fail(stderr, fs, err)
	}
	if code, next := runPipeline(ctx, "rematch", stdout, stderr, func(s beam.Scope) { pipelines.Rematch(s, c) }); !next {
		return code
	}
	m, err := tables.ReadMarker(ctx, c.Output)
	if err != nil {
		fmt.Fprintf(stderr, "facebatch rematch: %v\n", err)
		return exitRejected
	}
	fmt.Fprintf(stdout, "rematch %s of %s: %d images, %d faces: %d matched, %d unknown; %.1fs\n",
		m.RunID, c.SourceRunID(), m.Images, m.Faces, m.Matched, m.Unknown, time.Since(start).Seconds())
	fmt.Fprintf(stdout, "  threshold %g (%s), results %s\n", c.Threshold, c.ThresholdSource, c.Output)
	return exitAccepted
}

// cpuProfile is the --cpuprofile flag of the job being run.
var cpuProfile string

// runPipeline builds a job's pipeline and runs it. It returns next false,
// with the exit code, when the job is over: failed (reported on stderr),
// or only translated (a Dataflow --dry_run).
func runPipeline(ctx context.Context, name string, stdout, stderr io.Writer, build func(beam.Scope)) (code int, next bool) {
	p, s := beam.NewPipelineWithRoot()
	build(s)
	res, err := runJob(ctx, p)
	if err != nil {
		fmt.Fprintf(stderr, "facebatch %s: job failed: %v\n", name, err)
		return exitRejected, false
	}
	if res.DryRun {
		fmt.Fprintf(stdout, "%s: dry run: the job translated for Dataflow (logged on stderr); nothing was submitted\n", name)
		return exitAccepted, false
	}
	if res.StorageRetries > 0 {
		fmt.Fprintf(stdout, "  storage: %d transient errors retried (--storage-timeout %v, --storage-budget %v)\n", res.StorageRetries, storage.timeout, storage.budget)
	}
	return exitAccepted, true
}

// runJob runs p, under a Go CPU profile when --cpuprofile asks for one.
func runJob(ctx context.Context, p *beam.Pipeline) (pipelines.Result, error) {
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return pipelines.Result{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return pipelines.Result{}, fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	return pipelines.Run(ctx, p)
}

func statusLine(counts []tables.StatusCount) string {
	var parts []string
	for _, c := range counts {
		parts = append(parts, fmt.Sprintf("%s=%d", c.Status, c.Count))
	}
	return strings.Join(parts, " ")
}
