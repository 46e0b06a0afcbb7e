package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkEvalOutputs checks an eval run wrote summary.json and report.html
// into out and printed where the report is; what they hold is package
// accuracy's to test.
func checkEvalOutputs(t *testing.T, out, stdout string) map[string]any {
	t.Helper()
	var sum map[string]any
	data, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	html := filepath.Join(out, "report.html")
	if info, err := os.Stat(html); err != nil || info.Size() == 0 {
		t.Errorf("report.html: %v", err)
	}
	if !strings.HasSuffix(stdout, " "+html+"\n") {
		t.Errorf("output does not end with the report's path %s:\n%s", html, stdout)
	}
	return sum
}

// TestEvalIdentify runs 1:N from the command line on the notebook's photos,
// arnaud left out of the gallery so that camera_5 is an unknown person.
func TestEvalIdentify(t *testing.T) {
	dir := t.TempDir()
	gal, probes := filepath.Join(dir, "gallery"), filepath.Join(dir, "probes")
	for _, name := range []string{"bertrand.jpg", "dan.jpg", "sebastiano.jpg", "younes.jpg"} {
		link(t, filepath.Join(seedGallery, name), filepath.Join(gal, name))
	}
	link(t, filepath.Join(seedCamera, "camera_0.jpg"), filepath.Join(probes, "younes", "camera_0.jpg"))
	link(t, filepath.Join(seedCamera, "camera_5.jpg"), filepath.Join(probes, "arnaud", "camera_5.jpg"))
	out := filepath.Join(dir, "out")
	code, stdout, stderr := facebatch(t, "eval", "--gallery", gal, "--probes", probes, "--out", out, "--profile", "notebook", "--margins", "none")
	if code != exitAccepted {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, tail(stderr, 2000))
	}
	for _, want := range []string{"eval 1:N                       2 probes of 2 identities against 4 photos of 4 identities", "open set: FNIR"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	sum := checkEvalOutputs(t, out, stdout)
	if sum["mode"] != "identification" || sum["gallery"] != gal || sum["unknown_probes"] != 1.0 || sum["enrolled_probes"] != 1.0 {
		t.Errorf("summary.json: mode %v, gallery %v, %v unknown and %v enrolled probes", sum["mode"], sum["gallery"], sum["unknown_probes"], sum["enrolled_probes"])
	}
}

// TestEvalFlags checks the flags are checked before any work, with exit
// status 2 and the reason, and that -h prints the flags.
func TestEvalFlags(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"help", []string{"-h"}, exitAccepted, "-gallery-sizes value"},
		{"both modes", []string{"--pairs", "p", "--images", "i", "--gallery", "g", "--probes", "q", "--out", "o"}, exitError, "two modes"},
		{"no probes", []string{"--gallery", "g", "--out", "o"}, exitError, "--probes is required"},
		{"no images", []string{"--pairs", "p", "--out", "o"}, exitError, "--images is required"},
		{"no out", []string{"--pairs", "p", "--images", "i"}, exitError, "--out is required"},
		{"nothing", nil, exitError, "--pairs is required"},
		{"stray argument", []string{"--pairs", "p", "--images", "i", "--out", "o", "extra"}, exitError, `unexpected arguments ["extra"]`},
		{"unknown flag", []string{"--colour"}, exitError, "flag provided but not defined"},
		{"threshold", []string{"--gallery", "g", "--probes", "q", "--out", "o", "--threshold", "3"}, exitError, "outside (0, 2]"},
		{"missing gallery", []string{"--gallery", "/no/such/dir", "--probes", "q", "--out", "o"}, exitError, "no such file"},
		{"target FPIR", []string{"--gallery", "g", "--probes", "q", "--out", "o", "--target-fpir", "1"}, exitError, "outside (0, 1)"},
		{"gallery size", []string{"--gallery", "g", "--probes", "q", "--out", "o", "--gallery-sizes", "100,1"}, exitError, "no runner-up"},
		{"margin", []string{"--gallery", "g", "--probes", "q", "--out", "o", "--margins", "0.1,x"}, exitError, "invalid"},
		{"margin range", []string{"--gallery", "g", "--probes", "q", "--out", "o", "--margins", "0.1,2"}, exitError, "--margins: 2 is outside (0, 2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := facebatch(t, append([]string{"eval"}, tt.args...)...)
			if code != tt.code || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, tt.code, tt.stderr)
			}
		})
	}
}

func link(t *testing.T, target, name string) {
	t.Helper()
	abs, err := filepath.Abs(target)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(abs, name); err != nil {
		t.Fatal(err)
	}
}
