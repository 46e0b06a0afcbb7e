package faces_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/groupphoto"
)

const (
	seed = "../../shared/seed"
	lfw  = "../../shared/lfw-dev/images"
)

var modelSize = image.Pt(160, 160)

var (
	decOnce sync.Once
	dec     *decoder.Decoder
	decErr  error
)

// sharedDecoder is one TensorFlow-backed decoder for the whole test binary.
func sharedDecoder(t testing.TB) *decoder.Decoder {
	t.Helper()
	decOnce.Do(func() { dec, decErr = decoder.New(0) })
	if decErr != nil {
		t.Fatal(decErr)
	}
	return dec
}

// newFinder builds the Finder the pipelines build. "pigo" reads the cascade
// from $FACEBATCH_PIGO_CASCADE: without it the test fails, it does not skip.
func newFinder(t testing.TB, det string) *faces.Finder {
	t.Helper()
	d, err := detector.New(det, detector.Options{})
	if err != nil {
		t.Fatalf("detector %q: %v (source .facebatch.env for $%s)", det, err, detector.CascadeEnv)
	}
	return &faces.Finder{Decoder: sharedDecoder(t), Detector: d, Size: modelSize, Margin: faces.DefaultMargin}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func decode(t testing.TB, data []byte) *image.RGBA {
	t.Helper()
	img, _, err := sharedDecoder(t).Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readPPM reads a binary (P6) PPM as opaque RGBA.
func readPPM(t testing.TB, path string) *image.RGBA {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var magic string
	var w, h, maxVal int
	if _, err := fmt.Fscan(r, &magic, &w, &h, &maxVal); err != nil || magic != "P6" || maxVal != 255 {
		t.Fatalf("%s: not an 8-bit P6 PPM (%q %dx%d max %d): %v", path, magic, w, h, maxVal, err)
	}
	if _, err := r.ReadByte(); err != nil { // the single whitespace before the pixels
		t.Fatal(err)
	}
	rgb := make([]byte, 3*w*h)
	if _, err := io.ReadFull(r, rgb); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, j := 0, 0; i < len(rgb); i, j = i+3, j+4 {
		img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = rgb[i], rgb[i+1], rgb[i+2], 0xff
	}
	return img
}

// TestFindNone: with the "none" detector a seed photo is one face whose box
// is the whole image, and the model input is the image resized with
// ResizeNearest, which is exactly what the notebook fed its model.
func TestFindNone(t *testing.T) {
	f := newFinder(t, "none")
	paths, err := filepath.Glob(filepath.Join(seed, "*", "*.[jp][pn]g"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 18 {
		t.Fatalf("%s: %d seed images, want 18", seed, len(paths))
	}
	for _, path := range paths {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data := readFile(t, path)
			img := decode(t, data)
			photo, err := f.Find(data)
			if err != nil {
				t.Fatal(err)
			}
			b := img.Bounds()
			if photo.Width != b.Dx() || photo.Height != b.Dy() {
				t.Errorf("photo is %dx%d, decoded image %v", photo.Width, photo.Height, b)
			}
			if len(photo.Faces) != 1 {
				t.Fatalf("%d faces, want 1", len(photo.Faces))
			}
			face := photo.Faces[0]
			if face.Box != b {
				t.Errorf("Box = %v, want the image bounds %v", face.Box, b)
			}
			if face.Score != 1 {
				t.Errorf("Score = %v, want 1", face.Score)
			}
			if face.Input == nil || face.Input.Bounds() != (image.Rectangle{Max: modelSize}) {
				t.Fatalf("Input bounds %v, want %v", face.Input.Bounds(), image.Rectangle{Max: modelSize})
			}
			want := encoder.ResizeNearest(img, modelSize.X, modelSize.Y)
			if !bytes.Equal(face.Input.Pix, want.Pix) || face.Input.Stride != want.Stride {
				t.Errorf("Input differs from ResizeNearest(decoded, %d, %d)", modelSize.X, modelSize.Y)
			}
			ref := readPPM(t, filepath.Join(seed, "reference_pixels", strings.TrimSuffix(name, filepath.Ext(name))+"_160nearest.ppm"))
			if !bytes.Equal(face.Input.Pix, ref.Pix) {
				t.Errorf("Input differs from the notebook's 160x160 pixels")
			}
		})
	}
}

// TestFindPigoCanvas pastes LFW photos into larger grey canvases: the best
// face must be where the photo went, in canvas coordinates, and its model
// input the margin crop around that box, resized.
func TestFindPigoCanvas(t *testing.T) {
	f := newFinder(t, "pigo")
	grey := color.RGBA{128, 128, 128, 255}
	tests := []struct {
		name   string
		canvas image.Point
		at     image.Point
	}{
		{"Aaron_Sorkin", image.Pt(640, 480), image.Pt(300, 120)},
		{"Abdoulaye_Wade", image.Pt(800, 600), image.Pt(40, 310)},
		{"Adam_Sandler", image.Pt(500, 500), image.Pt(250, 250)},
		{"Erin_Brockovich", image.Pt(1024, 400), image.Pt(700, 0)},
		{"Guus_Hiddink", image.Pt(300, 900), image.Pt(20, 600)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := decode(t, readFile(t, filepath.Join(lfw, tt.name, tt.name+"_0001.jpg")))
			canvas := image.NewRGBA(image.Rectangle{Max: tt.canvas})
			draw.Draw(canvas, canvas.Bounds(), image.NewUniform(grey), image.Point{}, draw.Src)
			pasted := src.Bounds().Sub(src.Bounds().Min).Add(tt.at)
			if !pasted.In(canvas.Bounds()) {
				t.Fatalf("bad test: %v does not fit in %v", pasted, canvas.Bounds())
			}
			draw.Draw(canvas, pasted, src, src.Bounds().Min, draw.Src)

			photo, err := f.Find(encodePNG(t, canvas))
			if err != nil {
				t.Fatal(err)
			}
			if photo.Width != tt.canvas.X || photo.Height != tt.canvas.Y {
				t.Errorf("photo is %dx%d, want %dx%d", photo.Width, photo.Height, tt.canvas.X, tt.canvas.Y)
			}
			if len(photo.Faces) == 0 {
				t.Fatal("no face found")
			}
			top := photo.Faces[0]
			centre := top.Box.Min.Add(top.Box.Max).Div(2)
			want := pasted.Min.Add(pasted.Max).Div(2)
			if d := centre.Sub(want); d.X*d.X+d.Y*d.Y > 30*30 {
				t.Errorf("top face %v (centre %v) is %v from the pasted photo's centre %v", top.Box, centre, d, want)
			}
			if !top.Box.In(pasted) {
				t.Errorf("top face %v is not inside the pasted photo %v", top.Box, pasted)
			}
			if top.Score < detector.DefaultMinScore {
				t.Errorf("top face scores %v, below %v", top.Score, detector.DefaultMinScore)
			}
			for i, face := range photo.Faces {
				if face.Input == nil || face.Input.Bounds() != (image.Rectangle{Max: modelSize}) {
					t.Fatalf("face %d: Input bounds %v, want %v", i, face.Input.Bounds(), modelSize)
				}
				if !face.Box.In(canvas.Bounds()) {
					t.Errorf("face %d: box %v outside the canvas", i, face.Box)
				}
			}
			wantInput := encoder.ResizeNearest(detector.Crop(canvas, top.Box, faces.DefaultMargin), modelSize.X, modelSize.Y)
			if !bytes.Equal(top.Input.Pix, wantInput.Pix) {
				t.Error("top face's Input is not its margin crop resized")
			}
		})
	}
}

// TestFindNoFace: a photo without a face decodes fine and has no faces.
func TestFindNoFace(t *testing.T) {
	f := newFinder(t, "pigo")
	tests := []struct {
		name string
		fill color.Color
		size image.Point
	}{
		{"grey", color.Gray{128}, image.Pt(320, 240)},
		{"white", color.White, image.Pt(200, 200)},
		{"black", color.Black, image.Pt(640, 480)},
		{"smaller than a face", color.Gray{128}, image.Pt(20, 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := image.NewRGBA(image.Rectangle{Max: tt.size})
			draw.Draw(img, img.Bounds(), image.NewUniform(tt.fill), image.Point{}, draw.Src)
			photo, err := f.Find(encodePNG(t, img))
			if err != nil {
				t.Fatal(err)
			}
			if len(photo.Faces) != 0 {
				t.Errorf("%d faces in a blank image: %+v", len(photo.Faces), photo.Faces)
			}
			if photo.Width != tt.size.X || photo.Height != tt.size.Y {
				t.Errorf("photo is %dx%d, want %v", photo.Width, photo.Height, tt.size)
			}
		})
	}
}

// TestFindErrors: bad bytes and incomplete finders are errors, and decoding
// errors keep their decoder sentinel so the pipeline can give a status.
func TestFindErrors(t *testing.T) {
	none, pigo := newFinder(t, "none"), newFinder(t, "pigo")
	jpg := readFile(t, filepath.Join(seed, "gallery", "andrew.jpg"))
	pngData := readFile(t, filepath.Join(seed, "gallery", "danielle.png"))
	tests := []struct {
		name    string
		finder  *faces.Finder
		data    []byte
		wantErr error // nil: any error
	}{
		{"garbage none", none, []byte("this is not an image at all"), decoder.ErrFormat},
		{"garbage pigo", pigo, []byte("this is not an image at all"), decoder.ErrFormat},
		{"empty", none, nil, decoder.ErrFormat},
		{"truncated jpeg none", none, jpg[:len(jpg)/2], decoder.ErrCorrupt},
		{"truncated jpeg pigo", pigo, jpg[:len(jpg)/2], decoder.ErrCorrupt},
		{"truncated png", none, pngData[:len(pngData)/2], decoder.ErrCorrupt},
		{"zero Finder", &faces.Finder{}, jpg, nil},
		{"no decoder", &faces.Finder{Detector: none.Detector, Size: modelSize}, jpg, nil},
		{"no detector", &faces.Finder{Decoder: none.Decoder, Size: modelSize}, jpg, nil},
		{"no size", &faces.Finder{Decoder: none.Decoder, Detector: none.Detector}, jpg, nil},
		{"negative size", &faces.Finder{Decoder: none.Decoder, Detector: none.Detector, Size: image.Pt(-160, 160)}, jpg, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			photo, err := tt.finder.Find(tt.data)
			if err == nil {
				t.Fatalf("Find gave no error (%d faces)", len(photo.Faces))
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Find error %v, want one wrapping %v", err, tt.wantErr)
			}
			if len(photo.Faces) != 0 {
				t.Errorf("%d faces with an error", len(photo.Faces))
			}
		})
	}
}

