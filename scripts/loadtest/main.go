// Command loadtest runs identify over generated photos on a fake GCS
// server with storage faults, and checks that every photo ends up in the
// results exactly once: 5% of requests fail with a transient error, the
// storage is out for a while in the middle of the run, and the job's
// process is killed once and run again.
//
//	go run ./scripts/loadtest -facebatch bin/facebatch [-photos 10000] [-outage 2m]
//
// The photos are small generated JPEGs read with --detector=none and the
// notebook profile (the whole photo is the face): the test is about
// storage, so the model's cost is kept to its least. `make loadtest` runs
// it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

func main() {
	bin := flag.String("facebatch", "bin/facebatch", "the facebatch binary")
	photos := flag.Int("photos", 10000, "generated photos")
	failRate := flag.Float64("fail", 0.05, "share of storage requests failed with a transient error (503)")
	outage := flag.Duration("outage", 2*time.Minute, "how long the storage is out, starting a third into the first run")
	kill := flag.Bool("kill", true, "kill the first run's process once (SIGKILL) after the outage, and run again")
	flag.Parse()
	if err := run(*bin, *photos, *failRate, *outage, *kill); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// faults is the proxy's state: the share of requests to fail, and the
// outage window.
type faults struct {
	rate                 float64
	mu                   sync.Mutex
	outageFrom, outageTo time.Time
	requests, failed     atomic.Int64
}

func (f *faults) fail() bool {
	f.requests.Add(1)
	f.mu.Lock()
	out := !f.outageFrom.IsZero() && time.Now().After(f.outageFrom) && time.Now().Before(f.outageTo)
	f.mu.Unlock()
	if out || rand.Float64() < f.rate {
		f.failed.Add(1)
		return true
	}
	return false
}

func (f *faults) startOutage(d time.Duration) {
	f.mu.Lock()
	f.outageFrom, f.outageTo = time.Now(), time.Now().Add(d)
	f.mu.Unlock()
}

func run(bin string, n int, failRate float64, outage time.Duration, kill bool) error {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0, PublicHost: "127.0.0.1"})
	if err != nil {
		return err
	}
	defer srv.Stop()
	srv.CreateBucket("load")
	t := time.Now()
	for i := range n {
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "load", Name: fmt.Sprintf("photos/day-%02d/%06d.jpg", i%30, i)}, Content: photo(i)})
	}
	for i := range 5 {
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "load", Name: fmt.Sprintf("gallery/person%d/ref.jpg", i)}, Content: photo(1_000_000 + i)})
	}
	fmt.Printf("loadtest: %d photos on a fake GCS server in %.1fs\n", n, time.Since(t).Seconds())

	target, _ := url.Parse(srv.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	f := &faults{rate: 0}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.fail() {
			http.Error(w, `{"error":{"code":503,"message":"injected"}}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	env := append(os.Environ(), "STORAGE_EMULATOR_HOST="+front.URL, "TF_CPP_MIN_LOG_LEVEL=3")
	work, err := os.MkdirTemp("", "facebatch-loadtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	common := []string{"--detector=none", "--profile=notebook"}
	if _, err := facebatch(context.Background(), bin, env, filepath.Join(work, "gallery.log"),
		append([]string{"gallery", "--input", "gs://load/gallery/", "--output", "gs://load/tables/gallery"}, common...)...); err != nil {
		return err
	}
	identify := append([]string{"identify", "--input", "gs://load/photos/", "--gallery", "gs://load/tables/gallery",
		"--output", "gs://load/tables/results", "--shards", "16"}, common...)

	f.rate = failRate
	start := time.Now()
	var retries int64
	runs := 0
	for attempt := 1; ; attempt++ {
		runs++
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		if attempt == 1 {
			go func() {
				// The outage a third into a run of about n/100 seconds.
				select {
				case <-time.After(time.Duration(n/300) * time.Second):
					fmt.Printf("loadtest: storage out for %v from %.0fs\n", outage, time.Since(start).Seconds())
					f.startOutage(outage)
				case <-done:
					return
				}
				if !kill {
					return
				}
				select {
				case <-time.After(outage + 20*time.Second):
					fmt.Printf("loadtest: killing the run at %.0fs\n", time.Since(start).Seconds())
					cancel()
				case <-done:
				}
			}()
		}
		out, err := facebatch(ctx, bin, env, filepath.Join(work, fmt.Sprintf("identify-%d.log", attempt)), identify...)
		close(done)
		cancel()
		retries += retryCount(out)
		if err == nil {
			fmt.Printf("loadtest: run %d completed: %s\n", attempt, summaryLine(out))
			if attempt == 1 && kill {
				fmt.Println("loadtest: (it completed before the kill: nothing was killed)")
			}
			break
		}
		if attempt == 3 {
			return fmt.Errorf("run %d: %w", attempt, err)
		}
		fmt.Printf("loadtest: run %d ended: %s; running again\n", attempt, firstLine(err.Error()))
	}
	secs := time.Since(start).Seconds()
	f.rate = 0
	lost, duplicated, statuses, err := check(front.URL, n)
	if err != nil {
		return err
	}
	fmt.Printf("loadtest: %d photos in %.0fs over %d runs (%.1f photos/s, outage included); %d storage requests, %d failed on purpose; %d retried by facebatch in the completed run (the storage client retries reads itself, uncounted)\n",
		n, secs, runs, float64(n)/secs, f.requests.Load(), f.failed.Load(), retries)
	fmt.Printf("loadtest: rows by status %v; rows lost %d, duplicated %d\n", statuses, lost, duplicated)
	if lost != 0 || duplicated != 0 || statuses[results.StatusOK] != n {
		return errors.New("photos lost, duplicated or not read")
	}
	return nil
}

// photo is a small JPEG, different for each i.
func photo(i int) []byte {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	img := image.NewRGBA(image.Rect(0, 0, 96, 96))
	c := color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
	for y := range 96 {
		for x := range 96 {
			img.Set(x, y, color.RGBA{c.R + uint8(x), c.G + uint8(y), c.B + uint8(x^y), 255})
		}
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80})
	return buf.Bytes()
}

// facebatch runs the binary; killing ctx SIGKILLs it.
func facebatch(ctx context.Context, bin string, env []string, logPath string, args ...string) (string, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	cmd.Env, cmd.Stderr = env, log
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		tail, _ := os.ReadFile(logPath)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return stdout.String(), fmt.Errorf("facebatch %s: %v\n%s", args[0], err, tail)
	}
	return stdout.String(), nil
}

var retryLine = regexp.MustCompile(`storage: (\d+) transient errors retried`)

func retryCount(out string) int64 {
	m := retryLine.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// check reads the results table back and counts the photos missing from
// it, the rows beyond one per photo, and the rows by status.
func check(endpoint string, n int) (lost, duplicated int, statuses map[string]int, err error) {
	os.Setenv("STORAGE_EMULATOR_HOST", endpoint)
	seen := map[string]int{}
	statuses = map[string]int{}
	rows := 0
	err = tables.Scan(context.Background(), "gs://load/tables/results", func(batch []results.Row) error {
		for _, r := range batch {
			rows++
			seen[r.ImageURI]++
			statuses[r.Status]++
		}
		return nil
	})
	if err != nil {
		return 0, 0, nil, err
	}
	for i := range n {
		if seen[fmt.Sprintf("gs://load/photos/day-%02d/%06d.jpg", i%30, i)] == 0 {
			lost++
		}
	}
	return lost, rows - len(seen), statuses, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// summaryLine is identify's "identify RUN: N images..." line.
func summaryLine(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "identify ") {
			return line
		}
	}
	return firstLine(out)
}
