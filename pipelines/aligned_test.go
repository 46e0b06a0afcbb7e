package pipelines_test

import (
	"context"
	"database/sql"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/math/f64"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/models"
	"github.com/facebatch/facebatch/pipelines"
)

const lfw = "../../shared/lfw-dev/images"

// pasted is one LFW photo placed on a canvas: turned by deg degrees,
// scaled, with the photo's centre at (cx, cy).
type pasted struct {
	photo          string
	deg, scale     float64
	cx, cy         float64
	identity       string
	faceSideApprox int
}

// canvas draws the photos onto a textured w x h background and writes it
// as a PNG.
func canvas(t *testing.T, path string, w, h int, photos ...pasted) {
	t.Helper()
	dec, err := decoder.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8(90 + (x/16+y/16)%2*40) // a checkerboard, so the background is not blank
			dst.SetRGBA(x, y, color.RGBA{v, v + 10, v, 255})
		}
	}
	for _, p := range photos {
		data, err := os.ReadFile(p.photo)
		if err != nil {
			t.Fatal(err)
		}
		src, _, err := dec.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		sin, cos := math.Sincos(p.deg * math.Pi / 180)
		a, b := p.scale*cos, p.scale*sin
		sc := float64(src.Bounds().Dx()) / 2
		// src → dst: rotate and scale about the photo's centre, then move
		// the centre to (cx, cy).
		m := f64.Aff3{a, -b, p.cx - a*sc + b*sc, b, a, p.cy - b*sc - a*sc}
		xdraw.BiLinear.Transform(dst, m, src, src.Bounds(), draw.Src, nil)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, dst); err != nil {
		t.Fatal(err)
	}
}

// TestIdentifyDefaultProfile: under the default profile (MTCNN, five-point
// alignment, standardised input) the identify job finds faces that are
// turned, small and off centre, several to a photo, and matches each to the
// same person's gallery photo, a different photo of them.
func TestIdentifyDefaultProfile(t *testing.T) {
	dir := t.TempDir()
	// Each person's first photo (by name) goes in the gallery, the second
	// onto the canvases.
	people := []string{"Tony_Blair", "Hugo_Chavez", "Colin_Powell", "Laura_Bush", "Jennifer_Capriati"}
	second := map[string]string{}
	for _, name := range people {
		paths, err := filepath.Glob(filepath.Join(lfw, name, "*.jpg"))
		if err != nil || len(paths) < 2 {
			t.Fatalf("%s: %d photos in %s (%v), want 2", name, len(paths), lfw, err)
		}
		sort.Strings(paths)
		copyFiles(t, filepath.Join(dir, "known", name), paths[0])
		second[name] = paths[1]
	}
	gm := runGallery(t, pipelines.GalleryConfig{Input: filepath.Join(dir, "known"), Output: filepath.Join(dir, "gallery")})
	if gm.Photos != int64(len(people)) || gm.Rejected != 0 {
		t.Fatalf("gallery manifest %+v", gm)
	}

	photos := filepath.Join(dir, "photos")
	if err := os.MkdirAll(photos, 0o755); err != nil {
		t.Fatal(err)
	}
	// The LFW face is about 110 px of the 250 px photo: a scale of 0.45
	// makes it about 50 px.
	tilted := pasted{photo: second["Tony_Blair"], deg: 25, scale: 0.45, cx: 520, cy: 110, identity: "Tony_Blair", faceSideApprox: 50}
	canvas(t, filepath.Join(photos, "tilted_small.png"), 640, 480, tilted)
	pair := []pasted{
		{photo: second["Hugo_Chavez"], deg: -20, scale: 0.7, cx: 150, cy: 330, identity: "Hugo_Chavez", faceSideApprox: 75},
		// Turned 30° and shrunk to 65 px this pair's distance rises from
		// 0.90 (upright photos) to 1.07, just over the threshold: turned
		// faces lose some accuracy, small turned ones more.
		{photo: second["Laura_Bush"], deg: 15, scale: 0.8, cx: 560, cy: 220, identity: "Laura_Bush", faceSideApprox: 85},
	}
	canvas(t, filepath.Join(photos, "two_people.png"), 720, 480, pair...)

	out := filepath.Join(dir, "results")
	runIdentify(t, pipelines.IdentifyConfig{Inputs: []string{photos}, Gallery: filepath.Join(dir, "gallery"), Output: out})

	m, err := models.Load(os.Getenv(models.EnvModel))
	if err != nil {
		t.Fatal(err)
	}
	profile, _ := m.Profile("")
	type box struct{ x, y, w, h int }
	q := fmt.Sprintf(`SELECT image_uri, status, identity, accepted, threshold, profile, detector, box_x, box_y, box_w, box_h,
		candidates[1].identity, candidates[1].distance
		FROM read_parquet('%s') ORDER BY image_uri, face_index`, filepath.Join(out, "*.parquet"))
	rows, err := duck(t).QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	found := map[string][]box{}
	var all []string // every face, for failure messages
	for rows.Next() {
		var uri, status, prof, det string
		var id, nearest sql.NullString
		var dist sql.NullFloat64
		var accepted bool
		var threshold float64
		var b box
		if err := rows.Scan(&uri, &status, &id, &accepted, &threshold, &prof, &det, &b.x, &b.y, &b.w, &b.h, &nearest, &dist); err != nil {
			t.Fatal(err)
		}
		all = append(all, fmt.Sprintf("%s %+v: nearest %s at %.3f", filepath.Base(uri), b, nearest.String, dist.Float64))
		if prof != m.DefaultProfile || det != profile.Detector || threshold != profile.Threshold {
			t.Errorf("%s: profile %s, detector %s, threshold %v; want the default %s, %s, %v", uri, prof, det, threshold, m.DefaultProfile, profile.Detector, profile.Threshold)
		}
		if status == "ok" && accepted && id.Valid {
			found[filepath.Base(uri)+"/"+id.String] = append(found[filepath.Base(uri)+"/"+id.String], b)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	check := func(file string, p pasted) {
		boxes := found[file+"/"+p.identity]
		if len(boxes) != 1 {
			t.Errorf("%s: %d faces matched to %s, want 1 (faces found: %q)", file, len(boxes), p.identity, all)
			return
		}
		b := boxes[0]
		cx, cy := float64(b.x)+float64(b.w)/2, float64(b.y)+float64(b.h)/2
		if math.Hypot(cx-p.cx, cy-p.cy) > float64(p.faceSideApprox) || b.h < p.faceSideApprox/2 || b.h > 2*p.faceSideApprox {
			t.Errorf("%s: %s matched at box %+v, pasted at (%v, %v), face about %d px", file, p.identity, b, p.cx, p.cy, p.faceSideApprox)
		}
	}
	check("tilted_small.png", tilted)
	for _, p := range pair {
		check("two_people.png", p)
	}
	if n := len(found); n != 3 {
		t.Errorf("%d accepted matches, want 3: %v", n, found)
	}
}