// The gallery's subject rule: a face dominating the others by area is the
// photo's subject; faces of similar size leave the photo ambiguous.
func TestDominant(t *testing.T) {
	box := func(x, y, side int) faces.Face { return faces.Face{Box: image.Rect(x, y, x+side, y+side)} }
	tests := []struct {
		name  string
		faces []faces.Face
		want  int // index of the subject, -1 for none
	}{
		{"no face", nil, -1},
		{"one face", []faces.Face{box(100, 100, 80)}, 0},
		{"a small background face", []faces.Face{box(40, 40, 30), box(250, 200, 200)}, 1},
		{"two faces of a size", []faces.Face{box(100, 200, 150), box(400, 200, 140)}, -1},
		{"twice the area exactly", []faces.Face{box(300, 200, 200), box(40, 40, 141)}, 0},
		{"just under twice", []faces.Face{box(300, 200, 200), box(40, 40, 142)}, -1},
		{"largest off-centre, two bystanders", []faces.Face{box(10, 10, 60), box(500, 10, 50), box(350, 250, 180)}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := faces.Photo{Width: 800, Height: 600, Faces: tt.faces}
			got, ok := p.Dominant()
			switch {
			case tt.want < 0 && ok:
				t.Errorf("kept %v, want an ambiguous photo", got.Box)
			case tt.want >= 0 && (!ok || got.Box != tt.faces[tt.want].Box):
				t.Errorf("got %v (ok %v), want %v", got.Box, ok, tt.faces[tt.want].Box)
			}
		})
	}
}

