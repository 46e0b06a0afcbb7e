package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// pythonResult is what a baseline script prints.
type pythonResult struct {
	Images       int     `json:"images"`
	Seconds      float64 `json:"seconds"`       // steady state: without imports and model load
	TotalSeconds float64 `json:"total_seconds"` // the whole process
	MaxRSS       int64   `json:"-"`
	Err          string  `json:"-"`
}

func (r pythonResult) imagesS() float64 { return float64(r.Images) / r.Seconds }

// runPython runs a baseline script from bench/ on the first n photos.
func (b *bench) runPython(script string, n int, extra ...string) pythonResult {
	list := filepath.Join(b.work, fmt.Sprintf("list-%d.txt", n))
	if err := writeList(list, b.photoDir, n); err != nil {
		return pythonResult{Err: err.Error()}
	}
	args := append([]string{filepath.Join(b.scriptDir, script),
		"--model", b.savedModel, "--gallery", filepath.Join(b.sourceDir, "train"), "--list", list}, extra...)
	cmd := exec.Command(b.python, args...)
	cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=2")
	logPath := filepath.Join(b.work, strings.TrimSuffix(script, ".py")+".log")
	log, err := os.Create(logPath)
	if err != nil {
		return pythonResult{Err: err.Error()}
	}
	defer log.Close()
	cmd.Stderr = log
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	run, err := runMeasured(cmd)
	out := stdout.Bytes()
	if err != nil {
		return pythonResult{Err: fmt.Sprintf("%s: %v (log: %s)", script, err, logPath)}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var r pythonResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return pythonResult{Err: fmt.Sprintf("%s: bad output %q: %v", script, out, err)}
	}
	if r.Images != n {
		return pythonResult{Err: fmt.Sprintf("%s: did %d images, want %d", script, r.Images, n)}
	}
	r.MaxRSS = run.peakRSS
	return r
}
