package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/groupphoto"
	"github.com/facebatch/facebatch/models"
)

// phoneSetVersion names the phone-photo recipe, as photoSetVersion does.
const phoneSetVersion = "v2"

// phoneTruth is where the generator put the faces of one phone photo.
type phoneTruth struct {
	Faces []groupphoto.Placed
}

// ensurePhonePhotos makes sure dir holds at least n generated 4032x3024
// group photos with their truth: photo i shows 2-6 faces of the source
// photos (drawn with a generator seeded with i), 60-600 px wide on a
// log-uniform scale, stored as a phone stores them (a third upright, a
// third turned each way, with EXIF orientation 6 or 8). The faces of the
// sources are found once by MTCNN at the sources' own size.
func ensurePhonePhotos(dir, sourceDir string, n int) error {
	have := cachedCount(dir)
	if have >= n {
		return nil
	}
	src, err := sourceFaces(sourceDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := have; i < n; i++ {
		rng := rand.New(rand.NewSource(int64(i) + 7))
		k := 2 + rng.Intn(5)
		picked := make([]groupphoto.Face, k)
		widths := make([]int, k)
		for j := range k {
			picked[j] = src[rng.Intn(len(src))]
			widths[j] = int(60 * math.Pow(10, rng.Float64()))
		}
		opt := groupphoto.Options{Width: 4032, Height: 3024, Orientation: []int{1, 6, 8}[i%3], Quality: 85 + rng.Intn(10)}
		if opt.Orientation != decoder.OrientNormal {
			opt.Width, opt.Height = 3024, 4032
		}
		// A portrait photo's slots are narrower: shrink faces that do not fit.
		for j := range widths {
			widths[j] = min(widths[j], opt.Width/k*10/23)
		}
		img, placed, err := groupphoto.Compose(picked, widths, opt, rng)
		if err != nil {
			return fmt.Errorf("phone photo %d: %w", i, err)
		}
		data, err := groupphoto.JPEG(img, opt)
		if err != nil {
			return err
		}
		truth, _ := json.Marshal(phoneTruth{Faces: placed})
		if err := os.WriteFile(truthName(dir, i), truth, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, photoName(i)), data, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, ".count"), []byte(strconv.Itoa(n)), 0o644)
}

// truthName is where photo i's truth is kept: a hidden file, which jobs
// do not list as an input.
func truthName(dir string, i int) string { return filepath.Join(dir, "."+photoName(i)+".json") }