// TestFindAll: FindAll gives each photo what Find gives it alone, whatever
// shares its batch: LFW photos, undecodable bytes, a truncated JPEG, a
// blank image, and a 12 MP group photo (found on its preview, cut from
// full resolution) twice, so that the batch splits at BatchPixels.
func TestFindAll(t *testing.T) {
	f := newAligner(t)
	f.Preview = faces.DefaultPreview
	var data [][]byte
	for _, name := range []string{"Aaron_Patterson/Aaron_Patterson_0001.jpg", "Tony_Blair/Tony_Blair_0018.jpg", "Wen_Jiabao/Wen_Jiabao_0001.jpg"} {
		data = append(data, readFile(t, filepath.Join(lfw, name)))
	}
	jpg := data[0]
	src := lfwFaces(t, f, "David_Beckham_0001", "Hugo_Chavez_0002", "Tony_Blair_0018")
	opt := groupphoto.Options{Width: 4032, Height: 3024, Orientation: decoder.OrientRotate90}
	opt.Width, opt.Height = 3024, 4032
	group, _, err := groupphoto.Compose(src, []int{80, 200, 500}, opt, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	groupJPEG, err := groupphoto.JPEG(group, opt)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, []byte("not an image"), jpg[:len(jpg)/2], encodePNG(t, image.NewRGBA(image.Rect(0, 0, 300, 200))), groupJPEG, jpg, groupJPEG)

	photos, errs := f.FindAll(data)
	if len(photos) != len(data) || len(errs) != len(data) {
		t.Fatalf("%d photos and %d errors for %d inputs", len(photos), len(errs), len(data))
	}
	for i, d := range data {
		want, wantErr := f.Find(d)
		if (errs[i] == nil) != (wantErr == nil) || (wantErr != nil && errs[i].Error() != wantErr.Error()) {
			t.Errorf("photo %d: error %v in the batch, %v alone", i, errs[i], wantErr)
			continue
		}
		got := photos[i]
		if got.Width != want.Width || got.Height != want.Height || len(got.Faces) != len(want.Faces) {
			t.Errorf("photo %d: %dx%d with %d faces in the batch, %dx%d with %d alone", i, got.Width, got.Height, len(got.Faces), want.Width, want.Height, len(want.Faces))
			continue
		}
		for k, w := range want.Faces {
			g := got.Faces[k]
			// A preview pixel is up to 2.5 photo pixels.
			if d := g.Box.Min.Sub(w.Box.Min).Add(g.Box.Max.Sub(w.Box.Max)); abs(d.X)+abs(d.Y) > 6 || g.Input == nil {
				t.Errorf("photo %d face %d: %v in the batch, %v alone", i, k, g.Box, w.Box)
			}
		}
	}
	if len(photos[6].Faces) != 3 || len(photos[8].Faces) != 3 {
		t.Errorf("group photos: %d and %d faces, want 3", len(photos[6].Faces), len(photos[8].Faces))
	}
	if errs[3] == nil || errs[4] == nil || errs[0] != nil || len(photos[0].Faces) == 0 {
		t.Errorf("errors %v", errs)
	}
}

