// Command clusterbench measures face clustering: pairwise precision and
// recall over a range of thresholds on real LFW faces (calibration), and
// quality and time at growing sizes of synthetic-plus-real unknown faces.
//
//	go run ./bench/clusterbench --images ../shared/lfw-dev/images [--profile standardized] [--sizes 1000,10000,100000]
//
// The LFW faces are found (pigo) and encoded once with the jobs' own code
// and kept in --cache. Synthetic faces are made from real ones (see
// synthesize), so that their spread within and between identities is that
// of real encodings; a share are random unit vectors, faces of nobody else.
package main

import (
	"context"
	"encoding/gob"
	"errors"
	"flag"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/facebatch/facebatch/cluster"
	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/models"
)

// lfw is the cached encodings: one per image where pigo found a face.
type lfw struct {
	ModelID, Profile string
	People           []string    // person of each encoding
	Encodings        [][]float32 // unit, the best face of each image
	NoFace           int
}

func main() {
	images := flag.String("images", "../shared/lfw-dev/images", "LFW images folder: <Name>/<Name>_NNNN.jpg")
	profile := flag.String("profile", "standardized", "model profile")
	cache := flag.String("cache", "", "encodings cache (default out/clusterbench/lfw-<profile>.gob)")
	calibrate := flag.String("calibrate", "0.6,0.65,0.7,0.75,0.8,0.85,0.9,0.95,1.0,1.05,1.1,1.15,1.2", "thresholds to score on the real faces (empty: none)")
	sizes := flag.String("sizes", "1000,10000,100000", "synthetic-plus-real sizes to time (empty: none)")
	threshold := flag.Float64("threshold", 0, "cluster threshold for the sized runs (default: the profile's)")
	flag.Parse()
	if err := run(context.Background(), *images, *profile, *cache, *calibrate, *sizes, *threshold); err != nil {
		fmt.Fprintln(os.Stderr, "clusterbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, images, profile, cache, calibrate, sizes string, threshold float64) error {
	if cache == "" {
		cache = filepath.Join("out", "clusterbench", "lfw-"+profile+".gob")
	}
	data, err := load(ctx, images, profile, cache)
	if err != nil {
		return err
	}
	truth := labels(data.People)
	fmt.Printf("lfw: %d faces of %d people (%d images without a face), model %s, profile %s, GOMAXPROCS %d\n",
		len(data.Encodings), countDistinct(truth), data.NoFace, data.ModelID, data.Profile, runtime.GOMAXPROCS(0))
	if calibrate != "" {
		fmt.Println("\ncalibration on the real faces:")
		fmt.Println("threshold  precision  recall  F1     F0.5   clusters  singletons")
		for _, s := range strings.Split(calibrate, ",") {
			t, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return err
			}
			res, err := cluster.Group(ctx, data.Encodings, cluster.Options{Threshold: t})
			if err != nil {
				return err
			}
			p, r := cluster.Pairwise(truth, res.Labels)
			fmt.Printf("%-9.3g  %.4f     %.4f  %.4f %.4f %-8d  %d\n", t, p, r, fbeta(p, r, 1), fbeta(p, r, 0.5), len(res.Clusters), singletons(res))
		}
	}
	if sizes == "" {
		return nil
	}
	if threshold == 0 {
		m, err := models.Load(modelDir())
		if err != nil {
			return err
		}
		p, err := m.Profile(profile)
		if err != nil {
			return err
		}
		threshold = p.ClusterThreshold()
	}
	fmt.Printf("\nsynthetic-plus-real unknown faces, threshold %g:\n", threshold)
	fmt.Println("faces    real   identities  precision  recall  clusters  seconds  allocated MB")
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		encs, classes, real := synthesize(data.Encodings, truth, n)
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		res, err := cluster.Group(ctx, encs, cluster.Options{Threshold: threshold})
		if err != nil {
			return err
		}
		secs := time.Since(start).Seconds()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		p, r := cluster.Pairwise(classes, res.Labels)
		fmt.Printf("%-8d %-6d %-11d %.4f     %.4f  %-8d  %-7.2f  %.0f\n", n, real, countDistinct(classes), p, r, len(res.Clusters), secs,
			float64(after.TotalAlloc-before.TotalAlloc)/(1<<20))
	}
	return nil
}

func modelDir() string {
	dir, _ := models.DefaultDir()
	return dir
}

