package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facebatch/facebatch/models"
	"github.com/facebatch/facebatch/pipelines"
	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

// buildBinaries builds facebatch, Beam's boot loader (as `make build` does)
// and the prism job server.
func buildBinaries(t *testing.T) (facebatch, boot, prism string) {
	t.Helper()
	dir := t.TempDir()
	facebatch, boot, prism = filepath.Join(dir, "facebatch"), filepath.Join(dir, "beam-boot"), filepath.Join(dir, "prism")
	for _, b := range []struct{ out, pkg string }{
		{facebatch, "."},
		{boot, "github.com/apache/beam/sdks/v2/go/container"},
		{prism, "github.com/apache/beam/sdks/v2/go/cmd/prism"},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return facebatch, boot, prism
}

// startJobServer runs a prism job server, the portable runner that stands
// in for Dataflow here, as its own process group (it starts the PROCESS
// workers), and returns its endpoint.
func startJobServer(t *testing.T, prism string, env []string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logFile, err := os.Create(filepath.Join(t.TempDir(), "prism.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prism, fmt.Sprintf("--job_port=%d", port))
	cmd.Env = env
	// Beam's boot loader writes pipeline_options.json in its working folder.
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the server and any worker left
		cmd.Wait()
		logFile.Close()
	})
	endpoint := fmt.Sprintf("localhost:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if c, err := net.Dial("tcp", endpoint); err == nil {
			c.Close()
			return endpoint
		}
		if time.Now().After(deadline) {
			t.Fatalf("prism did not listen on %s", endpoint)
		}
	}
}

