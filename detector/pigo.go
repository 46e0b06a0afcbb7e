package detector

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"io"
	"os"

	pigo "github.com/esimov/pigo/core"
)

const (
	// CascadeEnv names the environment variable holding the path of pigo's
	// "facefinder" cascade when Options.CascadePath is empty.
	CascadeEnv = "FACEBATCH_PIGO_CASCADE"
	// CascadeSHA256 is the digest of cascade/facefinder in
	// github.com/esimov/pigo v1.4.6. The thresholds were measured with it and
	// pigo's parser trusts its input, so any other file is refused.
	CascadeSHA256 = "d8014993e7298c7b1865d1f8b855d6dbf4ec5c808bf879e2091ab6837abf90cd"
	// maxCascadeBytes caps the read: the real file is 239,632 bytes.
	maxCascadeBytes = 1 << 20
)

// pigoDetector runs pigo's cascade. The unpacked cascade is read-only after
// construction, so Detect is safe for concurrent use.
type pigoDetector struct {
	opts       Options
	classifier *pigo.Pigo
}

func newPigo(opts Options) (*pigoDetector, error) {
	opts, err := opts.withDefaults(DefaultMinSize)
	if err != nil {
		return nil, err
	}
	data := opts.Cascade
	if data == nil {
		if data, err = ReadCascade(opts.CascadePath); err != nil {
			return nil, err
		}
	} else if err := checkCascade(data, "Options.Cascade"); err != nil {
		return nil, err
	}
	classifier, err := unpackCascade(data)
	if err != nil {
		return nil, err
	}
	return &pigoDetector{opts: opts, classifier: classifier}, nil
}

// ReadCascade reads and checks pigo's cascade file; path "" means
// $FACEBATCH_PIGO_CASCADE. Pipelines read it once where they are built and
// ship the bytes to their workers in Options.Cascade.
func ReadCascade(path string) ([]byte, error) {
	if path == "" {
		path = os.Getenv(CascadeEnv)
	}
	if path == "" {
		return nil, fmt.Errorf("%w: no cascade file: set Options.CascadePath or $%s (scripts/setup.sh writes it to .facebatch.env)", ErrCascade, CascadeEnv)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCascade, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCascadeBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", ErrCascade, path, err)
	}
	if err := checkCascade(data, path); err != nil {
		return nil, err
	}
	return data, nil
}

// checkCascade accepts only the cascade we ship: pigo parses it unchecked.
func checkCascade(data []byte, name string) error {
	if len(data) > maxCascadeBytes {
		return fmt.Errorf("%w: %s is over %d bytes", ErrCascade, name, maxCascadeBytes)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != CascadeSHA256 {
		return fmt.Errorf("%w: %s has sha256 %s, want %s (pigo v1.4.6 cascade/facefinder)", ErrCascade, name, got, CascadeSHA256)
	}
	return nil
}

// unpackCascade parses the cascade; pigo indexes the bytes unchecked, so a
// panic becomes an error (the digest check makes it unreachable in practice).
func unpackCascade(data []byte) (classifier *pigo.Pigo, err error) {
	defer func() {
		if r := recover(); r != nil {
			classifier, err = nil, fmt.Errorf("%w: corrupt cascade: %v", ErrCascade, r)
		}
	}()
	classifier, err = pigo.NewPigo().Unpack(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCascade, err)
	}
	return classifier, nil
}

func (d *pigoDetector) Name() string { return "pigo" }

// Detect scans img for faces whose side lies between MinSize and the
// image's smaller side, merges overlapping windows and keeps clusters
// scoring at least MinScore.
func (d *pigoDetector) Detect(img image.Image) ([]Face, error) { return d.detect(img, 1) }

func (d *pigoDetector) DetectBatch(views []View) ([][]Face, error) {
	return eachView(views, func(v View) ([]Face, error) { return d.detect(v.Image, v.Scale) })
}

