package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/groupphoto"
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

// truthName is where photo i's truth is kept.
func truthName(dir string, i int) string { return truthPath(filepath.Join(dir, photoName(i))) }

// truthPath is where the truth of the photo at path is kept: a hidden
// file beside it, which jobs do not list as an input.
func truthPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".json")
}

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
