package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestQuickRun builds facebatch and the bench, runs the bench's smoke mode
// (tiny sizes, no Python baselines: their venv is a 1.5 GB install that
// `make test` should not need) and checks that every stage reported and
// that the SUMMARY line carries every field with a number, or n/a for the
// skipped baselines.
func TestQuickRun(t *testing.T) {
	dir := t.TempDir()
	bin := map[string]string{"facebatch": "../cmd/facebatch", "bench": "."}
	for name, pkg := range bin {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
	cmd := exec.Command(filepath.Join(dir, "bench"), "-quick", "-facebatch", filepath.Join(dir, "facebatch"),
		"-work", filepath.Join(dir, "work"), "-photos", filepath.Join(dir, "photos"))
	cmd.Dir = ".."
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench -quick: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	text := string(out)
	for _, want := range []string{"1. Encode bound", "bound:", "2. identify end to end", "steady state", "2b. Stage-sum bound", "stage-sum bound on", "3. The same photos", "3b. The peer", "the same work (--profile notebook)", "4. Matching", "sgemm peak", "5. Peak RSS", "6. Phone photos", "detection recall", "7. The nightly loop at scale", "exact clustering against the people"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	num := `[0-9]+(\.[0-9]+)?`
	summary := regexp.MustCompile(`(?m)^SUMMARY e2e_img_s=` + num + ` bound_img_s=` + num + ` e2e_over_bound=` + num +
		` stage_sum_img_s=` + num + ` e2e_over_stage_sum=` + num + ` detect_ms_per_photo=` + num +
		` over_face_recognition=n/a fr_lfw_acc=n/a fb_lfw_acc=n/a` +
		` over_notebook_loop=n/a over_beam_python=n/a match_over_sgemm=` + num + ` rss_20k_over_1k=` + num +
		` same_work_img_s=` + num + ` e2e_over_notebook_loop=n/a e2e_over_beam_python=n/a` +
		` phone_img_s=` + num + ` phone_faces_s=` + num + ` phone_faces_over_bound=` + num + ` phone_recall=` + num + ` phone_rss_mb=` + num +
		` rematch_rows_s=` + num + ` rematch_rss_mb=` + num + ` cluster_3k_s=-?` + num + ` cluster_f1_vs_exact=` + num +
		` report_rss_mb=` + num + ` promote_rss_mb=` + num + `$`)
	if !summary.MatchString(text) {
		t.Errorf("no complete SUMMARY line in:\n%s", text)
	}
	// The profiled run may fail (see bench/main.go); the bench must say so.
	_, perfErr := os.Stat(filepath.Join(dir, "work", "identify.perf.data"))
	if _, err := os.Stat(filepath.Join(dir, "work", "identify.prof")); err != nil && perfErr != nil && !strings.Contains(text, "no profile this time") {
		t.Errorf("no CPU profile of the identify run, and no word why: %v", err)
	}
}

// TestRunMeasured: a child's peak RSS is its own, not the bench
// process's (see runMeasured): with 300 MB touched here, a shell's peak
// stays far below.
func TestRunMeasured(t *testing.T) {
	ballast := make([]byte, 300<<20)
	for i := range ballast {
		ballast[i] = byte(i)
	}
	m, err := runMeasured(exec.Command("sh", "-c", "sleep 0.2"))
	if err != nil {
		t.Fatal(err)
	}
	if m.peakRSS <= 0 || m.peakRSS > 100<<20 {
		t.Errorf("peak RSS %d bytes, want above 0 and under 100 MiB", m.peakRSS)
	}
	if m.wall < 200*time.Millisecond {
		t.Errorf("wall %v, want at least 200ms", m.wall)
	}
	runtime.KeepAlive(ballast)
}