// sourceFaces are the source photos with the face each is of.
func sourceFaces(sourceDir string) ([]groupphoto.Face, error) {
	imgs, err := readSources(sourceDir)
	if err != nil {
		return nil, err
	}
	det, err := detector.New("mtcnn", detector.Options{})
	if err != nil {
		return nil, err
	}
	var out []groupphoto.Face
	for _, img := range imgs {
		found, err := det.Detect(img)
		if err != nil {
			return nil, err
		}
		photo := faces.Photo{Width: img.Bounds().Dx(), Height: img.Bounds().Dy()}
		for _, f := range found {
			photo.Faces = append(photo.Faces, faces.Face{Box: f.Box})
		}
		// Only sources whose subject is clear: a second face of a size
		// would be pasted along as an untracked face.
		if s, ok := photo.Dominant(); ok && s.Box.Dx() >= 40 {
			out = append(out, groupphoto.Face{Identity: "source", Image: img, Box: s.Box})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no source photo with a clear face")
	}
	return out, nil
}

// phoneStages is where a phone photo's time goes, in core-seconds per
// photo, measured in this process one photo at a time (one thread per
// TensorFlow op, as identify runs), and the detection recall against the
// generator's truth for faces at least 60 px wide.
type phoneStages struct {
	Photos, Faces, Truth, Hit int
	Decode, Detect, Align     float64 // seconds per photo
	Err                       string
}

func (b *bench) phoneStages(dir string, n int) phoneStages {
	var r phoneStages
	m, err := models.Load(b.modelDir)
	if err != nil {
		return phoneStages{Err: err.Error()}
	}
	p, err := m.Profile(b.profile)
	if err != nil {
		return phoneStages{Err: err.Error()}
	}
	dec, err := decoder.New(0)
	if err != nil {
		return phoneStages{Err: err.Error()}
	}
	defer dec.Close()
	det, err := detector.New(orDefault(b.detector, p.Detector), detector.Options{})
	if err != nil {
		return phoneStages{Err: err.Error()}
	}
	f := &faces.Finder{Decoder: dec, Detector: det, Size: image.Pt(m.Input.Width, m.Input.Height), Margin: p.Margin,
		Resize: p.Resize, Template: faces.Template(p), Align: p.Align, Preview: faces.DefaultPreview}
	for i := range n {
		data, err := os.ReadFile(filepath.Join(dir, photoName(i)))
		if err != nil {
			return phoneStages{Err: err.Error()}
		}
		var truth phoneTruth
		raw, err := os.ReadFile(truthName(dir, i))
		if err == nil {
			err = json.Unmarshal(raw, &truth)
		}
		if err != nil {
			return phoneStages{Err: err.Error()}
		}
		t0 := time.Now()
		src, err := dec.Open(data)
		if err != nil {
			return phoneStages{Err: err.Error()}
		}
		view, sx, sy, err := src.Preview(f.Preview)
		if err != nil {
			return phoneStages{Err: err.Error()}
		}
		t1 := time.Now()
		if _, err := det.DetectScaled(view, math.Min(sx, sy)); err != nil {
			return phoneStages{Err: err.Error()}
		}
		t2 := time.Now()
		photo, err := f.Find(data)
		if err != nil {
			return phoneStages{Err: err.Error()}
		}
		t3 := time.Now()
		r.Decode += t1.Sub(t0).Seconds()
		r.Detect += t2.Sub(t1).Seconds()
		// Find decodes the preview and detects again, then cuts the faces
		// from the photo: what is left over is the cutting.
		r.Align += max(0, t3.Sub(t2).Seconds()-t2.Sub(t0).Seconds())
		r.Photos++
		r.Faces += len(photo.Faces)
		var boxes []image.Rectangle
		for _, face := range photo.Faces {
			boxes = append(boxes, face.Box)
		}
		var big []groupphoto.Placed
		for _, pl := range truth.Faces {
			if pl.Box.Dx() >= 60 {
				big = append(big, pl)
			}
		}
		for _, hit := range groupphoto.Recall(big, boxes, 0.5) {
			r.Truth++
			if hit {
				r.Hit++
			}
		}
	}
	k := float64(max(r.Photos, 1))
	r.Decode, r.Detect, r.Align = r.Decode/k, r.Detect/k, r.Align/k
	return r
}

func (r phoneStages) recall() float64 { return float64(r.Hit) / float64(max(r.Truth, 1)) }

// phoneChild generates the phone photos and measures their stages in a
// process of its own, whose TensorFlow threads are pinned as identify's
// are (the bench process has run TensorFlow with its defaults already).
func phoneChild(args []string) error {
	var b bench
	var n int
	fs := flag.NewFlagSet("phone-child", flag.ContinueOnError)
	fs.StringVar(&b.photoDir, "dir", "", "")
	fs.StringVar(&b.sourceDir, "sources", "", "")
	fs.StringVar(&b.modelDir, "model", "", "")
	fs.StringVar(&b.profile, "profile", "", "")
	fs.StringVar(&b.detector, "detector", "", "")
	fs.IntVar(&n, "n", 0, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := encoder.PinProcess(encoder.Session{IntraOpThreads: 1, InterOpThreads: 1}); err != nil {
		return err
	}
	if err := ensurePhonePhotos(b.photoDir, b.sourceDir, n); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(b.phoneStages(b.photoDir, n))
}

// phone runs phoneChild.
func (b *bench) phone(dir string, n int) phoneStages {
	cmd := exec.Command(b.self, "phone-child", "-dir", dir, "-sources", b.sourceDir, "-model", b.modelDir,
		"-profile", b.profile, "-detector", b.detector, "-n", strconv.Itoa(n))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return phoneStages{Err: fmt.Sprintf("%v: %s", err, lastLines(stderr.String(), 5))}
	}
	var r phoneStages
	if err := json.Unmarshal(out, &r); err != nil {
		return phoneStages{Err: err.Error()}
	}
	return r
}
