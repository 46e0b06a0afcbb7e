package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/facebatch/facebatch/tables"
)

type identifyResult struct {
	Images, Faces int64
	Seconds       float64 // wall clock, process start to exit
	MaxRSS        int64   // bytes
	CPUSeconds    float64 // user + system
	Err           string
}

func (r identifyResult) imagesS() float64 { return float64(r.Images) / r.Seconds }
func (r identifyResult) facesS() float64  { return float64(r.Faces) / r.Seconds }

// runFacebatch runs bin/facebatch with args and measures it; stderr goes
// to logPath.
func (b *bench) runFacebatch(logPath string, args ...string) (measured, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return measured{}, err
	}
	defer log.Close()
	cmd := exec.Command(b.facebatch, args...)
	if len(b.runUnder) > 0 {
		cmd = exec.Command(b.runUnder[0], append(append(b.runUnder[1:], b.facebatch), args...)...)
	}
	cmd.Stderr = log
	var stdout strings.Builder
	cmd.Stdout = &stdout
	m, err := runMeasured(cmd)
	if err != nil {
		// The log's end says why; the scratch folder may not outlive us.
		tail, _ := os.ReadFile(logPath)
		if len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		}
		return m, fmt.Errorf("facebatch %s: %v (log: %s, ending:\n%s)", args[0], err, logPath, tail)
	}
	return m, nil
}

// identify runs the identify job on the first n generated photos; tag
// names its output and log.
func (b *bench) identify(n int, tag string, extra ...string) identifyResult {
	list := filepath.Join(b.work, fmt.Sprintf("list-%d.txt", n))
	if err := writeList(list, b.photoDir, n); err != nil {
		return identifyResult{Err: err.Error()}
	}
	out := filepath.Join(b.work, fmt.Sprintf("results-%d%s", n, tag))
	if err := os.RemoveAll(out); err != nil {
		return identifyResult{Err: err.Error()}
	}
	args := append([]string{"identify", "--manifest", list, "--gallery", b.galleryDir, "--output", out}, b.jobArgs()...)
	args = append(args, b.identifyArgs...)
	args = append(args, extra...)
	run, err := b.runFacebatch(filepath.Join(b.work, fmt.Sprintf("identify-%d%s.log", n, tag)), args...)
	if err != nil {
		return identifyResult{Err: err.Error()}
	}
	data, err := os.ReadFile(filepath.Join(out, tables.MarkerFile))
	if err != nil {
		return identifyResult{Err: err.Error()}
	}
	var m tables.Marker
	if err := json.Unmarshal(data, &m); err != nil {
		return identifyResult{Err: err.Error()}
	}
	if m.Images != int64(n) {
		return identifyResult{Err: fmt.Sprintf("identify wrote %d images, want %d", m.Images, n)}
	}
	return identifyResult{Images: m.Images, Faces: m.Faces, Seconds: run.wall.Seconds(), MaxRSS: run.peakRSS, CPUSeconds: run.cpu.Seconds()}
}

// perfProfile runs identify on n photos under Linux perf, which, unlike
// Go's profiler, sees inside TensorFlow's threads and libraries, and
// returns perf's report by shared object and by symbol, shortened.
func (b *bench) perfProfile(n int, data string) (string, error) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return "", err
	}
	profiled := *b
	profiled.runUnder = []string{perf, "record", "-q", "-F", "499", "-o", data, "--"}
	if r := profiled.identify(n, "-profiled"); r.Err != "" {
		return "", errors.New(r.Err)
	}
	var sb strings.Builder
	for _, view := range []struct {
		key, name string
		rows      int
	}{{"dso", "library", 7}, {"sym", "function", 15}} {
		out, err := exec.Command(perf, "report", "-i", data, "--stdio", "--sort", view.key).Output()
		if err != nil {
			return "", fmt.Errorf("perf report: %w", err)
		}
		fmt.Fprintf(&sb, "   by %s:\n", view.name)
		rows := 0
		for _, line := range strings.Split(string(out), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") || rows == view.rows {
				continue
			}
			if len(line) > 110 {
				line = line[:107] + "..."
			}
			fmt.Fprintf(&sb, "     %s\n", line)
			rows++
		}
	}
	return sb.String(), nil
}

// jobArgs are the profile and detector flags both jobs get.
func (b *bench) jobArgs() []string {
	var args []string
	if b.profile != "" {
		args = append(args, "--profile", b.profile)
	}
	if b.detector != "" {
		args = append(args, "--detector", b.detector)
	}
	return args
}

// buildGallery encodes the source photos' train folder as the gallery.
func (b *bench) buildGallery() error {
	if err := os.RemoveAll(b.galleryDir); err != nil {
		return err
	}
	args := append([]string{"gallery", "--input", filepath.Join(b.sourceDir, "train"), "--output", b.galleryDir}, b.jobArgs()...)
	_, err := b.runFacebatch(filepath.Join(b.work, filepath.Base(b.galleryDir)+".log"), args...)
	return err
}

// sameWork is the bench set to do what the Python baselines do: the
// notebook's preprocessing (the whole photo, NEAREST resize to 160x160,
// x/255), no detection, against a gallery encoded the same way.
func (b *bench) sameWork() *bench {
	c := *b
	c.profile, c.detector = "notebook", ""
	c.galleryDir = filepath.Join(b.work, "gallery-notebook")
	return &c
}

// steadyRate is the rate of the photos the larger run had over the
// smaller, which leaves out the start-up both pay; ok is false when the
// runs are too close for that to be meaningful.
func steadyRate(small, large identifyResult) (images, faces float64, ok bool) {
	d := large.Seconds - small.Seconds
	if large.Images <= small.Images || d <= 0 {
		return 0, 0, false
	}
	images = float64(large.Images-small.Images) / d
	faces = float64(large.Faces-small.Faces) / d
	return images, faces, images >= large.imagesS()
}
