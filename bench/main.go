// Command bench measures facebatch's throughput on this machine and prints,
// side by side: the encode bound (the SavedModel alone, from Go, at its
// best batch size and thread settings), the identify job end to end on a
// generated photo set, the same work done the ways users do it today in
// Python (the notebook's loop, Beam Python RunInference), gallery matching
// against the machine's sgemm peak, and peak memory at two input sizes. It
// ends with one SUMMARY line. `make bench` runs it; see docs/benchmarks.md.
//
//	go run ./bench -facebatch bin/facebatch -python $VENV/bin/python [-quick]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/gemm"
	"github.com/facebatch/facebatch/models"
)

// bench holds the run's settings and paths.
type bench struct {
	self, facebatch, python, scriptDir string
	peerPython                         string
	modelDir, savedModel, profile      string
	detector                           string
	sourceDir, photoDir, work          string
	cacheDir                           string // what runs keep (generated photos, the peer's LFW encodings)
	peerLFWCached                      string // the peer's LFW encodings file, when an earlier run made it
	galleryDir                         string
	encodeSeconds                      float64
	identifyArgs                       []string
	// runUnder prefixes the facebatch command (a profiler).
	runUnder []string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "encode-child" {
		if err := encodeChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench encode-child:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "stages-child" {
		if err := stagesChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench stages-child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// settings are the flags.
type settings struct {
	n, rssSmall, rssLarge int
	quick                 bool
	batches               string
	galleries             string
	matchSeconds          float64
	cpuProfile            string
	variants              bool
	layouts               bool
	phone                 int
	stagePhotos           int
	lfw                   string
	lfwAccuracy           bool
	scale                 string
	scaleIdentities       int
}

func run(args []string, stdout io.Writer) error {
	var b bench
	var s settings
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&b.facebatch, "facebatch", "bin/facebatch", "the facebatch binary to measure")
	fs.StringVar(&b.python, "python", "", "Python of the bench venv (bench/venv.sh); empty skips the Python baselines")
	fs.StringVar(&b.modelDir, "model", "", "exported model folder (default $FACEBATCH_MODEL)")
	fs.StringVar(&b.profile, "profile", "", "preprocessing profile (default: the manifest's)")
	fs.StringVar(&b.detector, "detector", "", "face detector (default: the jobs' default)")
	fs.StringVar(&b.work, "work", "out/bench", "scratch folder: lists, gallery, results, logs, profile")
	fs.StringVar(&b.photoDir, "photos", "", "cache folder of generated photos (default $FACEBATCH_CACHE/bench/photos-"+photoSetVersion+")")
	fs.StringVar(&b.sourceDir, "sources", os.Getenv("FACEBATCH_DEMO_DATA"), "the 5-celebrity photos setup unpacked (train/ and val/)")
	fs.IntVar(&s.n, "n", 2000, "photos for the end-to-end run and the Python baselines")
	fs.IntVar(&s.rssSmall, "rss-small", 1000, "photos for the smaller memory run")
	fs.IntVar(&s.rssLarge, "rss-large", 20000, "photos for the larger memory run")
	fs.StringVar(&s.batches, "batches", "1,8,16,32,64", "encoder batch sizes to try")
	fs.StringVar(&s.galleries, "galleries", "1000,100000,1000000", "synthetic gallery sizes to match against")
	fs.Float64Var(&b.encodeSeconds, "encode-seconds", 2, "measuring time per encoder setting")
	fs.Float64Var(&s.matchSeconds, "match-seconds", 2, "measuring time per gallery")
	fs.BoolVar(&s.variants, "variants", true, "also measure XLA, bfloat16 and oneDNN switches (not part of the bound)")
	fs.BoolVar(&s.layouts, "layouts", true, "try thread layouts at the best batch size")
	fs.IntVar(&s.stagePhotos, "stage-photos", 500, "photos each stage is timed on for the stage-sum bound (and LFW photos for the detector's cost)")
	fs.StringVar(&s.lfw, "lfw", defaultLFW(), "LFW-layout image folder whose first photos time the detector (detect_ms_per_photo); empty: the bench photos")
	fs.StringVar(&b.peerPython, "peer-python", "", "Python of the face_recognition peer's venv (bench/peer-venv.sh); empty skips the peer")
	fs.BoolVar(&s.lfwAccuracy, "lfw-accuracy", true, "score facebatch and the peer on -lfw's pairs.txt (lfw-dev accuracy)")
	fs.IntVar(&s.phone, "phone", 60, "generated 12-megapixel group photos for the phone-photo run")
	fs.StringVar(&s.scale, "scale", "100000", "synthetic face counts for the nightly loop at scale: rematch, clustering, report, promote (BENCH_SCALE=1m adds 1000000)")
	fs.IntVar(&s.scaleIdentities, "scale-identities", 10000, "gallery identities of the scale runs")
	fs.BoolVar(&s.quick, "quick", false, "a smoke run: tiny sizes, short timings")
	fs.StringVar(&s.cpuProfile, "cpuprofile", "", "Go CPU profile of the end-to-end run (default <work>/identify.prof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if s.quick {
		// Flags given explicitly keep their values.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := map[string]string{"n": "24", "rss-small": "24", "rss-large": "64", "batches": "8", "galleries": "1000,20000",
			"encode-seconds": "0.5", "match-seconds": "0.2", "variants": "false", "layouts": "false", "phone": "3", "stage-photos": "24", "lfw-accuracy": "false",
			"scale": "3000", "scale-identities": "200"}
		for name, v := range quick {
			if !set[name] {
				fs.Set(name, v)
			}
		}
	}
	if err := b.prepare(&s); err != nil {
		return err
	}
	return b.runAll(s, stdout)
}

func (b *bench) prepare(s *settings) error {
	var err error
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	if b.facebatch, err = filepath.Abs(b.facebatch); err != nil {
		return err
	}
	if _, err := os.Stat(b.facebatch); err != nil {
		return fmt.Errorf("%w (run make build)", err)
	}
	if b.modelDir == "" {
		if b.modelDir, err = models.DefaultDir(); err != nil {
			return err
		}
	}
	m, err := models.Load(b.modelDir)
	if err != nil {
		return err
	}
	b.savedModel = m.SavedModelDir()
	if b.profile == "" {
		b.profile = m.DefaultProfile
	}
	if b.sourceDir == "" {
		return errors.New("no source photos: set FACEBATCH_DEMO_DATA (source .facebatch.env) or -sources")
	}
	cache := os.Getenv("FACEBATCH_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return err
		}
		cache = filepath.Join(dir, "facebatch")
	}
	b.cacheDir = filepath.Join(cache, "bench")
	if b.photoDir == "" {
		b.photoDir = filepath.Join(b.cacheDir, "photos-"+photoSetVersion)
	}
	if b.work, err = filepath.Abs(b.work); err != nil {
		return err
	}
	b.galleryDir = filepath.Join(b.work, "gallery")
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return err
	}
	if s.cpuProfile == "" {
		s.cpuProfile = filepath.Join(b.work, "identify.prof")
	}
	// The Python scripts sit next to this file in the source tree.
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	for _, dir := range []string{filepath.Join(wd, "bench"), wd} {
		if _, err := os.Stat(filepath.Join(dir, "notebook_loop.py")); err == nil {
			b.scriptDir = dir
		}
	}
	if b.python != "" && b.scriptDir == "" {
		return errors.New("bench/notebook_loop.py not found: run from the repository root")
	}
	return nil
}

