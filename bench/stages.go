package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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

// galleryPhotos is the size of the bench's gallery, the sources' train
// folder.
const galleryPhotos = 93

// stageCosts is where a photo's time goes, in core-seconds per photo,
// measured in the pipelines' batches in a process of its own whose TensorFlow
// runs one thread per op (so wall time is core time), and, for photos
// with the generator's truth beside them, the detection recall for faces
// at least 60 px wide.
type stageCosts struct {
	Photos, Faces, Truth, Hit int
	Decode, Detect, Align     float64 // seconds per photo
	Err                       string
}

func (r stageCosts) recall() float64 { return float64(r.Hit) / float64(max(r.Truth, 1)) }

// measureStages decodes (the detection preview), detects and cuts out the
// faces of each photo, timing each step, in the pipelines' batches.
func (b *bench) measureStages(paths []string) stageCosts {
	var r stageCosts
	fail := func(err error) stageCosts { return stageCosts{Err: err.Error()} }
	m, err := models.Load(b.modelDir)
	if err != nil {
		return fail(err)
	}
	p, err := m.Profile(b.profile)
	if err != nil {
		return fail(err)
	}
	dec, err := decoder.New(0)
	if err != nil {
		return fail(err)
	}
	defer dec.Close()
	det, err := detector.New(orDefault(b.detector, p.Detector), detector.Options{})
	if err != nil {
		return fail(err)
	}
	f := &faces.Finder{Decoder: dec, Detector: det, Size: image.Pt(m.Input.Width, m.Input.Height), Margin: p.Margin,
		Resize: p.Resize, Template: faces.Template(p), Align: p.Align, Preview: faces.DefaultPreview}
	// Warm: TensorFlow makes each op's kernels for a shape on its first
	// run (the first RNet run takes 70 ms, the next 0.5).
	for start := 0; start < min(len(paths), 2*faces.DefaultBatch); start += faces.DefaultBatch {
		data, err := readAll(paths[start:min(start+faces.DefaultBatch, len(paths))])
		if err != nil {
			return fail(err)
		}
		f.FindAll(data)
	}
	// In batches, as the pipelines detect (faces.Finder.FindAll).
	for start := 0; start < len(paths); start += faces.DefaultBatch {
		batch := paths[start:min(start+faces.DefaultBatch, len(paths))]
		data, err := readAll(batch)
		if err != nil {
			return fail(err)
		}
		t0 := time.Now()
		views := make([]detector.View, len(batch))
		for i, d := range data {
			src, err := dec.Open(d)
			if err != nil {
				return fail(fmt.Errorf("%s: %w", batch[i], err))
			}
			view, sx, sy, err := src.Preview(f.Preview)
			if err != nil {
				return fail(fmt.Errorf("%s: %w", batch[i], err))
			}
			views[i] = detector.View{Image: view, Scale: math.Min(sx, sy)}
		}
		t1 := time.Now()
		if _, err := det.DetectBatch(views); err != nil {
			return fail(fmt.Errorf("%s...: %w", batch[0], err))
		}
		t2 := time.Now()
		photos, errs := f.FindAll(data)
		t3 := time.Now()
		r.Decode += t1.Sub(t0).Seconds()
		r.Detect += t2.Sub(t1).Seconds()
		// FindAll decodes the previews and detects again, then cuts the
		// faces from the photos: what is left over is the cutting.
		r.Align += max(0, t3.Sub(t2).Seconds()-t2.Sub(t0).Seconds())
		for i, path := range batch {
			if errs[i] != nil {
				return fail(fmt.Errorf("%s: %w", path, errs[i]))
			}
			if err := r.count(path, photos[i]); err != nil {
				return fail(err)
			}
		}
	}
	k := float64(max(r.Photos, 1))
	r.Decode, r.Detect, r.Align = r.Decode/k, r.Detect/k, r.Align/k
	return r
}

