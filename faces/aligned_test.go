package faces_test

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"path/filepath"
	"testing"

	"github.com/facebatch/facebatch/align"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/faces"
)

// template is a five-point template in a 160x160 input (eyes, nose, mouth
// corners), about where the profiles put them.
var template = detector.Landmarks{{X: 54, Y: 65}, {X: 107, Y: 65}, {X: 81, Y: 90}, {X: 58, Y: 112}, {X: 105, Y: 112}}

func newAligner(t testing.TB) *faces.Finder {
	t.Helper()
	d, err := detector.New("mtcnn", detector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &faces.Finder{Decoder: sharedDecoder(t), Detector: d, Size: modelSize, Resize: "catmullrom", Align: "similarity", Template: &template}
}

// TestFindAligned: a face turned by up to 30°, shrunk and moved off centre
// comes out upright and in place: MTCNN run again on the aligned input
// finds the landmarks near the template (a similarity cannot fit one
// face's five points exactly) and within a few pixels of where they are
// when the photo is upright, however the face was placed. (Measured: up
// to 9.8 px off the template and 6.6 px off upright, both for the face
// turned by -30°; 5.8 px off upright with a 20 px minimum face.)
func TestFindAligned(t *testing.T) {
	f := newAligner(t)
	src := decode(t, readFile(t, filepath.Join(lfw, "Aaron_Patterson", "Aaron_Patterson_0001.jpg")))
	tests := []struct {
		name       string
		deg, scale float64
		at         image.Point // where the photo's centre goes
	}{
		{"upright", 0, 1, image.Pt(320, 240)},
		{"turned 25°, small, top right", 25, 0.45, image.Pt(560, 90)},
		{"turned -30°, bottom left", -30, 0.8, image.Pt(140, 330)},
		{"large", 10, 2.5, image.Pt(320, 240)},
	}
	var upright *detector.Landmarks
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sin, cos := math.Sincos(tt.deg * math.Pi / 180)
			c := float64(src.Bounds().Dx()) / 2
			place := align.Similarity{A: tt.scale * cos, B: tt.scale * sin}
			place.TX = float64(tt.at.X) - (place.A*c - place.B*c)
			place.TY = float64(tt.at.Y) - (place.B*c + place.A*c)
			canvas := align.Warp(src, place.Affine(), 640, 480)
			// Grey outside the photo rather than its smeared edges.
			inv := place.Inverse()
			for y := 0; y < 480; y++ {
				for x := 0; x < 640; x++ {
					if p := inv.Apply(detector.Point{X: float64(x), Y: float64(y)}); p.X < 0 || p.Y < 0 || p.X > 249 || p.Y > 249 {
						canvas.SetRGBA(x, y, color.RGBA{120, 120, 120, 255})
					}
				}
			}
			photo, err := f.Find(encodePNG(t, canvas))
			if err != nil {
				t.Fatal(err)
			}
			face, ok := photo.Subject()
			if !ok {
				t.Fatal("no face found")
			}
			if face.Input.Bounds() != (image.Rectangle{Max: modelSize}) {
				t.Fatalf("input %v, want %v", face.Input.Bounds(), modelSize)
			}
			again, err := f.Detector.Detect(face.Input)
			if err != nil || len(again) == 0 {
				t.Fatalf("no face in the aligned input (%v)", err)
			}
			lm := again[0].Landmarks
			if upright == nil {
				upright = lm
			}
			var offTemplate, offUpright float64
			for k, p := range lm {
				offTemplate = math.Max(offTemplate, math.Hypot(p.X-template[k].X, p.Y-template[k].Y))
				offUpright = math.Max(offUpright, math.Hypot(p.X-upright[k].X, p.Y-upright[k].Y))
			}
			if offTemplate > 10 || offUpright > 7 {
				t.Errorf("landmarks in the aligned input %v: up to %.1f px from the template %v, %.1f px from the upright photo's %v",
					*lm, offTemplate, template, offUpright, *upright)
			}
		})
	}
}

// TestFindAlignedFallback: without landmarks (pigo) a template changes
// nothing: faces are box crops.
func TestFindAlignedFallback(t *testing.T) {
	f := newFinder(t, "pigo")
	f.Template = &template
	canvas := image.NewRGBA(image.Rect(0, 0, 400, 300))
	draw.Draw(canvas, canvas.Bounds(), image.NewUniform(color.Gray{128}), image.Point{}, draw.Src)
	src := decode(t, readFile(t, filepath.Join(lfw, "Aaron_Patterson", "Aaron_Patterson_0001.jpg")))
	draw.Draw(canvas, src.Bounds().Add(image.Pt(100, 20)), src, image.Point{}, draw.Src)
	photo, err := f.Find(encodePNG(t, canvas))
	if err != nil || len(photo.Faces) == 0 {
		t.Fatalf("Find: %d faces, %v", len(photo.Faces), err)
	}
	f.Template = nil
	plain, err := f.Find(encodePNG(t, canvas))
	if err != nil || len(plain.Faces) != len(photo.Faces) {
		t.Fatalf("Find without template: %d faces, %v", len(plain.Faces), err)
	}
	for i := range photo.Faces {
		if string(photo.Faces[i].Input.Pix) != string(plain.Faces[i].Input.Pix) {
			t.Errorf("face %d differs with a template", i)
		}
	}
}

func TestSubject(t *testing.T) {
	box := func(x, y, side int) faces.Face { return faces.Face{Box: image.Rect(x, y, x+side, y+side)} }
	tests := []struct {
		name  string
		faces []faces.Face
		want  int // index, -1 for none
	}{
		{"none", nil, -1},
		{"one", []faces.Face{box(0, 0, 10)}, 0},
		{"largest last", []faces.Face{box(45, 45, 10), box(35, 35, 30), box(30, 30, 40)}, 2},
		{"first of equals", []faces.Face{box(30, 40, 20), box(50, 40, 20)}, 0},
		// In a 100x100 photo, 1600 - 2*(20²+20²) = 0 loses to the centred
		// 30x30 face's 900.
		{"central beats larger", []faces.Face{box(50, 50, 40), box(35, 35, 30)}, 1},
		// 3600 - 2*(25²+25²) = 1100 beats the centred 30x30 face's 900.
		{"much larger beats central", []faces.Face{box(35, 35, 30), box(45, 45, 60)}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := faces.Photo{Width: 100, Height: 100, Faces: tt.faces}.Subject()
			if ok != (tt.want >= 0) || (ok && got.Box != tt.faces[tt.want].Box) {
				t.Errorf("Subject() = %v, %v; want face %d", got.Box, ok, tt.want)
			}
		})
	}
}
