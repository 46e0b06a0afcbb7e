package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	_ "image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/models"
)

// encodeConfig is one setting of the encode-only measurement.
type encodeConfig struct {
	Batch   int
	Streams int // goroutines running batches at once
	Session encoder.Session
	// Flip encodes with the profile's +flip variant (each face and its
	// mirror image: twice the model runs per face).
	Flip bool `json:",omitempty"`
}

func (c encodeConfig) String() string {
	s := fmt.Sprintf("batch=%d streams=%d intra=%d inter=%d", c.Batch, c.Streams, c.Session.IntraOpThreads, c.Session.InterOpThreads)
	if c.Session.XLA {
		s += " xla"
	}
	if c.Session.BFloat16 {
		s += " bf16(grappler)"
	}
	if c.Flip {
		s += " +flip"
	}
	return s
}

type encodeResult struct {
	Config  encodeConfig
	ImagesS float64 `json:"images_s"`
	Err     string  `json:",omitempty"`
}

// encodeChild is the child process's side: load the model with the given
// settings, encode pre-decoded, pre-resized faces for the given time, and
// print one JSON line.
func encodeChild(args []string) error {
	fs := flag.NewFlagSet("encode-child", flag.ContinueOnError)
	model := fs.String("model", "", "model folder")
	profile := fs.String("profile", "", "profile")
	photos := fs.String("photos", "", "folder of JPEG photos to take faces from")
	secs := fs.Float64("seconds", 3, "measuring time")
	cfgJSON := fs.String("config", "", "encodeConfig as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg encodeConfig
	if err := json.Unmarshal([]byte(*cfgJSON), &cfg); err != nil {
		return err
	}
	name := *profile
	if cfg.Flip {
		name += models.FlipSuffix
	}
	enc, err := encoder.Load(*model, encoder.Options{Profile: name, Session: cfg.Session})
	if err != nil {
		return err
	}
	faces, err := modelInputs(enc, *photos, cfg.Batch*cfg.Streams)
	if err != nil {
		return err
	}
	ctx := context.Background()
	// Warm up every stream once: the first runs pick kernels and allocate.
	var wg sync.WaitGroup
	errs := make([]error, cfg.Streams)
	for s := range cfg.Streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[s] = enc.Encode(ctx, faces[s*cfg.Batch:(s+1)*cfg.Batch])
		}()
	}
	wg.Wait()
	counts := make([]int, cfg.Streams)
	start := time.Now()
	deadline := start.Add(time.Duration(*secs * float64(time.Second)))
	for s := range cfg.Streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for errs[s] == nil && time.Now().Before(deadline) {
				_, errs[s] = enc.Encode(ctx, faces[s*cfg.Batch:(s+1)*cfg.Batch])
				counts[s] += cfg.Batch
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	total := 0
	for s := range cfg.Streams {
		if errs[s] != nil {
			return errs[s]
		}
		total += counts[s]
	}
	return json.NewEncoder(os.Stdout).Encode(encodeResult{Config: cfg, ImagesS: float64(total) / elapsed})
}

// modelInputs decodes photos with Go's decoder (the measurement is about
// the model, not about decoding) and resizes them to the model's input.
func modelInputs(enc *encoder.Encoder, dir string, n int) ([]image.Image, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("no photos in %s (%v)", dir, err)
	}
	sort.Strings(paths)
	var out []image.Image
	for i := 0; len(out) < n; i++ {
		f, err := os.Open(paths[i%len(paths)])
		if err != nil {
			return nil, err
		}
		img, _, err := image.Decode(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", paths[i%len(paths)], err)
		}
		out = append(out, enc.Input(img))
	}
	return out, nil
}

// measureEncode runs one configuration in a child process.
func (b *bench) measureEncode(cfg encodeConfig) encodeResult {
	cj, _ := json.Marshal(cfg)
	cmd := exec.Command(b.self, "encode-child", "-model", b.modelDir, "-profile", b.profile,
		"-photos", b.photoDir, "-seconds", fmt.Sprint(b.encodeSeconds), "-config", string(cj))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return encodeResult{Config: cfg, Err: fmt.Sprintf("%v: %s", err, lastLines(stderr.String(), 3))}
	}
	var r encodeResult
	if err := json.Unmarshal(out, &r); err != nil {
		return encodeResult{Config: cfg, Err: fmt.Sprintf("bad child output %q: %v", out, err)}
	}
	return r
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}