func (d *pigoDetector) detect(img image.Image, scale float64) ([]Face, error) {
	if img == nil {
		return nil, errNilImage
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	maxSize := min(w, h)
	minSize := scaledMinSize(d.opts.MinSize, scale)
	if maxSize < minSize {
		return nil, nil
	}
	params := pigo.CascadeParams{
		MinSize:     minSize,
		MaxSize:     maxSize,
		ShiftFactor: ShiftFactor,
		ScaleFactor: ScaleFactor,
		ImageParams: pigo.ImageParams{Pixels: grayscale(img), Rows: h, Cols: w, Dim: w},
	}
	dets := d.classifier.RunCascade(params, 0)
	dets = d.classifier.ClusterDetections(dets, IoUThreshold)
	var faces []Face
	for _, det := range dets {
		if det.Q < d.opts.MinScore {
			continue
		}
		half := det.Scale / 2
		box := image.Rect(det.Col-half, det.Row-half, det.Col-half+det.Scale, det.Row-half+det.Scale).
			Add(b.Min).Intersect(b)
		if box.Empty() {
			continue
		}
		faces = append(faces, Face{Box: box, Score: det.Q})
	}
	sortFaces(faces)
	return suppressOverlaps(faces), nil
}

// suppressOverlaps drops a face that overlaps a better one by more than
// MaxOverlap of its own (or the other's) area. pigo's clustering leaves
// pairs of windows on one face, at slightly different scales, whose IoU is
// low because one nearly contains the other; real neighbouring faces barely
// overlap.
func suppressOverlaps(faces []Face) []Face {
	kept := faces[:0]
	for _, f := range faces {
		dup := false
		for _, k := range kept {
			inter := f.Box.Intersect(k.Box)
			if inter.Empty() {
				continue
			}
			a := inter.Dx() * inter.Dy()
			smaller := min(f.Box.Dx()*f.Box.Dy(), k.Box.Dx()*k.Box.Dy())
			if float64(a) > MaxOverlap*float64(smaller) {
				dup = true
				break
			}
		}
		if !dup {
			kept = append(kept, f)
		}
	}
	return kept
}

// grayscale returns img's luma as one byte per pixel, row by row, with
// BT.601 weights (as pigo's RgbToGrayscale and color.GrayModel), reading the
// pixel buffers directly for the common image types.
func grayscale(img image.Image) []uint8 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	gray := make([]uint8, w*h)
	luma := func(r, g, b uint32) uint8 { // 8-bit inputs, weights sum to 1<<16
		return uint8((19595*r + 38470*g + 7471*b + 1<<15) >> 16)
	}
	// rgbx reads 4-byte pixels; for NRGBA (straight colour) the face is in
	// the RGB values whatever the alpha.
	rgbx := func(pix []uint8, offset func(x, y int) int) {
		for y := 0; y < h; y++ {
			src := pix[offset(b.Min.X, b.Min.Y+y):][:4*w]
			dst := gray[y*w : (y+1)*w]
			for x := range dst {
				p := src[4*x : 4*x+3 : 4*x+3]
				dst[x] = luma(uint32(p[0]), uint32(p[1]), uint32(p[2]))
			}
		}
	}
	switch m := img.(type) {
	case *image.RGBA:
		rgbx(m.Pix, m.PixOffset)
	case *image.NRGBA:
		rgbx(m.Pix, m.PixOffset)
	case *image.YCbCr: // JPEG: Y already is the BT.601 luma
		for y := 0; y < h; y++ {
			i := m.YOffset(b.Min.X, b.Min.Y+y)
			copy(gray[y*w:(y+1)*w], m.Y[i:i+w])
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			copy(gray[y*w:(y+1)*w], m.Pix[i:i+w])
		}
	default:
		i := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				gray[i] = luma(r>>8, g>>8, bl>>8)
				i++
			}
		}
	}
	return gray
}
