package faces_test

import (
	"fmt"
	"image"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/groupphoto"
)

// lfwFaces are LFW photos with their faces, found by MTCNN at the photo's
// own size: the truth a group photo made of them is scored against.
func lfwFaces(t testing.TB, f *faces.Finder, names ...string) []groupphoto.Face {
	t.Helper()
	var out []groupphoto.Face
	for _, name := range names {
		person := name[:len(name)-len("_0001")]
		data := readFile(t, filepath.Join(lfw, person, name+".jpg"))
		photo, err := f.Find(data)
		if err != nil {
			t.Fatal(err)
		}
		subject, ok := photo.Subject()
		if !ok {
			t.Fatalf("%s: no face", name)
		}
		out = append(out, groupphoto.Face{Identity: person, Image: decode(t, data), Box: subject.Box})
	}
	return out
}

// A 12-megapixel group photo, stored sideways with its EXIF orientation:
// detection on the 1600-pixel preview finds every face from 60 pixels up
// where the generator put it, in upright photo pixels, and where
// detection on the full-size photo finds it, within a few pixels.
func TestPreviewMatchesFullSize(t *testing.T) {
	f := newAligner(t)
	src := lfwFaces(t, f, "Aaron_Patterson_0001", "Tony_Blair_0018", "Wen_Jiabao_0001", "David_Beckham_0001", "Hugo_Chavez_0002")
	widths := []int{64, 110, 220, 400, 600}
	for _, orientation := range []int{decoder.OrientNormal, decoder.OrientRotate90, decoder.OrientRotate270} {
		t.Run(fmt.Sprintf("orientation %d", orientation), func(t *testing.T) {
			opt := groupphoto.Options{Width: 4032, Height: 3024, Orientation: orientation}
			if orientation != decoder.OrientNormal {
				opt.Width, opt.Height = 3024, 4032 // a portrait photo
			}
			upright, placed, err := groupphoto.Compose(src, widths, opt, rand.New(rand.NewSource(int64(orientation))))
			if err != nil {
				t.Fatal(err)
			}
			data, err := groupphoto.JPEG(upright, opt)
			if err != nil {
				t.Fatal(err)
			}
			f.Preview = faces.DefaultPreview
			preview, err := f.Find(data)
			if err != nil {
				t.Fatal(err)
			}
			f.Preview = 0
			full, err := f.Find(data)
			if err != nil {
				t.Fatal(err)
			}
			if preview.Width != opt.Width || preview.Height != opt.Height {
				t.Fatalf("photo is %dx%d, want the upright %dx%d", preview.Width, preview.Height, opt.Width, opt.Height)
			}
			boxes := func(p faces.Photo) []image.Rectangle {
				var out []image.Rectangle
				for _, face := range p.Faces {
					out = append(out, face.Box)
				}
				return out
			}
			for i, hit := range groupphoto.Recall(placed, boxes(preview), 0.5) {
				if !hit {
					t.Errorf("preview: %s at %v (%d px) not found; found %v", placed[i].Identity, placed[i].Box, widths[i], boxes(preview))
				}
			}
			for _, pf := range preview.Faces {
				best, bestIoU := image.Rectangle{}, 0.0
				for _, ff := range full.Faces {
					if v := groupphoto.IoU(pf.Box, ff.Box); v > bestIoU {
						best, bestIoU = ff.Box, v
					}
				}
				// A preview pixel is 2.5 photo pixels here.
				tol := max(8, pf.Box.Dx()/10)
				d := max(abs(pf.Box.Min.X-best.Min.X), abs(pf.Box.Min.Y-best.Min.Y), abs(pf.Box.Max.X-best.Max.X), abs(pf.Box.Max.Y-best.Max.Y))
				if d > tol {
					t.Errorf("preview box %v, full-size box %v: %d px apart, want at most %d", pf.Box, best, d, tol)
				}
				if pf.Input == nil || pf.Input.Bounds() != image.Rect(0, 0, modelSize.X, modelSize.Y) {
					t.Errorf("face %v: model input %v", pf.Box, pf.Input.Bounds())
				}
			}
		})
	}
}

func abs(v int) int { return max(v, -v) }