// failing fails every batch holding an image of its size, as TensorFlow
// would fail on one bad photo.
type failing struct {
	detector.Detector
	size image.Point
}

func (d failing) DetectBatch(views []detector.View) ([][]detector.Face, error) {
	for _, v := range views {
		if v.Image.Bounds().Size() == d.size {
			return nil, errors.New("failing: bad image")
		}
	}
	return d.Detector.DetectBatch(views)
}

// TestFindAllIsolatesErrors: a batch the detector fails on is searched
// again photo by photo, so only the photo that fails gets the error.
func TestFindAllIsolatesErrors(t *testing.T) {
	f := newAligner(t)
	f.Detector = failing{Detector: f.Detector, size: image.Pt(77, 77)}
	good := readFile(t, filepath.Join(lfw, "Aaron_Patterson", "Aaron_Patterson_0001.jpg"))
	bad := encodePNG(t, image.NewRGBA(image.Rect(0, 0, 77, 77)))
	photos, errs := f.FindAll([][]byte{good, bad, good})
	if errs[0] != nil || errs[2] != nil || len(photos[0].Faces) == 0 || len(photos[2].Faces) == 0 {
		t.Errorf("good photos: %v, %v; %d and %d faces", errs[0], errs[2], len(photos[0].Faces), len(photos[2].Faces))
	}
	if errs[1] == nil {
		t.Error("the failing photo has no error")
	}
}