// TestUniversalRunner submits both jobs to a prism job server with
// --runner=universal: with LOOPBACK workers (in the submitting process) and
// with PROCESS workers (separate processes started through Beam's boot
// loader, running our binary as the SDK worker, as on Dataflow).
func TestUniversalRunner(t *testing.T) {
	bin, boot, prismBin := buildBinaries(t)
	// The PROCESS workers are started by the job server, in its
	// environment, without $FACEBATCH_MTCNN: the MTCNN folder must reach
	// them in the job's own config, as it would on other machines.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, models.EnvMTCNN+"=") {
			env = append(env, kv)
		}
	}
	endpoint := startJobServer(t, prismBin, append(env, "FACEBATCH_BEAM_BOOT="+boot))
	wrapper, err := filepath.Abs("../../scripts/beam-boot.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	galleryDir := filepath.Join(dir, "gallery")
	job := func(t *testing.T, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = os.Environ()
		out, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("facebatch %s: %v\nstdout:\n%s\nstderr (tail):\n%s", strings.Join(args, " "), err, out, tail(stderr, 3000))
		}
		return string(out)
	}
	universal := []string{"--runner=universal", "--endpoint=" + endpoint, "--detector=none", "--profile=notebook"}
	out := job(t, append([]string{"gallery", "--input", seedGallery, "--output", galleryDir, "--environment_type=LOOPBACK"}, universal...)...)
	if !strings.Contains(out, "12 photos of 12 identities") {
		t.Fatalf("gallery output: %s", out)
	}
	for _, env := range []struct {
		name string
		args []string
	}{
		{"LOOPBACK", []string{"--environment_type=LOOPBACK"}},
		{"PROCESS", []string{"--environment_type=PROCESS", `--environment_config={"command":"` + wrapper + `"}`, "--worker_binary=" + bin}},
	} {
		t.Run(env.name, func(t *testing.T) {
			results := filepath.Join(dir, "results-"+env.name)
			args := append([]string{"identify", "--input", seedCamera, "--gallery", galleryDir, "--output", results}, universal...)
			out := job(t, append(args, env.args...)...)
			if !strings.Contains(out, "6 images, 6 faces: 6 matched") {
				t.Errorf("identify output: %s", out)
			}
			checkCameraResults(t, results, notebookAnswers)
		})
	}
	// The default profile (MTCNN, alignment) on PROCESS workers: each
	// worker process loads the detector once, from the folder in the config.
	t.Run("PROCESS default profile", func(t *testing.T) {
		defaultGallery, results := filepath.Join(dir, "gallery-default"), filepath.Join(dir, "results-default")
		job(t, "gallery", "--input", seedGallery, "--output", defaultGallery)
		out := job(t, "identify", "--input", seedCamera, "--gallery", defaultGallery, "--output", results,
			"--runner=universal", "--endpoint="+endpoint, "--environment_type=PROCESS",
			`--environment_config={"command":"`+wrapper+`"}`, "--worker_binary="+bin)
		if !strings.Contains(out, "6 images, 6 faces: 6 matched") {
			t.Errorf("identify output: %s", out)
		}
		checkCameraResults(t, results, cameraTruth)

		// The nightly loop on PROCESS workers: rematch against a gallery
		// that no longer knows bertrand, with clustering on, so that his
		// two faces go through the partitioned clustering's steps there.
		withEmbeddings, rematched := filepath.Join(dir, "results-embeddings"), filepath.Join(dir, "rematched")
		job(t, "identify", "--input", seedCamera, "--gallery", defaultGallery, "--output", withEmbeddings, "--with-embeddings")
		smaller := filepath.Join(dir, "gallery-photos-without-bertrand")
		if err := os.MkdirAll(smaller, 0o755); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(seedGallery)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() == "bertrand.jpg" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(seedGallery, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(smaller, e.Name()), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		smallerGallery := filepath.Join(dir, "gallery-without-bertrand")
		job(t, "gallery", "--input", smaller, "--output", smallerGallery)
		// A strict threshold: with bertrand gone his faces lie nearest
		// someone else, under the default one.
		out = job(t, "rematch", "--results", withEmbeddings, "--gallery", smallerGallery, "--output", rematched, "--cluster", "--threshold", "0.6",
			"--runner=universal", "--endpoint="+endpoint, "--environment_type=PROCESS",
			`--environment_config={"command":"`+wrapper+`"}`, "--worker_binary="+bin)
		t.Logf("rematch: %s", out)
		var matched, unknown int64
		at := max(strings.Index(out, "6 images"), 0)
		if _, err := fmt.Sscanf(out[at:], "6 images, 6 faces: %d matched, %d unknown", &matched, &unknown); err != nil || unknown < 2 {
			t.Fatalf("rematch output: %s (want bertrand's two faces unknown at least)", out)
		}
		m, err := tables.ReadMarker(context.Background(), rematched+pipelines.ClustersSuffix)
		if err != nil {
			t.Fatal(err)
		}
		if m.Faces != unknown || m.Rows < 1 || m.Rows > unknown {
			t.Errorf("clusters table: %d faces in %d clusters, want the %d unknown ones", m.Faces, m.Rows, unknown)
		}
	})
}

// The seed camera shots' answers: the notebook's (`who --profile
// notebook`; its weights take camera_4 for sebastiano), and who they show
// (expected.json's camera_truth), which the default profile gets.
var (
	notebookAnswers = map[string]string{
		"camera_0.jpg": "younes", "camera_1.jpg": "bertrand", "camera_2.jpg": "benoit",
		"camera_3.jpg": "bertrand", "camera_4.jpg": "sebastiano", "camera_5.jpg": "arnaud",
	}
	cameraTruth = map[string]string{
		"camera_0.jpg": "younes", "camera_1.jpg": "bertrand", "camera_2.jpg": "benoit",
		"camera_3.jpg": "bertrand", "camera_4.jpg": "dan", "camera_5.jpg": "arnaud",
	}
)

// checkCameraResults checks the seed camera shots got the wanted answers.
func checkCameraResults(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	rows, err := tables.ReadAll[results.Row](context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for _, r := range rows {
		name := filepath.Base(r.ImageURI)
		if r.Identity == nil || *r.Identity != want[name] || r.Status != results.StatusOK {
			t.Errorf("%s: identity %v status %s, want %s", name, r.Identity, r.Status, want[name])
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