// load reads the cache, or encodes the LFW images and writes it.
func load(ctx context.Context, images, profile, cache string) (*lfw, error) {
	if f, err := os.Open(cache); err == nil {
		defer f.Close()
		var d lfw
		if err := gob.NewDecoder(f).Decode(&d); err != nil {
			return nil, fmt.Errorf("%s: %w", cache, err)
		}
		if d.Profile == profile {
			return &d, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	d, err := encode(ctx, images, profile)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(cache)
	if err != nil {
		return nil, err
	}
	if err := gob.NewEncoder(f).Encode(d); err != nil {
		f.Close()
		return nil, err
	}
	return d, f.Close()
}

func encode(ctx context.Context, images, profile string) (*lfw, error) {
	paths, err := filepath.Glob(filepath.Join(images, "*", "*.jpg"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no images under %s", images)
	}
	slices.Sort(paths)
	enc, err := encoder.Load(modelDir(), encoder.Options{Profile: profile})
	if err != nil {
		return nil, err
	}
	dec, err := decoder.New(0)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	det, err := detector.New(enc.Profile().Detector, detector.Options{})
	if err != nil {
		return nil, err
	}
	finder := &faces.Finder{Decoder: dec, Detector: det, Size: enc.Size(), Margin: faces.DefaultMargin, Resize: enc.Profile().Resize}
	d := &lfw{ModelID: enc.ModelID(), Profile: profile}
	start := time.Now()
	const batch = 32
	for i := 0; i < len(paths); i += batch {
		var imgs []image.Image
		for _, p := range paths[i:min(i+batch, len(paths))] {
			raw, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			photo, err := finder.Find(raw)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			if len(photo.Faces) == 0 {
				d.NoFace++
				continue
			}
			imgs = append(imgs, photo.Faces[0].Input)
			d.People = append(d.People, filepath.Base(filepath.Dir(p)))
		}
		out, err := enc.Encode(ctx, imgs)
		if err != nil {
			return nil, err
		}
		d.Encodings = append(d.Encodings, out...)
	}
	fmt.Fprintf(os.Stderr, "encoded %d images in %.0fs\n", len(paths), time.Since(start).Seconds())
	return d, nil
}

// synthesize returns n faces: real ones first (all of them, or whole
// people in a fixed random order up to n), then synthetic people until n.
// A synthetic person is a real person moved elsewhere: all of the real
// person's faces rotated together, in the plane of their centre and a random
// direction, by the angle that separates the centres of two different real
// people on average. A rotation keeps every distance between the faces, so
// a synthetic person varies exactly as its source does. One face in twenty
// is a random unit vector: a face of nobody else (a stranger seen once, or a
// false detection).
func synthesize(real [][]float32, truth []int, n int) (encs [][]float32, classes []int, nReal int) {
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	byPerson := map[int][]int{}
	for i, c := range truth {
		byPerson[c] = append(byPerson[c], i)
	}
	people := make([]int, 0, len(byPerson))
	for c := range byPerson {
		people = append(people, c)
	}
	slices.Sort(people)
	rng.Shuffle(len(people), func(i, j int) { people[i], people[j] = people[j], people[i] })
	for _, c := range people {
		if len(encs)+len(byPerson[c]) > n {
			break
		}
		for _, i := range byPerson[c] {
			encs, classes = append(encs, real[i]), append(classes, c)
		}
	}
	nReal = len(encs)
	dim := len(real[0])
	class := len(real) // synthetic classes are numbered after the real ones
	centres := centres(real, truth)
	angle := 2 * math.Asin(meanDistance(centres)/2)
	for len(encs) < n {
		if rng.IntN(20) == 0 {
			encs, classes = append(encs, randomUnit(rng, dim)), append(classes, class)
			class++
			continue
		}
		c := people[rng.IntN(len(people))]
		mu := centres[c]
		// u: a random unit vector orthogonal to the centre.
		u := randomUnit(rng, dim)
		var along float64
		for k := range u {
			along += float64(u[k]) * mu[k]
		}
		for k := range u {
			u[k] -= float32(along * mu[k])
		}
		normalize(u)
		cos, sin := math.Cos(angle), math.Sin(angle)
		for _, i := range byPerson[c] {
			if len(encs) == n {
				break
			}
			v := real[i]
			var a, b float64
			for k := range v {
				a += float64(v[k]) * mu[k]
				b += float64(v[k]) * float64(u[k])
			}
			w := make([]float32, dim)
			for k := range w {
				w[k] = float32(float64(v[k]) + (cos-1)*(a*mu[k]+b*float64(u[k])) + sin*(a*float64(u[k])-b*mu[k]))
			}
			encs, classes = append(encs, w), append(classes, class)
		}
		class++
	}
	return encs, classes, nReal
}

// centres are the people's mean encodings, renormalised.
func centres(real [][]float32, truth []int) map[int][]float64 {
	dim := len(real[0])
	sums := map[int][]float64{}
	for i, c := range truth {
		if sums[c] == nil {
			sums[c] = make([]float64, dim)
		}
		for k, v := range real[i] {
			sums[c][k] += float64(v)
		}
	}
	for _, s := range sums {
		var l float64
		for _, v := range s {
			l += v * v
		}
		l = math.Sqrt(l)
		for k := range s {
			s[k] /= l
		}
	}
	return sums
}

// meanDistance is the mean distance between the centres of the first 300
// people (by class number).
func meanDistance(centres map[int][]float64) float64 {
	var total float64
	var pairs int
	for i := 0; i < 300 && centres[i] != nil; i++ {
		for j := i + 1; j < 300 && centres[j] != nil; j++ {
			var d float64
			for k := range centres[i] {
				x := centres[i][k] - centres[j][k]
				d += x * x
			}
			total += math.Sqrt(d)
			pairs++
		}
	}
	return total / float64(pairs)
}

func randomUnit(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for k := range v {
		v[k] = float32(rng.NormFloat64())
	}
	normalize(v)
	return v
}

func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	l := float32(math.Sqrt(s))
	for k := range v {
		v[k] /= l
	}
}

func labels(people []string) []int {
	ids := map[string]int{}
	out := make([]int, len(people))
	for i, p := range people {
		id, ok := ids[p]
		if !ok {
			id = len(ids)
			ids[p] = id
		}
		out[i] = id
	}
	return out
}

func countDistinct(xs []int) int {
	m := map[int]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return len(m)
}

func singletons(r *cluster.Result) int {
	n := 0
	for _, c := range r.Clusters {
		if len(c.Members) == 1 {
			n++
		}
	}
	return n
}

func fbeta(p, r, beta float64) float64 {
	if p+r == 0 {
		return 0
	}
	b2 := beta * beta
	return (1 + b2) * p * r / (b2*p + r)
}
