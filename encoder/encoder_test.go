package encoder_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/matcher"
	"github.com/facebatch/facebatch/models"
)

const seed = "../../shared/seed"

var (
	loadOnce sync.Once
	loaded   *encoder.Encoder
	loadErr  error
)

// load returns the real exported FaceNet model. There is no fallback: a
// missing model or TensorFlow library fails the test.
func load(t testing.TB) *encoder.Encoder {
	t.Helper()
	loadOnce.Do(func() {
		var dir string
		if dir, loadErr = models.DefaultDir(); loadErr == nil {
			loaded, loadErr = encoder.Load(dir, encoder.Options{Profile: "notebook"})
		}
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded
}

// seedImage is one of the notebook's images, decoded.
type seedImage struct {
	dir  string // "gallery" or "camera"
	file string // e.g. "camera_0.jpg", the key in the reference files
	img  image.Image
}

func seedImages(t testing.TB) []seedImage {
	t.Helper()
	d, err := decoder.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out []seedImage
	for _, dir := range []string{"gallery", "camera"} {
		paths, err := filepath.Glob(filepath.Join(seed, dir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			img, _, err := d.Decode(data)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			out = append(out, seedImage{dir: dir, file: filepath.Base(p), img: img})
		}
	}
	if len(out) != 18 {
		t.Fatalf("%d seed images, want 18", len(out))
	}
	return out
}

func stem(file string) string { return strings.TrimSuffix(file, filepath.Ext(file)) }

// TestInputMatchesKeras checks, bit for bit, that each seed image decodes to
// the pixels PIL produced (libjpeg ISLOW, fancy upsampling, RGBA->RGB) and
// that the 160x160 input equals Keras' load_img(target_size=(160,160)).
func TestInputMatchesKeras(t *testing.T) {
	e := load(t)
	for _, s := range seedImages(t) {
		t.Run(stem(s.file), func(t *testing.T) {
			for _, tt := range []struct {
				got    image.Image
				suffix string
			}{
				{s.img, "_96.ppm"},
				{e.Input(s.img), "_160nearest.ppm"},
			} {
				got := tt.got.(*image.RGBA)
				want := readPPM(t, filepath.Join(seed, "reference_pixels", stem(s.file)+tt.suffix))
				if got.Bounds() != want.Bounds() {
					t.Fatalf("%s: size %v, want %v", tt.suffix, got.Bounds(), want.Bounds())
				}
				if d := maxPixelDiff(got.Pix, want.Pix); d != 0 {
					t.Errorf("%s: pixels differ from the reference by up to %d levels", tt.suffix, d)
				}
			}
		})
	}
}

func maxPixelDiff(a, b []uint8) int {
	worst := 0
	for i := range a {
		d := int(a[i]) - int(b[i])
		worst = max(worst, d, -d)
	}
	return worst
}

type reference struct {
	Encodings map[string]struct {
		Raw  []float64 `json:"raw"`
		Unit []float64 `json:"unit"`
	} `json:"encodings"`
	Distances map[string]map[string]float64 `json:"distances"`
}

func readReference(t testing.TB) reference {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(seed, "reference_facenet_keras.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestEncodingsMatchReference runs all 18 seed images in one batch and
// compares raw and unit encodings, and every image-to-identity distance,
// with the Python/TensorFlow reference for these weights.
func TestEncodingsMatchReference(t *testing.T) {
	const tol = 1e-4
	e := load(t)
	ref := readReference(t)
	images := seedImages(t)
	imgs := make([]image.Image, len(images))
	for i, s := range images {
		imgs[i] = s.img
	}
	raw, err := e.EncodeRaw(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	unit, err := e.Encode(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	gallery, err := matcher.NewGallery(matcher.DefaultThreshold)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range images {
		if s.dir == "gallery" {
			if err := gallery.Add(stem(s.file), unit[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if gallery.Len() != 12 {
		t.Fatalf("gallery has %d encodings, want 12", gallery.Len())
	}
	for i, s := range images {
		want, ok := ref.Encodings[s.file]
		if !ok {
			t.Fatalf("no reference for %s", s.file)
		}
		if d := maxAbs(raw[i], want.Raw); d > tol {
			t.Errorf("%s: raw encoding differs by %.2g", s.file, d)
		}
		if d := maxAbs(unit[i], want.Unit); d > tol {
			t.Errorf("%s: unit encoding differs by %.2g", s.file, d)
		}
		for _, id := range gallery.Identities() {
			v, err := gallery.Verify(unit[i], id)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(v.Distance - ref.Distances[s.file][id]); d > tol {
				t.Errorf("%s to %s: distance %.6f, reference %.6f", s.file, id, v.Distance, ref.Distances[s.file][id])
			}
		}
	}
}

// TestBatchInvariance checks an image encodes the same alone and in a batch.
func TestBatchInvariance(t *testing.T) {
	e := load(t)
	images := seedImages(t)
	all := make([]image.Image, len(images))
	for i, s := range images {
		all[i] = s.img
	}
	batch, err := e.Encode(context.Background(), all)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 7, 17} {
		one, err := e.Encode(context.Background(), all[i:i+1])
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbs(one[0], toF64(batch[i])); d > 1e-5 {
			t.Errorf("%s: batch of 1 differs from batch of 18 by %.2g", images[i].file, d)
		}
	}
}

func TestEncodeConcurrent(t *testing.T) {
	e := load(t)
	images := seedImages(t)
	want, err := e.Encode(context.Background(), []image.Image{images[0].img})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := e.Encode(context.Background(), []image.Image{images[0].img})
			if err == nil && maxAbs(got[0], toF64(want[0])) > 1e-6 {
				err = fmt.Errorf("concurrent encoding differs")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestEncodeCancelled(t *testing.T) {
	e := load(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	if _, err := e.Encode(ctx, []image.Image{img}); err == nil {
		t.Error("Encode with a cancelled context succeeded")
	}
	if got, err := e.Encode(context.Background(), nil); err != nil || got != nil {
		t.Errorf("empty batch: %v, %v", got, err)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := encoder.Load(t.TempDir(), encoder.Options{}); err == nil {
		t.Error("Load of an empty directory succeeded")
	}
	dir, err := models.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := encoder.Load(dir, encoder.Options{Profile: "no-such-profile"}); err == nil {
		t.Error("Load with an unknown profile succeeded")
	}
	// A manifest that points at a missing SavedModel must be an error, not
	// a panic from tfgo.
	m, err := models.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	broken := t.TempDir()
	raw, err := os.ReadFile(filepath.Join(dir, models.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(broken, models.ManifestFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := encoder.Load(broken, encoder.Options{}); err == nil || !strings.Contains(err.Error(), m.SavedModel) {
		t.Errorf("Load without a SavedModel: %v", err)
	}
}

func TestNormalize(t *testing.T) {
	v := []float32{3, 4}
	if err := encoder.Normalize(v); err != nil || v[0] != 0.6 || v[1] != 0.8 {
		t.Errorf("Normalize(3,4) = %v, %v", v, err)
	}
	for _, bad := range [][]float32{{0, 0}, {float32(math.NaN()), 1}, {float32(math.Inf(1)), 1}} {
		if err := encoder.Normalize(bad); err == nil {
			t.Errorf("Normalize(%v) succeeded", bad)
		}
	}
}

func TestResizeNearestSampling(t *testing.T) {
	// 4 columns -> 3: centres 0.5*4/3=0.67, 1.5*4/3=2, 2.5*4/3=3.33 -> 0, 2, 3.
	src := image.NewRGBA(image.Rect(0, 0, 4, 1))
	for x := range 4 {
		src.Pix[4*x] = uint8(10 * x)
	}
	got := encoder.ResizeNearest(src, 3, 1)
	var reds []uint8
	for x := range 3 {
		reds = append(reds, got.Pix[4*x])
	}
	if want := []uint8{0, 20, 30}; !bytes.Equal(reds, want) {
		t.Errorf("sampled %v, want %v", reds, want)
	}
}

func maxAbs(a []float32, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	worst := 0.0
	for i := range a {
		worst = math.Max(worst, math.Abs(float64(a[i])-b[i]))
	}
	return worst
}

func toF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func readPPM(t *testing.T, path string) *image.RGBA {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w, h, maxval int
	if _, err := fmt.Fscan(bytes.NewReader(data[2:]), &w, &h, &maxval); err != nil || string(data[:2]) != "P6" || maxval != 255 {
		t.Fatalf("%s: not an 8-bit P6 file (%v)", path, err)
	}
	pix := data[len(data)-w*h*3:]
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		copy(img.Pix[4*i:], pix[3*i:3*i+3])
		img.Pix[4*i+3] = 0xff
	}
	return img
}

// BenchmarkEncode measures encode-only throughput on pre-decoded images at
// the batch sizes a pipeline would use.
func BenchmarkEncode(b *testing.B) {
	e := load(b)
	images := seedImages(b)
	for _, n := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			batch := make([]image.Image, n)
			for i := range batch {
				batch[i] = images[i%len(images)].img
			}
			b.ResetTimer()
			for range b.N {
				if _, err := e.Encode(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// TestFlip: a profile with "flip" encodes a face as the sum of its own and
// its mirror image's raw encodings.
func TestFlip(t *testing.T) {
	dir, err := models.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	raw, err := os.ReadFile(filepath.Join(dir, models.ManifestFile))
	if err == nil {
		err = json.Unmarshal(raw, &m)
	}
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the manifest with a flipping profile, next to the same SavedModel.
	m["saved_model"] = filepath.Join(dir, m["saved_model"].(string))
	profiles := m["profiles"].(map[string]any)
	flip := map[string]any{}
	for k, v := range profiles["notebook"].(map[string]any) {
		flip[k] = v
	}
	flip["flip"] = true
	profiles["flip"] = flip
	copyDir := t.TempDir()
	raw, _ = json.Marshal(m)
	if err := os.WriteFile(filepath.Join(copyDir, models.ManifestFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	flipper, err := encoder.Load(copyDir, encoder.Options{Profile: "flip"})
	if err != nil {
		t.Fatal(err)
	}
	plain := load(t)
	imgs := seedImages(t)[:3]
	var in, mirrored []image.Image
	for _, s := range imgs {
		face := plain.Input(s.img)
		in = append(in, face)
		m := image.NewRGBA(face.Bounds())
		w := face.Bounds().Dx()
		for y := 0; y < face.Bounds().Dy(); y++ {
			for x := 0; x < w; x++ {
				m.SetRGBA(w-1-x, y, face.RGBAAt(x, y))
			}
		}
		mirrored = append(mirrored, m)
	}
	ctx := context.Background()
	got, err := flipper.EncodeRaw(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	a, err := plain.EncodeRaw(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := plain.EncodeRaw(ctx, mirrored)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(imgs) {
		t.Fatalf("%d encodings for %d images", len(got), len(imgs))
	}
	for i := range got {
		for k := range got[i] {
			if d := math.Abs(float64(got[i][k] - (a[i][k] + b[i][k]))); d > 1e-4 {
				t.Fatalf("image %d value %d: %v, want %v + %v", i, k, got[i][k], a[i][k], b[i][k])
			}
		}
	}
}
