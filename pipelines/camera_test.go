package pipelines_test

import (
	"context"
	"fmt"
	"image"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/groupphoto"
	"github.com/facebatch/facebatch/pipelines"
)

// cameraFaces reads LFW photos (path stems under lfw) with the face each
// is of, found by MTCNN at the photo's own size.
func cameraFaces(t *testing.T, names ...string) []groupphoto.Face {
	t.Helper()
	dec, err := decoder.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	det, err := detector.New("mtcnn", detector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []groupphoto.Face
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(lfw, name+".jpg"))
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := dec.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		found, err := det.Detect(img)
		if err != nil {
			t.Fatal(err)
		}
		photo := faces.Photo{Width: img.Bounds().Dx(), Height: img.Bounds().Dy()}
		for _, f := range found {
			photo.Faces = append(photo.Faces, faces.Face{Box: f.Box})
		}
		subject, ok := photo.Subject()
		if !ok {
			t.Fatalf("%s: no face", name)
		}
		out = append(out, groupphoto.Face{Identity: filepath.Dir(name), Image: img, Box: subject.Box})
	}
	return out
}

// writeGroup composes faces at widths into a 4032x3024 photo (portrait
// when the orientation turns it) and writes it to path.
func writeGroup(t *testing.T, path string, src []groupphoto.Face, widths []int, orientation int, seed int64) []groupphoto.Placed {
	t.Helper()
	opt := groupphoto.Options{Width: 4032, Height: 3024, Orientation: orientation}
	if orientation >= decoder.OrientTranspose {
		opt.Width, opt.Height = 3024, 4032
	}
	img, placed, err := groupphoto.Compose(src, widths, opt, rand.New(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	data, err := groupphoto.JPEG(img, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return placed
}

// TestCameraPhotos runs the default profile on 12-megapixel group photos,
// one stored sideways: the gallery keeps a reference photo's subject over
// a small background face and rejects a photo of two people of a size;
// identify names every known face and leaves the strangers unknown, with
// boxes in upright photo pixels.
func TestCameraPhotos(t *testing.T) {
	dir := t.TempDir()
	known := []string{"Tony_Blair", "Hugo_Chavez", "Colin_Powell", "Laura_Bush"}
	var first, second []string
	for _, name := range known {
		paths, err := filepath.Glob(filepath.Join(lfw, name, "*.jpg"))
		if err != nil || len(paths) < 2 {
			t.Fatalf("%s: %d photos, want 2", name, len(paths))
		}
		sort.Strings(paths)
		rel := func(p string) string { r, _ := filepath.Rel(lfw, p); return r[:len(r)-len(".jpg")] }
		first, second = append(first, rel(paths[0])), append(second, rel(paths[1]))
	}
	strangers := cameraFaces(t, "Aaron_Sorkin/Aaron_Sorkin_0001", "Abbas_Kiarostami/Abbas_Kiarostami_0001", "Ahmed_Ahmed/Ahmed_Ahmed_0001")
	refs := cameraFaces(t, first...)
	probes := cameraFaces(t, second...)

	// The gallery: three plain reference photos, Laura_Bush's as a camera
	// photo with a stranger small in the background, and a second photo
	// of Colin_Powell beside a stranger of his size, which is ambiguous.
	galleryDir := filepath.Join(dir, "known")
	for i, name := range known[:3] {
		copyFiles(t, filepath.Join(galleryDir, name), filepath.Join(lfw, first[i]+".jpg"))
	}
	writeGroup(t, filepath.Join(galleryDir, "Laura_Bush", "party.jpg"), []groupphoto.Face{strangers[0], refs[3]}, []int{110, 520}, decoder.OrientNormal, 1)
	writeGroup(t, filepath.Join(galleryDir, "Colin_Powell", "pair.jpg"), []groupphoto.Face{refs[2], strangers[1]}, []int{300, 280}, decoder.OrientNormal, 2)
	gm := runGallery(t, pipelines.GalleryConfig{Input: galleryDir, Output: filepath.Join(dir, "gallery")})
	if gm.Photos != 4 || gm.Rejected != 1 || gm.SubjectKept != 1 {
		t.Errorf("gallery: %d ok photos, %d rejected, %d kept their subject; want 4, 1, 1", gm.Photos, gm.Rejected, gm.SubjectKept)
	}
	rows, err := duck(t).QueryContext(context.Background(), fmt.Sprintf(
		`SELECT identity, status, coalesce(ignored_faces, 0) FROM read_parquet('%s') WHERE image_uri LIKE '%%.jpg' AND (ignored_faces IS NOT NULL OR status <> 'ok') ORDER BY identity`,
		filepath.Join(dir, "gallery", "*.parquet")))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, status string
		var ignored int
		if err := rows.Scan(&id, &status, &ignored); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %d", id, status, ignored))
	}
	rows.Close()
	if want := []string{"Colin_Powell several_faces 0", "Laura_Bush ok 1"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("gallery rows with several faces: %q, want %q", got, want)
	}

	photos := filepath.Join(dir, "photos")
	placed := map[string][]groupphoto.Placed{
		"a.jpg": writeGroup(t, filepath.Join(photos, "a.jpg"), []groupphoto.Face{probes[0], strangers[2], probes[1]}, []int{300, 240, 180}, decoder.OrientRotate90, 3),
		"b.jpg": writeGroup(t, filepath.Join(photos, "b.jpg"), []groupphoto.Face{probes[2], probes[3], strangers[1]}, []int{420, 150, 120}, decoder.OrientNormal, 4),
	}
	out := filepath.Join(dir, "results")
	m := runIdentify(t, pipelines.IdentifyConfig{Inputs: []string{photos}, Gallery: filepath.Join(dir, "gallery"), Output: out})
	// LFW photos show bystanders too, and the context pasted around a
	// face may bring one along: at least the six placed faces.
	if m.Images != 2 || m.Faces < 6 {
		t.Errorf("results: %d images, %d faces; want 2 and at least 6", m.Images, m.Faces)
	}
	rows, err = duck(t).QueryContext(context.Background(), fmt.Sprintf(
		`SELECT image_uri, image_width, image_height, box_x, box_y, box_w, box_h, CASE WHEN accepted THEN identity ELSE 'unknown' END
		FROM read_parquet('%s') WHERE status = 'ok'`, filepath.Join(out, "*.parquet")))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type face struct {
		box image.Rectangle
		id  string
	}
	found := map[string][]face{}
	for rows.Next() {
		var uri, id string
		var w, h, x, y, bw, bh int
		if err := rows.Scan(&uri, &w, &h, &x, &y, &bw, &bh, &id); err != nil {
			t.Fatal(err)
		}
		if file := filepath.Base(uri); file == "a.jpg" && (w != 3024 || h != 4032) {
			t.Errorf("a.jpg is %dx%d in the table, want the upright 3024x4032", w, h)
		}
		found[filepath.Base(uri)] = append(found[filepath.Base(uri)], face{image.Rect(x, y, x+bw, y+bh), id})
	}
	isKnown := map[string]bool{}
	for _, k := range known {
		isKnown[k] = true
	}
	for file, want := range placed {
		for _, p := range want {
			wantID := p.Identity
			if !isKnown[wantID] {
				wantID = "unknown"
			}
			var match *face
			for i, f := range found[file] {
				if groupphoto.IoU(f.box, p.Box) >= 0.5 {
					match = &found[file][i]
				}
			}
			switch {
			case match == nil:
				t.Errorf("%s: %s at %v not found (found %v)", file, p.Identity, p.Box, found[file])
			case match.id != wantID:
				t.Errorf("%s: %s at %v named %s, want %s", file, p.Identity, p.Box, match.id, wantID)
			}
		}
	}
}