// readAll reads the files at paths.
func readAll(paths []string) ([][]byte, error) {
	data := make([][]byte, len(paths))
	for i, path := range paths {
		var err error
		if data[i], err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// count adds a photo's faces, and its detection recall against the
// generator's truth where there is one.
func (r *stageCosts) count(path string, photo faces.Photo) error {
	r.Photos++
	r.Faces += len(photo.Faces)
	raw, err := os.ReadFile(truthPath(path))
	if os.IsNotExist(err) {
		return nil // no truth: a photo of the LFW-sized set
	}
	var truth phoneTruth
	if err == nil {
		err = json.Unmarshal(raw, &truth)
	}
	if err != nil {
		return err
	}
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
	return nil
}

// stagesChild measures the stages of the photos a list file names, in a
// process of its own whose TensorFlow threads are pinned to one per op
// (the bench process has run TensorFlow with its defaults already). With
// -phone-sources it first generates the phone photos the list names.
func stagesChild(args []string) error {
	var b bench
	var list, phoneSources string
	var phoneN int
	fs := flag.NewFlagSet("stages-child", flag.ContinueOnError)
	fs.StringVar(&list, "list", "", "")
	fs.StringVar(&b.modelDir, "model", "", "")
	fs.StringVar(&b.profile, "profile", "", "")
	fs.StringVar(&b.detector, "detector", "", "")
	fs.StringVar(&phoneSources, "phone-sources", "", "")
	fs.IntVar(&phoneN, "phone-n", 0, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := encoder.PinProcess(encoder.Session{IntraOpThreads: 1, InterOpThreads: 1}); err != nil {
		return err
	}
	data, err := os.ReadFile(list)
	if err != nil {
		return err
	}
	paths := strings.Fields(string(data))
	if phoneSources != "" && len(paths) > 0 {
		if err := ensurePhonePhotos(filepath.Dir(paths[0]), phoneSources, phoneN); err != nil {
			return err
		}
	}
	return json.NewEncoder(os.Stdout).Encode(b.measureStages(paths))
}

// stages runs stagesChild on the photos of list.
func (b *bench) stages(list string, extra ...string) stageCosts {
	args := append([]string{"stages-child", "-list", list, "-model", b.modelDir, "-profile", b.profile, "-detector", b.detector}, extra...)
	cmd := exec.Command(b.self, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return stageCosts{Err: fmt.Sprintf("%v: %s", err, lastLines(stderr.String(), 5))}
	}
	var r stageCosts
	if err := json.Unmarshal(out, &r); err != nil {
		return stageCosts{Err: err.Error()}
	}
	return r
}

// phone generates (once) and measures the first n phone photos of dir.
func (b *bench) phone(dir string, n int) stageCosts {
	list := filepath.Join(b.work, "phone-list.txt")
	if err := writeList(list, dir, n); err != nil {
		return stageCosts{Err: err.Error()}
	}
	return b.stages(list, "-phone-sources", b.sourceDir, "-phone-n", strconv.Itoa(n))
}

// lfwImages lists the first n JPEGs of an LFW-layout folder
// (<Name>/<Name>_NNNN.jpg), in name order.
func lfwImages(dir string, n int) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*", "*.jpg"))
	if err != nil {
		return nil, err
	}
	return paths[:min(n, len(paths))], nil
}

// defaultLFW is ../shared/lfw-dev/images beside the repository, when there.
func defaultLFW() string {
	dir := filepath.Join("..", "shared", "lfw-dev", "images")
	if _, err := os.Stat(dir); err != nil {
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	return abs
}

// largestFaces is the face count per photo of the largest identify run.
func largestFaces(runs map[int]identifyResult) float64 {
	var best identifyResult
	for _, r := range runs {
		if r.Images > best.Images {
			best = r
		}
	}
	return float64(best.Faces) / float64(max(best.Images, 1))
}

// stageSum measures the stage-sum bound (docs/benchmarks.md): each stage
// alone, at its best settings, on the same photos, as core-seconds per
// photo, and the rate at which the cores would finish them all with
// nothing else to do. Decode, detect and align are timed in stagesChild;
// encode is the encode bound's cost per face times the faces per photo of
// the end-to-end runs; match is IdentifyBatch against a gallery the size
// of the bench's. It returns the bound in images/s and MTCNN's core-ms per
// LFW photo.
func (b *bench) stageSum(s settings, bound encodeResult, facesPerPhoto float64, p func(string, ...any)) (float64, float64, error) {
	n := min(s.stagePhotos, s.n)
	p("\n2b. Stage-sum bound: each stage alone on the first %d bench photos, in the pipelines' batches of %d, one thread per op", n, faces.DefaultBatch)
	list := filepath.Join(b.work, fmt.Sprintf("list-%d.txt", n))
	if err := writeList(list, b.photoDir, n); err != nil {
		return 0, 0, err
	}
	st := b.stages(list)
	if st.Err != "" {
		return 0, 0, fmt.Errorf("stages: %s", st.Err)
	}
	cores := float64(runtime.NumCPU())
	encode := facesPerPhoto * cores / bound.ImagesS
	m := measureMatch(galleryPhotos, "go", scorers["go"], 500*time.Millisecond)
	if m.Err != "" {
		return 0, 0, fmt.Errorf("matching: %s", m)
	}
	match := facesPerPhoto * float64(runtime.GOMAXPROCS(0)) / m.QueriesS
	total := st.Decode + st.Detect + st.Align + encode + match
	p("   core-ms per photo: decode %.2f, detect %.2f, align %.2f, encode %.2f (%.3f faces at the bound), match %.3f; sum %.2f",
		1e3*st.Decode, 1e3*st.Detect, 1e3*st.Align, 1e3*encode, facesPerPhoto, 1e3*match, 1e3*total)
	p("   shares: decode %.0f%%, detect %.0f%%, align %.0f%%, encode %.0f%%, match %.1f%%",
		100*st.Decode/total, 100*st.Detect/total, 100*st.Align/total, 100*encode/total, 100*match/total)
	bound2 := cores / total
	p("   stage-sum bound on %d cores: %.1f images/s", int(cores), bound2)
	detectMS := 1e3 * st.Detect
	if s.lfw != "" {
		paths, err := lfwImages(s.lfw, s.stagePhotos)
		if err != nil {
			return 0, 0, err
		}
		lfwList := filepath.Join(b.work, "lfw-list.txt")
		if err := os.WriteFile(lfwList, []byte(strings.Join(paths, "\n")+"\n"), 0o644); err != nil {
			return 0, 0, err
		}
		l := b.stages(lfwList)
		if l.Err != "" {
			return 0, 0, fmt.Errorf("stages on %s: %s", s.lfw, l.Err)
		}
		detectMS = 1e3 * l.Detect
		p("   detector on the first %d LFW photos of %s: %.2f core-ms per photo (%d faces)", l.Photos, s.lfw, detectMS, l.Faces)
	}
	return bound2, detectMS, nil
}
