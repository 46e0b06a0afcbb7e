package main

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	_ "image/png" // a few of the sdist's .jpg files are PNGs
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	xdraw "golang.org/x/image/draw"
)

// photoSetVersion names the generation recipe; change it when the recipe
// changes, so a cached set is not reused.
const photoSetVersion = "v1"

// cachedCount is how many photos a cached set's .count says it holds.
func cachedCount(dir string) int {
	data, err := os.ReadFile(filepath.Join(dir, ".count"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return n
}

// photoName is the i-th generated photo's file name.
func photoName(i int) string { return fmt.Sprintf("p%06d.jpg", i) }

// ensurePhotos makes sure dir holds at least n generated photos, made from
// the source photos (the "5 celebrity faces" set setup unpacked): photo i
// is source i mod len(sources), flipped or not, cropped by up to 10% on
// each side, rescaled by 0.6-1.4 and saved as JPEG at quality 80-95, all
// drawn from a generator seeded with i, so the set is the same on every
// machine and can be extended.
func ensurePhotos(dir, sourceDir string, n int) error {
	have := cachedCount(dir)
	if have >= n {
		return nil
	}
	sources, err := readSources(sourceDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	jobs := make(chan int)
	errs := make(chan error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := writePhoto(filepath.Join(dir, photoName(i)), sources[i%len(sources)], i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := have; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ".count"), []byte(strconv.Itoa(n)), 0o644)
}

func readSources(dir string) ([]image.Image, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*", "*", "*.jpg"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no source photos under %s (run scripts/setup.sh)", dir)
	}
	sort.Strings(paths)
	var out []image.Image
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		img, _, err := image.Decode(f)
		f.Close()
		if err != nil {
			// The sdist's photos all decode with Go; a failure means a
			// damaged cache, which should not be papered over.
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, img)
	}
	return out, nil
}

func writePhoto(path string, src image.Image, i int) error {
	r := rand.New(rand.NewSource(int64(i) + 1))
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	crop := image.Rect(
		b.Min.X+int(r.Float64()*0.1*float64(w)), b.Min.Y+int(r.Float64()*0.1*float64(h)),
		b.Max.X-int(r.Float64()*0.1*float64(w)), b.Max.Y-int(r.Float64()*0.1*float64(h)))
	scale := 0.6 + 0.8*r.Float64()
	dw, dh := max(16, int(float64(crop.Dx())*scale)), max(16, int(float64(crop.Dy())*scale))
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	xdraw.ApproxBiLinear.Scale(dst, dst.Bounds(), src, crop, xdraw.Src, nil)
	if r.Intn(2) == 1 {
		for y := range dh {
			row := dst.Pix[y*dst.Stride : y*dst.Stride+4*dw]
			for x := range dw / 2 {
				for c := range 4 {
					row[4*x+c], row[4*(dw-1-x)+c] = row[4*(dw-1-x)+c], row[4*x+c]
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 80 + r.Intn(16)}); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeList writes the paths of the first n photos, one per line: the
// identify job's --manifest and the Python baselines' input.
func writeList(path, dir string, n int) error {
	var sb strings.Builder
	for i := range n {
		sb.WriteString(filepath.Join(dir, photoName(i)))
		sb.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}
