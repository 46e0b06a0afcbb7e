package evaluation

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ImageRef names one image of the LFW data set: the person's directory name
// and the 1-based image number within it.
type ImageRef struct {
	Name  string
	Index int
}

// Path returns the location of the image below root using the LFW layout,
// root/Name/Name_0001.jpg.
func (r ImageRef) Path(root string) string {
	return filepath.Join(root, r.Name, fmt.Sprintf("%s_%04d.jpg", r.Name, r.Index))
}

// String returns the image's file name without directory or extension, such
// as "Zico_0002", which is how LFW itself refers to images.
func (r ImageRef) String() string {
	return fmt.Sprintf("%s_%04d", r.Name, r.Index)
}

// compare orders images by name, then index, so that listings are stable
// and human-friendly.
func (r ImageRef) compare(o ImageRef) int {
	if c := strings.Compare(r.Name, o.Name); c != 0 {
		return c
	}
	return cmp.Compare(r.Index, o.Index)
}

// Pair is one line of the pairs file.
type Pair struct {
	// Fold is the 0-based fold the pair belongs to.
	Fold int
	// Same reports whether A and B show the same person.
	Same bool
	A, B ImageRef
}

// Pairs is a parsed LFW pairs file.
type Pairs struct {
	// Folds is the number of folds (K in the header).
	Folds int
	// PerClass is the number of same-person pairs, and also of
	// different-person pairs, in each fold (N in the header).
	PerClass int
	// Pairs lists the pairs in file order: for each fold, PerClass
	// same-person pairs followed by PerClass different-person pairs.
	Pairs []Pair
}

// Images returns the distinct images referenced by the pairs, sorted by name
// and index, so that each image needs to be embedded only once.
func (p *Pairs) Images() []ImageRef {
	seen := make(map[ImageRef]struct{}, 2*len(p.Pairs))
	var out []ImageRef
	for _, pr := range p.Pairs {
		for _, r := range [2]ImageRef{pr.A, pr.B} {
			if _, ok := seen[r]; !ok {
				seen[r] = struct{}{}
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, ImageRef.compare)
	return out
}

// Labels returns the per-pair labels and fold numbers in the order of
// p.Pairs, in the form expected by KFold and the other metrics.
func (p *Pairs) Labels() (same []bool, folds []int) {
	same = make([]bool, len(p.Pairs))
	folds = make([]int, len(p.Pairs))
	for i, pr := range p.Pairs {
		same[i] = pr.Same
		folds[i] = pr.Fold
	}
	return same, folds
}

// maxPrealloc bounds the initial allocation so that a corrupt header
// claiming billions of pairs cannot exhaust memory before parsing fails.
const maxPrealloc = 1 << 16

// ParsePairs reads an LFW pairs file (pairs.txt or pairsDevTest.txt style
// with a fold header). The first line holds "K N": K folds, each with N
// same-person lines "name i j" followed by N different-person lines
// "name1 i name2 j". Fields may be separated by tabs or spaces. Blank lines
// are allowed only after the last pair.
//
// The whole file is validated, because a silently misparsed pairs file
// would yield a plausible-looking but wrong benchmark number: line counts
// must match the header, image numbers must be positive integers, names
// must be usable as a single directory name, a same-person pair must use
// two different images and a different-person pair two different people.
// Errors carry the 1-based line number.
func ParsePairs(r io.Reader) (*Pairs, error) {
	sc := bufio.NewScanner(r)
	line := 0
	next := func() (fields []string, ok bool, err error) {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return nil, false, fmt.Errorf("pairs: reading line %d: %w", line+1, err)
			}
			return nil, false, nil
		}
		line++
		return strings.Fields(sc.Text()), true, nil
	}

	head, ok, err := next()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("pairs: empty input, want header line \"folds pairs-per-class\"")
	}
	if len(head) != 2 {
		return nil, fmt.Errorf("pairs line %d: header has %d fields, want 2 (folds, pairs per class)", line, len(head))
	}
	k, err := positive(head[0])
	if err != nil {
		return nil, fmt.Errorf("pairs line %d: folds: %w", line, err)
	}
	n, err := positive(head[1])
	if err != nil {
		return nil, fmt.Errorf("pairs line %d: pairs per class: %w", line, err)
	}
	const maxInt = int(^uint(0) >> 1)
	if n > maxInt/2/k {
		return nil, fmt.Errorf("pairs line %d: %d folds of %d pairs per class is too many", line, k, n)
	}
	total := 2 * k * n

	p := &Pairs{Folds: k, PerClass: n, Pairs: make([]Pair, 0, min(total, maxPrealloc))}
	for idx := range total {
		fields, ok, err := next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("pairs: unexpected end of input after line %d: got %d pairs, header promises %d", line, idx, total)
		}
		pr := Pair{Fold: idx / (2 * n), Same: idx%(2*n) < n}
		if pr.Same {
			pr.A, pr.B, err = parseSame(fields)
		} else {
			pr.A, pr.B, err = parseDifferent(fields)
		}
		if err != nil {
			return nil, fmt.Errorf("pairs line %d (fold %d): %w", line, pr.Fold, err)
		}
		p.Pairs = append(p.Pairs, pr)
	}
	for {
		fields, ok, err := next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return p, nil
		}
		if len(fields) != 0 {
			return nil, fmt.Errorf("pairs line %d: unexpected data after the %d pairs promised by the header", line, total)
		}
	}
}

// parseSame parses "name i j".
func parseSame(f []string) (a, b ImageRef, err error) {
	if len(f) != 3 {
		return a, b, fmt.Errorf("same-person pair has %d fields, want 3 (name i j)", len(f))
	}
	if a, err = parseRef(f[0], f[1]); err != nil {
		return a, b, err
	}
	if b, err = parseRef(f[0], f[2]); err != nil {
		return a, b, err
	}
	if a.Index == b.Index {
		return a, b, fmt.Errorf("same-person pair compares image %s with itself", a)
	}
	return a, b, nil
}

// parseDifferent parses "name1 i name2 j".
func parseDifferent(f []string) (a, b ImageRef, err error) {
	if len(f) != 4 {
		return a, b, fmt.Errorf("different-person pair has %d fields, want 4 (name1 i name2 j)", len(f))
	}
	if a, err = parseRef(f[0], f[1]); err != nil {
		return a, b, err
	}
	if b, err = parseRef(f[2], f[3]); err != nil {
		return a, b, err
	}
	if a.Name == b.Name {
		return a, b, fmt.Errorf("different-person pair names %q twice", a.Name)
	}
	return a, b, nil
}

// parseRef validates a name and image number. Names become directory
// names in ImageRef.Path, so path separators and dot names are rejected to
// keep a hostile file from pointing outside the image root.
func parseRef(name, index string) (ImageRef, error) {
	if name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return ImageRef{}, fmt.Errorf("invalid person name %q", name)
	}
	i, err := positive(index)
	if err != nil {
		return ImageRef{}, fmt.Errorf("image number for %q: %w", name, err)
	}
	return ImageRef{Name: name, Index: i}, nil
}

// positive parses a decimal integer greater than zero.
func positive(s string) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	if v <= 0 {
		return 0, fmt.Errorf("%d is not positive", v)
	}
	return v, nil
}
