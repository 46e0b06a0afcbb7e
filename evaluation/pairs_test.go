package evaluation

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	devPairs  = "../../shared/lfw-dev/pairs.txt"
	devImages = "../../shared/lfw-dev/images"
)

func TestParsePairsSmall(t *testing.T) {
	in := "2 1\n" +
		"Alice\t1\t2\n" +
		"Alice 1 Bob 3\n" +
		"  Carol  2   4 \r\n" +
		"Bob\t3\tAlice\t2\n" +
		"\n\n"
	p, err := ParsePairs(strings.NewReader(in))
	if err != nil {
		t.Fatalf("ParsePairs: %v", err)
	}
	want := []Pair{
		{Fold: 0, Same: true, A: ImageRef{"Alice", 1}, B: ImageRef{"Alice", 2}},
		{Fold: 0, Same: false, A: ImageRef{"Alice", 1}, B: ImageRef{"Bob", 3}},
		{Fold: 1, Same: true, A: ImageRef{"Carol", 2}, B: ImageRef{"Carol", 4}},
		{Fold: 1, Same: false, A: ImageRef{"Bob", 3}, B: ImageRef{"Alice", 2}},
	}
	if p.Folds != 2 || p.PerClass != 1 || !slices.Equal(p.Pairs, want) {
		t.Fatalf("got %+v, want folds 2, per class 1, pairs %+v", p, want)
	}
	wantImages := []ImageRef{{"Alice", 1}, {"Alice", 2}, {"Bob", 3}, {"Carol", 2}, {"Carol", 4}}
	if got := p.Images(); !slices.Equal(got, wantImages) {
		t.Errorf("Images() = %v, want %v", got, wantImages)
	}
	same, folds := p.Labels()
	if !slices.Equal(same, []bool{true, false, true, false}) || !slices.Equal(folds, []int{0, 0, 1, 1}) {
		t.Errorf("Labels() = %v, %v", same, folds)
	}
}

func TestImageRefPath(t *testing.T) {
	r := ImageRef{Name: "Zico", Index: 2}
	if got, want := r.Path("/data/lfw"), filepath.FromSlash("/data/lfw/Zico/Zico_0002.jpg"); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
	if got := (ImageRef{"A_B", 12345}).String(); got != "A_B_12345" {
		t.Errorf("String = %q", got)
	}
}

func TestParsePairsErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty input"},
		{"header fields", "2\n", "line 1: header has 1 fields"},
		{"header not int", "x 1\n", "line 1: folds: \"x\" is not an integer"},
		{"header zero", "1 0\n", "line 1: pairs per class: 0 is not positive"},
		{"header overflow", "9223372036854775807 2\n", "line 1: 9223372036854775807 folds of 2 pairs per class is too many"},
		{"truncated", "1 1\nA 1 2\n", "end of input after line 2: got 1 pairs, header promises 2"},
		{"same field count", "1 1\nA 1 B 2\nA 1 B 2\n", "line 2 (fold 0): same-person pair has 4 fields"},
		{"diff field count", "1 1\nA 1 2\nA 1 2\n", "line 3 (fold 0): different-person pair has 3 fields"},
		{"bad index", "1 1\nA 1 x\nA 1 B 2\n", "line 2 (fold 0): image number for \"A\": \"x\" is not an integer"},
		{"negative index", "1 1\nA 1 2\nA 1 B -2\n", "line 3 (fold 0): image number for \"B\": -2 is not positive"},
		{"self pair", "1 1\nA 3 3\nA 1 B 2\n", "line 2 (fold 0): same-person pair compares image A_0003 with itself"},
		{"same person in diff", "1 1\nA 1 2\nA 1 A 2\n", "line 3 (fold 0): different-person pair names \"A\" twice"},
		{"path traversal", "1 1\n../x 1 2\nA 1 B 2\n", "line 2 (fold 0): invalid person name \"../x\""},
		{"dotdot", "1 1\nA 1 2\nA 1 .. 2\n", "line 3 (fold 0): invalid person name \"..\""},
		{"blank inside", "1 1\nA 1 2\n\nA 1 B 2\n", "line 3 (fold 0): different-person pair has 0 fields"},
		{"second fold", "2 1\nA 1 2\nA 1 B 2\nA 1 2\nA 1 B\n", "line 5 (fold 1): different-person pair has 3 fields"},
		{"trailing data", "1 1\nA 1 2\nA 1 B 2\n\nC 1 2\n", "line 5: unexpected data after the 2 pairs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePairs(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("ParsePairs succeeded with %+v, want error containing %q", p, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

type failReader struct{ err error }

func (r failReader) Read([]byte) (int, error) { return 0, r.err }

func TestParsePairsReadError(t *testing.T) {
	sentinel := errors.New("disk on fire")
	_, err := ParsePairs(failReader{sentinel})
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v does not wrap the read error", err)
	}
}

// TestParsePairsLFWDev checks the parser against the shared LFW development
// subset and that the subset is complete: every referenced image exists and
// every image present is referenced.
func TestParsePairsLFWDev(t *testing.T) {
	f, err := os.Open(devPairs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := ParsePairs(f)
	if err != nil {
		t.Fatalf("ParsePairs(%s): %v", devPairs, err)
	}
	if p.Folds != 5 || p.PerClass != 300 || len(p.Pairs) != 3000 {
		t.Fatalf("got %d folds, %d per class, %d pairs; want 5, 300, 3000", p.Folds, p.PerClass, len(p.Pairs))
	}
	perFold := map[int][2]int{}
	for _, pr := range p.Pairs {
		c := perFold[pr.Fold]
		if pr.Same {
			c[0]++
		} else {
			c[1]++
		}
		perFold[pr.Fold] = c
	}
	for fold := range 5 {
		if perFold[fold] != [2]int{300, 300} {
			t.Errorf("fold %d has %v same/different pairs, want 300/300", fold, perFold[fold])
		}
	}

	images := p.Images()
	referenced := map[string]bool{}
	for _, r := range images {
		path := r.Path(devImages)
		referenced[path] = true
		if _, err := os.Stat(path); err != nil {
			t.Errorf("referenced image missing: %v", err)
		}
	}
	var onDisk []string
	err = filepath.WalkDir(devImages, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			onDisk = append(onDisk, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 3811 || len(onDisk) != len(images) {
		t.Errorf("%d distinct images referenced, %d files on disk; want 3811 of each", len(images), len(onDisk))
	}
	for _, path := range onDisk {
		if !referenced[path] {
			t.Errorf("image %s is not referenced by any pair", path)
		}
	}
}
