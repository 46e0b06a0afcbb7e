// Command landmarkstats measures where MTCNN's five landmarks fall inside
// the face crops the FaceNet weights were trained on, to choose the
// alignment template of a profile (see docs/profiles.md).
//
// The weights (davidsandberg/facenet 20170512-110547) saw MTCNN boxes
// grown by a margin of pixels (half on each side, clipped to the photo)
// and resized to the input size without keeping the aspect ratio. For the
// subject of each photo (the face nearest the centre), this prints the
// mean and spread of each landmark in such a crop, in input pixels: a
// template that puts the landmarks where the weights expect them.
//
//	go run ./scripts/landmarkstats -images ../shared/lfw-dev/images -margin 32
package main

import (
	"flag"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
)

func main() {
	images := flag.String("images", "", "folder of <Name>/<Name>_NNNN.jpg photos")
	pattern := flag.String("glob", "*/*_0001.jpg", "photos to measure, under -images")
	margin := flag.Float64("margin", 32, "margin in photo pixels, half on each side")
	size := flag.Float64("size", 160, "the model's input side")
	flag.Parse()
	paths, err := filepath.Glob(filepath.Join(*images, *pattern))
	if err != nil || len(paths) == 0 {
		fmt.Fprintf(os.Stderr, "landmarkstats: no photos match %s (%v)\n", filepath.Join(*images, *pattern), err)
		os.Exit(2)
	}
	sort.Strings(paths)
	dec, err := decoder.New(0)
	if err != nil {
		fail(err)
	}
	det, err := detector.New("mtcnn", detector.Options{})
	if err != nil {
		fail(err)
	}
	var sum, sq [5][2]float64
	var aspect []float64
	n := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			fail(err)
		}
		img, _, err := dec.Decode(data)
		if err != nil {
			fail(fmt.Errorf("%s: %w", p, err))
		}
		faces, err := det.Detect(img)
		if err != nil {
			fail(fmt.Errorf("%s: %w", p, err))
		}
		f, ok := subject(faces, img.Bounds())
		if !ok {
			continue
		}
		b := img.Bounds()
		x1 := math.Max(float64(f.Box.Min.X)-*margin/2, float64(b.Min.X))
		y1 := math.Max(float64(f.Box.Min.Y)-*margin/2, float64(b.Min.Y))
		x2 := math.Min(float64(f.Box.Max.X)+*margin/2, float64(b.Max.X))
		y2 := math.Min(float64(f.Box.Max.Y)+*margin/2, float64(b.Max.Y))
		for k, pt := range f.Landmarks {
			x := (pt.X - x1) * *size / (x2 - x1)
			y := (pt.Y - y1) * *size / (y2 - y1)
			sum[k][0] += x
			sum[k][1] += y
			sq[k][0] += x * x
			sq[k][1] += y * y
		}
		aspect = append(aspect, float64(f.Box.Dx())/float64(f.Box.Dy()))
		n++
	}
	if n == 0 {
		fail(fmt.Errorf("no face found in %d photos", len(paths)))
	}
	sort.Float64s(aspect)
	fmt.Printf("%d photos, %d with a central face; box width/height median %.3f\n", len(paths), n, aspect[n/2])
	fmt.Printf("landmarks in a %gx%g crop of box + %g px (mean ± std):\n", *size, *size, *margin)
	names := []string{"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}
	tmpl := make([][2]float64, 5)
	for k := range 5 {
		mx, my := sum[k][0]/float64(n), sum[k][1]/float64(n)
		sx := math.Sqrt(math.Max(sq[k][0]/float64(n)-mx*mx, 0))
		sy := math.Sqrt(math.Max(sq[k][1]/float64(n)-my*my, 0))
		fmt.Printf("  %-11s x %6.2f ± %4.2f  y %6.2f ± %4.2f\n", names[k], mx, sx, my, sy)
		tmpl[k] = [2]float64{math.Round(mx*100) / 100, math.Round(my*100) / 100}
	}
	fmt.Printf("template: %v\n", tmpl)
}

// subject is the labelled person of an LFW-style photo: the largest face
// whose box holds the photo's centre.
func subject(faces []detector.Face, b image.Rectangle) (detector.Face, bool) {
	c := b.Min.Add(b.Max).Div(2)
	best, found := detector.Face{}, false
	for _, f := range faces {
		if f.Landmarks != nil && c.In(f.Box) && (!found || f.Box.Dx()*f.Box.Dy() > best.Box.Dx()*best.Box.Dy()) {
			best, found = f, true
		}
	}
	return best, found
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "landmarkstats:", err)
	os.Exit(1)
}