func (b *bench) runAll(s settings, w io.Writer) error {
	start := time.Now()
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("facebatch bench: %s, %d CPUs (GOMAXPROCS %d), load average at start %s", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), loadAvg())
	p("model %s, profile %s, detector %s, encoding in %s (the jobs' default here; bfloat16 hardware: %s)", b.savedModel, b.profile, orDefault(b.detector, "the jobs' default"),
		encoder.Session{BFloat16: encoder.DefaultBFloat16()}.Precision(), orDefault(encoder.BFloat16Hardware(), "none"))

	t := time.Now()
	largest := max(s.n, s.rssSmall*5/4, s.rssLarge) // the peer runs 5/4 of rssSmall
	if err := ensurePhotos(b.photoDir, b.sourceDir, largest); err != nil {
		return fmt.Errorf("generating photos: %w", err)
	}
	p("photos: %d generated from %s (flips, crops, rescales; cached in %s) ready in %.1fs", largest, b.sourceDir, b.photoDir, time.Since(t).Seconds())

	// 1. The encode bound.
	p("\n1. Encode bound: the SavedModel alone, from Go, on pre-decoded 160x160 faces (%gs per setting)", b.encodeSeconds)
	bound := b.encodeBound(s, p)
	if bound.Err != "" {
		return fmt.Errorf("encode bound: %s", bound.Err)
	}
	cfg := bound.Config
	b.identifyArgs = []string{"--batch-size", strconv.Itoa(cfg.Batch), "--inflight", strconv.Itoa(cfg.Streams),
		"--intra-op-threads", strconv.Itoa(cfg.Session.IntraOpThreads), "--inter-op-threads", strconv.Itoa(cfg.Session.InterOpThreads)}

	// 2 and 5. Identify end to end, and its memory at two sizes.
	if err := b.buildGallery(); err != nil {
		return fmt.Errorf("gallery: %w", err)
	}
	p("\n2. identify end to end: local runner, Parquet output, gallery of the 93 train photos; flags %s", strings.Join(b.identifyArgs, " "))
	p("   %8s %9s %9s %9s %9s %10s %10s", "photos", "faces", "wall s", "images/s", "faces/s", "peak RSS", "CPUs busy")
	runs := map[int]identifyResult{}
	for _, n := range uniqueSorted(s.rssSmall, s.n, s.rssLarge) {
		r := b.identify(n, "")
		if r.Err != "" {
			return fmt.Errorf("identify on %d photos: %s", n, r.Err)
		}
		runs[n] = r
		p("   %8d %9d %9.1f %9.1f %9.1f %10s %10.2f", n, r.Faces, r.Seconds, r.imagesS(), r.facesS(), mib(r.MaxRSS), r.CPUSeconds/r.Seconds)
	}
	small, large := runs[s.rssSmall], runs[s.rssLarge]
	// Start-up (loading the model, building the pipeline) is paid once per
	// run; the difference between the two sizes is the steady rate.
	steady, steadyFaces, ok := steadyRate(small, large)
	if ok {
		p("   steady state (%d-photo run minus %d-photo run): %.1f images/s, %.1f faces/s; start-up about %.1fs",
			s.rssLarge, s.rssSmall, steady, steadyFaces, small.Seconds-float64(small.Images)/steady)
	} else {
		// Runs this small (or a machine this busy) leave the difference
		// within the noise; the larger run's own rate is the safe figure.
		steady, steadyFaces = large.imagesS(), large.facesS()
		p("   steady state: the runs are too close to tell start-up apart; using the %d-photo run's wall rate, %.1f images/s", s.rssLarge, steady)
	}
	// The profile comes from a run of its own, at the smaller size (as the
	// bf16 run), to keep the whole bench within its 15 minutes. Linux perf
	// sees inside TensorFlow; without it, Go's profiler sees only Go code,
	// and with it TensorFlow's threads have been seen to crash the process
	// (a corrupted malloc heap in oneDNN's thread pool, about one run in
	// eight; never seen without the profiler), so a failure here is a
	// warning, not a failed bench.
	perfData := filepath.Join(b.work, "identify.perf.data")
	if report, err := b.perfProfile(s.rssSmall, perfData); err == nil {
		p("   CPU profile of a %d-photo run (perf record -F 499; perf report -i %s):\n%s", s.rssSmall, perfData, strings.TrimRight(report, "\n"))
	} else if r := b.identify(s.rssSmall, "-profiled", "--cpuprofile", s.cpuProfile); r.Err != "" {
		p("   CPU profile: the profiled %d-photo run failed (%s); no profile this time", s.rssSmall, firstLine(r.Err))
	} else {
		p("   CPU profile of a %d-photo run: %s (go tool pprof -top %s %s)", s.rssSmall, s.cpuProfile, b.facebatch, s.cpuProfile)
	}
	stageSum, detectMS, err := b.stageSum(s, bound, largestFaces(runs), p)
	if err != nil {
		return err
	}
	if s.variants {
		// identify's one precision option (docs/benchmarks.md, "Precision and compilers").
		other := fmt.Sprintf("--bf16=%t", !encoder.DefaultBFloat16())
		r := b.identify(s.rssSmall, "-other-precision", other)
		if r.Err != "" {
			return fmt.Errorf("identify %s: %s", other, r.Err)
		}
		p("   with %s on the %d photos: %.1f images/s, %.1f faces/s wall (default: %.1f, %.1f)", other, s.rssSmall, r.imagesS(), r.facesS(), runs[s.rssSmall].imagesS(), runs[s.rssSmall].facesS())
	}

	// 3. The Python baselines, and identify doing their work.
	p("\n3. The same photos the ways users do it today (Python, same SavedModel; notebook preprocessing, no detection)")
	// The baselines neither detect nor align: identify with the notebook
	// profile does the same work, and is the like-for-like comparison; the
	// default profile's rate is shown beside it.
	nb := b.sameWork()
	if err := nb.buildGallery(); err != nil {
		return fmt.Errorf("notebook gallery: %w", err)
	}
	var sameRuns []identifyResult
	for _, n := range uniqueSorted(s.rssSmall, s.n) {
		r := nb.identify(n, "-notebook")
		if r.Err != "" {
			return fmt.Errorf("identify --profile notebook on %d photos: %s", n, r.Err)
		}
		sameRuns = append(sameRuns, r)
	}
	last := sameRuns[len(sameRuns)-1]
	same := last.imagesS()
	if len(sameRuns) == 2 {
		if rate, _, ok := steadyRate(sameRuns[0], last); ok {
			same = rate
		}
	}
	e2e := runs[s.n]
	p("   facebatch identify, the same work (--profile notebook): %.1f images/s wall on %d photos (steady %.1f)", last.imagesS(), s.n, same)
	p("   facebatch identify, default profile (detect, align): %.1f images/s wall on %d photos (steady %.1f)", e2e.imagesS(), s.n, steady)
	var notebook, beamPy pythonResult
	if b.python == "" {
		p("   Python baselines skipped (no -python)")
	} else {
		p("   %-34s %8s %9s %9s %12s %10s", "", "photos", "steady s", "images/s", "wall images/s", "peak RSS")
		// At the smaller run's size: their steady time leaves out start-up.
		notebook = b.runPython("notebook_loop.py", s.rssSmall)
		beamPy = b.runPython("beam_runinference.py", s.rssSmall, "--output", filepath.Join(b.work, "beam-results"))
		for _, r := range []struct {
			name string
			r    pythonResult
		}{{"(a) notebook loop", notebook}, {"(b) Beam RunInference, DirectRunner", beamPy}} {
			if r.r.Err != "" {
				p("   %-34s error: %s", r.name, r.r.Err)
				continue
			}
			p("   %-34s %8d %9.1f %9.1f %12.1f %10s", r.name, r.r.Images, r.r.Seconds, r.r.imagesS(), float64(r.r.Images)/r.r.TotalSeconds, mib(r.r.MaxRSS))
		}
	}

	// 3b. The peer.
	peer := b.peerSection(s, steady, p)

	// 4. Matching.
	p("\n4. Matching: IdentifyBatch, top-3, random unit encodings (128-d), one per identity")
	peak, err := gemm.Peak(2048, time.Duration(3*s.matchSeconds*float64(time.Second)))
	if err != nil {
		return err
	}
	p("   sgemm peak (TensorFlow MatMul, 2048x2048 float32, same runtime): %.1f GFLOP/s", peak/1e9)
	p("   %-12s %-11s %12s %10s %9s %12s", "identities", "scorer", "queries/s", "GFLOP/s", "of peak", "memory")
	var largestMatch matchResult
	for _, n := range parseInts(s.galleries) {
		for _, name := range []string{"tensorflow", "go"} {
			if name == "go" && n > 100000 {
				continue // minutes at the pure-Go rate; the 100k row shows the ratio
			}
			r := measureMatch(n, name, scorers[name], time.Duration(s.matchSeconds*float64(time.Second)))
			if r.Err != "" {
				return fmt.Errorf("matching: %s", r)
			}
			p("   %-12d %-11s %12.0f %10.1f %8.1f%% %12s", n, name, r.QueriesS, r.FLOPS/1e9, 100*r.FLOPS/peak, mib(r.RSSBytes))
			if name == "tensorflow" {
				largestMatch = r
			}
		}
	}

	// 5. Memory.
	p("\n5. Peak RSS of identify: %s at %d photos, %s at %d photos (x%.3f)", mib(small.MaxRSS), s.rssSmall, mib(large.MaxRSS), s.rssLarge, float64(large.MaxRSS)/float64(small.MaxRSS))

	// 6. Phone photos.
	phoneDir := filepath.Join(filepath.Dir(b.photoDir), "phone-"+phoneSetVersion)
	p("\n6. Phone photos: %d generated 4032x3024 JPEG group photos (2-6 faces, 60-600 px, two in three EXIF-rotated; cached in %s)", s.phone, phoneDir)
	st := b.phone(phoneDir, s.phone)
	if st.Err != "" {
		return fmt.Errorf("phone photos: %s", st.Err)
	}
	phoneBench := *b
	phoneBench.photoDir = phoneDir
	pr := phoneBench.identify(s.phone, "-phone")
	if pr.Err != "" {
		return fmt.Errorf("identify on phone photos: %s", pr.Err)
	}
	// Core-seconds per photo of each stage: decode, detect and align
	// measured in the pipelines' batches in a pinned process; encode at the
	// bound's rate (faces per second on all cores); matching a face
	// against the 93-photo gallery is microseconds.
	cores := float64(runtime.NumCPU())
	facesPerPhoto := float64(pr.Faces) / float64(max(pr.Images, 1))
	encodeCore := facesPerPhoto * cores / bound.ImagesS
	total := st.Decode + st.Detect + st.Align + encodeCore
	p("   identify end to end: %d photos, %d faces, %.1f s wall, %.2f images/s, %.1f faces/s, peak RSS %s, %.2f CPUs busy",
		pr.Images, pr.Faces, pr.Seconds, pr.imagesS(), pr.facesS(), mib(pr.MaxRSS), pr.CPUSeconds/pr.Seconds)
	p("   core-ms per photo: decode (preview) %.0f, detect %.0f, align (crop windows, warp) %.0f, encode %.0f (%.1f faces at the bound), match ~0",
		1e3*st.Decode, 1e3*st.Detect, 1e3*st.Align, 1e3*encodeCore, facesPerPhoto)
	p("   shares: decode %.0f%%, detect %.0f%%, align %.0f%%, encode %.0f%%; stage sum %.2f images/s on %d cores",
		100*st.Decode/total, 100*st.Detect/total, 100*st.Align/total, 100*encodeCore/total, cores/total, int(cores))
	p("   detection recall, faces >= 60 px: %d of %d (%.3f), IoU >= 0.5 with the generator's boxes", st.Hit, st.Truth, st.recall())
	phoneOverBound := pr.facesS() / bound.ImagesS

	// 7. The nightly loop at scale.
	p("\n7. The nightly loop at scale: synthetic encodings (people as blobs, two faces of one 0.4-0.9 apart; %.0f%% in a %d-identity gallery, %.0f%% unknown people of 1-40 faces, %.0f%% faces of nobody else)",
		100*knownShare, s.scaleIdentities, 100*(1-knownShare-noiseShare), 100*noiseShare)
	p("   %9s %12s %9s %11s %9s %10s %9s %12s %12s %9s %9s", "faces", "rematch/s", "RSS", "cluster s", "RSS", "precision", "recall", "exact s", "F1 vs exact", "report", "promote")
	var scales []scaleResult
	for _, n := range parseInts(s.scale) {
		r := b.scale(n, s.scaleIdentities)
		if r.err != nil {
			return fmt.Errorf("scale %d: %w", n, r.err)
		}
		exact, f1 := "-", "-"
		if r.exactS > 0 {
			exact, f1 = fmt.Sprintf("%.1f", r.exactS), fmt.Sprintf("%.4f", r.f1VsExact)
		}
		p("   %9d %12.0f %9s %11.1f %9s %10.4f %9.4f %12s %12s %9s %9s", n, float64(n)/r.rematchS, mib(int64(r.rematchRSS)), r.clusterS, mib(int64(r.clusterRSS)),
			r.precision, r.recall, exact, f1, mib(int64(r.reportRSS)), mib(int64(r.promoteRSS)))
		if r.exactS > 0 {
			p("   %9s exact clustering against the people: precision %.4f, recall %.4f", "", r.exactPrecision, r.exactRecall)
		}
		p("   %9s %d clusters; cluster s is rematch with clustering (every face unknown) minus rematch alone (%.1f s); report %.1f s, promote %.1f s", "",
			r.clusters, r.rematchS, r.reportS, r.promoteS)
		scales = append(scales, r)
	}

	p("\nRatios:")
	p("   e2e (steady) / encode bound:           %.3f", steady/bound.ImagesS)
	p("   e2e (steady) / stage-sum bound:        %.3f", steady/stageSum)
	if b.python != "" && notebook.Err == "" && beamPy.Err == "" {
		p("   same work / notebook loop (steady):     %.2f", same/notebook.imagesS())
		p("   same work / Beam Python RunInference:   %.2f", same/beamPy.imagesS())
		p("   e2e with detection / notebook loop:     %.2f", steady/notebook.imagesS())
		p("   e2e with detection / Beam Python:       %.2f", steady/beamPy.imagesS())
	}
	p("   match %d identities / sgemm peak: %.3f", largestMatch.Identities, largestMatch.FLOPS/peak)
	p("   peak RSS %d / %d photos:         %.3f", s.rssLarge, s.rssSmall, float64(large.MaxRSS)/float64(small.MaxRSS))
	p("bench took %.0fs; load average at end %s", time.Since(start).Seconds(), loadAvg())
	// over_* compare like with like (see 3.); e2e_over_* are the default
	// profile's rate, detection included, over the same baselines.
	p("SUMMARY e2e_img_s=%.1f bound_img_s=%.1f e2e_over_bound=%.3f stage_sum_img_s=%.1f e2e_over_stage_sum=%.3f detect_ms_per_photo=%.2f %s over_notebook_loop=%s over_beam_python=%s match_over_sgemm=%.3f rss_20k_over_1k=%.3f same_work_img_s=%.1f e2e_over_notebook_loop=%s e2e_over_beam_python=%s phone_img_s=%.2f phone_faces_s=%.1f phone_faces_over_bound=%.3f phone_recall=%.3f phone_rss_mb=%.0f %s",
		steady, bound.ImagesS, steady/bound.ImagesS, stageSum, steady/stageSum, detectMS, peer,
		ratio(same, notebook), ratio(same, beamPy),
		largestMatch.FLOPS/peak, float64(large.MaxRSS)/float64(small.MaxRSS),
		same, ratio(steady, notebook), ratio(steady, beamPy),
		pr.imagesS(), pr.facesS(), phoneOverBound, st.recall(), float64(pr.MaxRSS)/(1<<20), scaleSummary(scales))
	return nil
}

