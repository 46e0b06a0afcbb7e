// Command testdata remakes the derived fixtures of the top-level testdata/
// folder from its source photos (testdata/README.md says where those came
// from): the group photo and its truth, a truncated copy, and the small
// gallery and results tables written by facebatch itself. Run it from the
// repository root after `make build`, and only when a fixture has to
// change: tests compare against what is committed.
//
//	source .facebatch.env && go run ./scripts/testdata -facebatch bin/facebatch
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/groupphoto"
)

// Group is group.json: the group photo's upright size, its stored
// EXIF orientation and where each face was pasted.
type Group struct {
	Width, Height int
	Orientation   int
	Faces         []groupphoto.Placed
}

// people are the gallery's identities, each pasted at this face width
// into the group photo: smaller than in the portraits, so an encoding of
// the group's face is not the portrait's.
var people = []struct {
	identity string
	width    int
}{{"grace_hopper", 150}, {"eileen_collins", 120}}

func main() {
	dir := flag.String("dir", "testdata", "the testdata folder")
	bin := flag.String("facebatch", "bin/facebatch", "facebatch binary, for the tables")
	flag.Parse()
	if err := run(*dir, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "testdata:", err)
		os.Exit(1)
	}
}

func run(dir, bin string) error {
	dec, err := decoder.New(0)
	if err != nil {
		return err
	}
	defer dec.Close()
	det, err := detector.New("mtcnn", detector.Options{})
	if err != nil {
		return err
	}
	var srcs []groupphoto.Face
	var widths []int
	for _, p := range people {
		path := filepath.Join(dir, "gallery", p.identity, "portrait.jpg")
		f, err := face(dec, det, path)
		if err != nil {
			return err
		}
		f.Identity = p.identity
		srcs = append(srcs, f)
		widths = append(widths, p.width)
	}
	opt := groupphoto.Options{Width: 1200, Height: 800, Orientation: decoder.OrientRotate90, Quality: 85}
	upright, placed, err := groupphoto.Compose(srcs, widths, opt, rand.New(rand.NewSource(1)))
	if err != nil {
		return err
	}
	jpg, err := groupphoto.JPEG(upright, opt)
	if err != nil {
		return err
	}
	truth, err := json.MarshalIndent(Group{opt.Width, opt.Height, opt.Orientation, placed}, "", "  ")
	if err != nil {
		return err
	}
	// The truth lies beside photos/, not in it: every file there is an
	// input of the results table.
	if err := os.WriteFile(filepath.Join(dir, "group.json"), append(truth, '\n'), 0o644); err != nil {
		return err
	}
	photos := filepath.Join(dir, "photos")
	for name, data := range map[string][]byte{
		"group.jpg": jpg,

		// The first third: a header that reads, a scan that ends early.
		"truncated.jpg": jpg[:len(jpg)/3],
	} {
		if err := os.WriteFile(filepath.Join(photos, name), data, 0o644); err != nil {
			return err
		}
	}
	return tables(dir, bin)
}

// face is the photo at path with the box of its one face.
func face(dec *decoder.Decoder, det detector.Detector, path string) (groupphoto.Face, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return groupphoto.Face{}, err
	}
	img, _, err := dec.Decode(data)
	if err != nil {
		return groupphoto.Face{}, fmt.Errorf("%s: %w", path, err)
	}
	found, err := det.Detect(img)
	if err != nil {
		return groupphoto.Face{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(found) != 1 {
		return groupphoto.Face{}, fmt.Errorf("%s: %d faces, want 1", path, len(found))
	}
	return groupphoto.Face{Image: img, Box: found[0].Box}, nil
}

// tables writes tables/gallery from the gallery folder and tables/results
// from identifying photos/ against it, with the CLI as users run it.
func tables(dir, bin string) error {
	gal, res := filepath.Join(dir, "tables", "gallery"), filepath.Join(dir, "tables", "results")
	for _, job := range []struct {
		out  string
		args []string
	}{
		{gal, []string{"gallery", "--input", filepath.Join(dir, "gallery"), "--calibrate-fpir", "-1"}},
		{res, []string{"identify", "--input", filepath.Join(dir, "photos"), "--gallery", gal, "--with-embeddings"}},
	} {
		if err := os.RemoveAll(job.out); err != nil {
			return err
		}
		args := append(job.args, "--output", job.out)
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("facebatch %s: %w", args[0], err)
		}
	}
	return nil
}