// encodeBound tries the batch sizes with TensorFlow's default threads, then
// thread layouts at the best batch, and returns the fastest setting at the
// jobs' default precision.
// XLA and the bfloat16 switches are measured after, for information.
func (b *bench) encodeBound(s settings, p func(string, ...any)) encodeResult {
	var best encodeResult
	try := func(cfg encodeConfig, inBound bool) encodeResult {
		r := b.measureEncode(cfg)
		mark := ""
		if !inBound {
			mark = "  (variant, not in the bound)"
		}
		if r.Err != "" {
			p("   %-56s error: %s", cfg, r.Err)
			return r
		}
		p("   %-56s %7.1f images/s%s", cfg, r.ImagesS, mark)
		if inBound && r.ImagesS > best.ImagesS {
			best = r
		}
		return r
	}
	// The bound runs at the jobs' default precision: bfloat16 where the
	// CPU computes it in hardware, else fp32; the other is a variant.
	native := encoder.Session{BFloat16: encoder.DefaultBFloat16()}
	for _, n := range parseInts(s.batches) {
		try(encodeConfig{Batch: n, Streams: 1, Session: native}, true)
	}
	if best.Err != "" || best.ImagesS == 0 {
		return encodeResult{Err: "no batch size worked"}
	}
	cores := runtime.NumCPU()
	batch := best.Config.Batch
	for _, c := range []encodeConfig{
		{Batch: batch, Streams: 1, Session: encoder.Session{IntraOpThreads: cores, InterOpThreads: 1, BFloat16: native.BFloat16}},
		{Batch: batch, Streams: cores, Session: encoder.Session{IntraOpThreads: 1, InterOpThreads: cores, BFloat16: native.BFloat16}},
		{Batch: batch, Streams: 2, Session: encoder.Session{IntraOpThreads: cores, InterOpThreads: 2, BFloat16: native.BFloat16}},
	} {
		if s.layouts {
			try(c, true)
		}
	}
	if s.variants {
		base := best.Config
		for _, v := range []func(c *encodeConfig){
			func(c *encodeConfig) { c.Session.XLA = true },
			func(c *encodeConfig) { c.Session.BFloat16 = !c.Session.BFloat16 },
			// The cost of the +flip profiles (docs/open-set.md).
			func(c *encodeConfig) { c.Flip = true },
		} {
			c := base
			v(&c)
			try(c, false)
		}
	}
	p("   bound: %.1f images/s (%s)", best.ImagesS, best.Config)
	return best
}

func ratio(e2e float64, r pythonResult) string {
	if r.Err != "" || r.Seconds == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", e2e/r.imagesS())
}

func uniqueSorted(ns ...int) []int {
	seen := map[int]bool{}
	var out []int
	for _, n := range ns {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

func parseInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	return strings.Join(f[:min(3, len(f))], " ")
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
