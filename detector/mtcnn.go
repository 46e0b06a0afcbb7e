package detector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"math"
	"slices"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"
	tg "github.com/galeone/tfgo"

	"github.com/facebatch/facebatch/models"
)

// ErrMTCNN is wrapped by every error from loading or running the MTCNN nets.
var ErrMTCNN = errors.New("detector: mtcnn")

// mtcnnDetector runs the three MTCNN nets exported from the PyPI package
// mtcnn==1.0.0 (models/export_mtcnn.py) and, around them, the package's own
// pipeline, step for step (docs/mtcnn.md): an image pyramid scanned by
// PNet, candidates refined by RNet, then ONet, which also places the five
// landmarks. The image-side steps (area resize for the pyramid, bilinear
// crop-and-resize for RNet and ONet) run as TensorFlow ops too, so the
// detections equal the package's, not merely resemble them. Everything is
// read-only after construction and TensorFlow sessions are thread-safe, so
// Detect is safe for concurrent use.
//
// A batch of photos goes through each stage together: every TensorFlow
// run has a fixed cost (threads woken and joined for each op, oneDNN
// primitives looked up, outputs copied), which on LFW-sized photos was
// most of the detector's time when each photo had its own seven runs.
type mtcnnDetector struct {
	minSize          int
	m                *models.MTCNN
	pnet, rnet, onet *mtcnnNet
	ops              *imageOps
}

// mtcnnNet is one loaded SavedModel with its input and named outputs.
type mtcnnNet struct {
	model   *tg.Model
	input   tf.Output
	outputs []tf.Output // in the order asked for at load time
	// chunk is the largest batch of crops RNet and ONet are run on: past
	// it the crops per millisecond fall (measured with one thread: RNet
	// 29 µs a crop at 32, 30 at 128; ONet 206 µs at 8, 184 at 16, 217 at
	// 32). PNet runs on canvases, not crops, and has none.
	chunk int
}

// imageOps is a small graph of the TensorFlow image ops the pipeline uses:
// raw uint8 pixels → normalised float image → pyramid levels, and
// normalised images → net crops. One run makes a photo's normalised image
// and its whole pyramid; the normalised image is kept and fed back in for
// the crops, since a graph accepts a value for any tensor. The graph has
// maxLevels resize branches and maxCropPhotos crop branches, so that one
// run crops the candidates of a batch of photos of different sizes; a run
// computes only the branches it fetches.
type imageOps struct {
	session       *tf.Session
	raw, norm     tf.Output
	sizes, levels []tf.Output
	cropSize      tf.Output
	crops         []cropBranch
}

// cropBranch crops boxes out of one normalised photo.
type cropBranch struct{ image, boxes, boxInd, crop tf.Output }

const (
	// maxLevels is how many pyramid levels one run of imageOps makes. A
	// photo needs about 3·ln(side/m) levels at a minimum face of m px (6
	// for LFW's 250 px at 40, 18 for 10,000 px at 20); one with more makes
	// them in several runs.
	maxLevels = 20
	// maxCropPhotos is how many photos' candidates one run crops.
	maxCropPhotos = 16
	// canvasPixels bounds the canvas PNet scans for a batch: a batch's
	// photos share canvases of up to this many pixels (a photo with a
	// larger pyramid has one of its own). Past about 16,000 pixels PNet's
	// time per pixel stops falling (46 µs per 1,000 at 128x128 and at
	// 256x256, 68 at 64x64, one thread); the bound keeps a batch of phone
	// previews from sharing one canvas of hundreds of megabytes.
	canvasPixels = 512 * 512
)

func newMTCNN(opts Options) (d *mtcnnDetector, err error) {
	dir := opts.MTCNNDir
	if dir == "" {
		if dir, err = models.DefaultMTCNNDir(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMTCNN, err)
		}
	}
	m, err := models.LoadMTCNN(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMTCNN, err)
	}
	if opts, err = opts.withDefaults(DefaultMinSize); err != nil {
		return nil, err
	}
	d = &mtcnnDetector{minSize: opts.MinSize, m: m}
	// tfgo reports every error by panicking; keep panics inside.
	err = protect(func() {
		d.pnet = loadNet(m, "pnet", 0, "bbox_reg", "prob")
		d.rnet = loadNet(m, "rnet", 32, "bbox_reg", "prob")
		d.onet = loadNet(m, "onet", 16, "bbox_reg", "landmarks", "prob")
	})
	if err != nil {
		return nil, fmt.Errorf("%w: loading %s: %v", ErrMTCNN, dir, err)
	}
	if d.ops, err = newImageOps(m.Preprocessing); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMTCNN, err)
	}
	return d, nil
}

func loadNet(m *models.MTCNN, name string, chunk int, outputs ...string) *mtcnnNet {
	spec := m.Nets[name]
	n := &mtcnnNet{model: tg.LoadModel(m.NetDir(name), spec.Tags, nil), chunk: chunk}
	n.input = n.model.Op(spec.Input.Tensor.Op, spec.Input.Tensor.Index)
	for _, o := range outputs {
		t := spec.Outputs[o].Tensor
		n.outputs = append(n.outputs, n.model.Op(t.Op, t.Index))
	}
	return n
}

func newImageOps(px models.MTCNNPixels) (*imageOps, error) {
	root := op.NewScope()
	o := &imageOps{}
	o.raw = op.Placeholder(root.SubScope("raw"), tf.Uint8)
	s := root.SubScope("norm")
	mean, scale := op.Const(s.SubScope("mean"), px.Mean), op.Const(s.SubScope("scale"), px.Scale)
	o.norm = op.Mul(s, op.Sub(s, op.Cast(s, o.raw, tf.Float), mean), scale)
	for k := range maxLevels {
		size := op.Placeholder(root.SubScope(fmt.Sprintf("size%d", k)), tf.Int32)
		o.sizes = append(o.sizes, size)
		o.levels = append(o.levels, op.ResizeArea(root.SubScope(fmt.Sprintf("pyramid%d", k)), o.norm, size, op.ResizeAreaAlignCorners(false)))
	}
	o.cropSize = op.Placeholder(root.SubScope("crop_size"), tf.Int32)
	for k := range maxCropPhotos {
		s := root.SubScope(fmt.Sprintf("crop%d", k))
		b := cropBranch{
			image:  op.Placeholder(s.SubScope("image"), tf.Float),
			boxes:  op.Placeholder(s.SubScope("boxes"), tf.Float),
			boxInd: op.Placeholder(s.SubScope("box_ind"), tf.Int32),
		}
		b.crop = op.CropAndResize(s, b.image, b.boxes, b.boxInd, o.cropSize,
			op.CropAndResizeMethod("bilinear"), op.CropAndResizeExtrapolationValue(0))
		o.crops = append(o.crops, b)
	}
	graph, err := root.Finalize()
	if err != nil {
		return nil, fmt.Errorf("building the image graph: %w", err)
	}
	if o.session, err = tf.NewSession(graph, nil); err != nil {
		return nil, fmt.Errorf("starting a TensorFlow session: %w", err)
	}
	return o, nil
}

func (d *mtcnnDetector) Name() string { return "mtcnn" }

// candidate is one box on its way through the stages, in image pixels
// (float64, as the package computes), with the ONet landmarks once known:
// x1..x5 then y1..y5.
type candidate struct {
	x1, y1, x2, y2, score float64
	lm                    [10]float64
}

// Detect finds the faces whose side is at least MinSize pixels. A face whose
// box reaches past the image is still found; its box is clipped to the
// image (as the package does), its landmarks are not.
func (d *mtcnnDetector) Detect(img image.Image) ([]Face, error) {
	found, err := d.DetectBatch([]View{{Image: img}})
	if err != nil {
		return nil, err
	}
	return found[0], nil
}

func (d *mtcnnDetector) DetectBatch(views []View) (found [][]Face, err error) {
	photos := make([]*mtcnnPhoto, 0, len(views))
	for _, v := range views {
		if v.Image == nil {
			return nil, errNilImage
		}
		b := v.Image.Bounds()
		photos = append(photos, &mtcnnPhoto{
			img: v.Image, origin: b.Min, w: b.Dx(), h: b.Dy(),
			minSize: scaledMinSize(d.minSize, v.Scale),
		})
	}
	defer func() {
		if r := recover(); r != nil {
			found, err = nil, fmt.Errorf("%w: %v", ErrMTCNN, r)
		}
	}()
	if err := d.detect(photos); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMTCNN, err)
	}
	found = make([][]Face, len(photos))
	for i, p := range photos {
		for _, c := range p.cands {
			found[i] = append(found[i], c.face(p.origin))
		}
		sortFaces(found[i])
	}
	return found, nil
}

// face turns a final candidate into a Face: the box rounded the way the
// package reports it (x, y, width, height each rounded half to even), the
// landmarks as they are.
func (c candidate) face(origin image.Point) Face {
	x, y := int(math.RoundToEven(c.x1)), int(math.RoundToEven(c.y1))
	w, h := int(math.RoundToEven(c.x2-c.x1)), int(math.RoundToEven(c.y2-c.y1))
	lm := new(Landmarks)
	for i := range lm {
		lm[i] = Point{X: c.lm[i] + float64(origin.X), Y: c.lm[5+i] + float64(origin.Y)}
	}
	return Face{
		Box:       image.Rect(x, y, x+w, y+h).Add(origin),
		Score:     float32(c.score),
		Landmarks: lm,
	}
}

// mtcnnPhoto is one image of a batch on its way through the stages.
type mtcnnPhoto struct {
	img     image.Image
	origin  image.Point
	w, h    int
	minSize int
	norm    *tf.Tensor // the normalised pixels, 1 x h x w x 3
	levels  []level
	cands   []candidate
}

func (d *mtcnnDetector) detect(photos []*mtcnnPhoto) error {
	p := d.m.Pipeline
	var live []*mtcnnPhoto // the photos with candidates left
	for _, ph := range photos {
		if ph.w > 0 && ph.h > 0 {
			live = append(live, ph)
		}
	}

	// Stage 1: PNet over the photos' pyramids, laid out on shared canvases.
	if err := d.pyramids(live); err != nil {
		return err
	}
	if err := d.scan(live); err != nil {
		return err
	}
	live = slices.DeleteFunc(live, func(ph *mtcnnPhoto) bool {
		ph.levels = nil // the pixels are on the canvas no more
		ph.cands = nms(sortDesc(ph.cands), p.NMS.PNetAllScales)
		square(ph.cands)
		return len(ph.cands) == 0
	})

	// Stage 2: RNet refines and rescores.
	res, err := d.refine(d.rnet, live, p.RNetInput)
	if err != nil {
		return err
	}
	reg, prob := res[0], res[1]
	i := 0
	live = slices.DeleteFunc(live, func(ph *mtcnnPhoto) bool {
		for k := range ph.cands {
			ph.cands[k].score = float64(prob[2*i+1])
			ph.cands[k].calibrate(reg[4*i : 4*i+4])
			i++
		}
		ph.cands = nms(sortDesc(above(ph.cands, p.ThresholdRNet)), p.NMS.RNet)
		square(ph.cands)
		return len(ph.cands) == 0
	})

	// Stage 3: ONet rescores, places the landmarks (relative to its square
	// input box, before its own regression moves the box) and refines.
	if res, err = d.refine(d.onet, live, p.ONetInput); err != nil {
		return err
	}
	reg, lms, prob := res[0], res[1], res[2]
	i = 0
	for _, ph := range live {
		for k := range ph.cands {
			c := &ph.cands[k]
			w, h := c.x2-c.x1+1, c.y2-c.y1+1
			for j := range 5 {
				c.lm[j] = w*float64(lms[10*i+j]) + c.x1 - 1
				c.lm[5+j] = h*float64(lms[10*i+5+j]) + c.y1 - 1
			}
			c.score = float64(prob[2*i+1])
			c.calibrate(reg[4*i : 4*i+4])
			i++
		}
		ph.cands = nms(sortDesc(above(ph.cands, p.ThresholdONet)), p.NMS.ONet)
		for k := range ph.cands {
			c := &ph.cands[k]
			c.x1, c.x2 = clampF(c.x1, 0, float64(ph.w-1)), clampF(c.x2, 0, float64(ph.w-1))
			c.y1, c.y2 = clampF(c.y1, 0, float64(ph.h-1)), clampF(c.y2, 0, float64(ph.h-1))
		}
	}
	return nil
}

// level is one pyramid level: its size, its scale, its pixels until they
// are on a canvas, and where it sits on the canvas PNet scans.
type level struct {
	size, at image.Point
	scale    float64
	px       []float32
}

// pyramids normalises each photo and makes its pyramid levels, in one run
// per photo (more for a photo with over maxLevels levels).
func (d *mtcnnDetector) pyramids(photos []*mtcnnPhoto) error {
	p := d.m.Pipeline
	for _, ph := range photos {
		for _, scale := range pyramid(ph.w, ph.h, ph.minSize, p.MinSize, p.ScaleFactor) {
			l := level{size: image.Pt(int(float64(ph.w)*scale), int(float64(ph.h)*scale)), scale: scale}
			if pnetCells(l.size.X) < 1 || pnetCells(l.size.Y) < 1 {
				continue // too small for one PNet cell: nothing to find there
			}
			ph.levels = append(ph.levels, l)
		}
		if len(ph.levels) == 0 {
			continue
		}
		raw, err := tf.ReadTensor(tf.Uint8, []int64{1, int64(ph.h), int64(ph.w), 3}, bytes.NewReader(rgbBytes(ph.img)))
		if err != nil {
			return err
		}
		ph.img = nil
		feeds := map[tf.Output]*tf.Tensor{d.ops.raw: raw}
		fetch := []tf.Output{d.ops.norm}
		for start := 0; start < len(ph.levels); start += maxLevels {
			batch := ph.levels[start:min(start+maxLevels, len(ph.levels))]
			for k, l := range batch {
				feeds[d.ops.sizes[k]] = mustTensor([]int32{int32(l.size.Y), int32(l.size.X)})
				fetch = append(fetch, d.ops.levels[k])
			}
			out, err := d.ops.session.Run(feeds, fetch, nil)
			if err != nil {
				return fmt.Errorf("pyramid: %w", err)
			}
			if ph.norm == nil {
				ph.norm, out = out[0], out[1:]
				feeds = map[tf.Output]*tf.Tensor{d.ops.norm: ph.norm}
			}
			for k, t := range out {
				if batch[k].px, err = floats(t); err != nil {
					return fmt.Errorf("pyramid: %w", err)
				}
			}
			fetch = fetch[:0]
		}
	}
	return nil
}

// scan runs PNet over the photos' pyramids and leaves each photo's
// candidates in it, each level's suppressed within the level. The levels
// are laid out side by side on zero canvases of up to canvasPixels (pack),
// several photos' to a canvas, so PNet runs once for many levels rather
// than once per level (8 on LFW-sized photos, at the package's minimum
// face). PNet is a stack of valid convolutions with an overall stride of
// 2 (see pnetCells), so a level's cells on the canvas, at even offsets and
// with zeros around them, are the cells PNet finds in the level alone
// padded with zeros.
func (d *mtcnnDetector) scan(photos []*mtcnnPhoto) error {
	type placed struct {
		ph *mtcnnPhoto
		l  *level
	}
	var group []placed
	area := 0
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		defer func() { group, area = group[:0], 0 }()
		// Tallest first, as pack wants.
		slices.SortStableFunc(group, func(a, b placed) int { return b.l.size.Y - a.l.size.Y })
		sizes := make([]image.Point, len(group))
		for i, g := range group {
			sizes[i] = g.l.size
		}
		at, canvasSize := pack(sizes)
		canvas := make([]float32, canvasSize.X*canvasSize.Y*3)
		for i, g := range group {
			l := g.l
			l.at = at[i]
			w := 3 * l.size.X
			for y := range l.size.Y {
				copy(canvas[3*((l.at.Y+y)*canvasSize.X+l.at.X):], l.px[y*w:(y+1)*w])
			}
		}
		in, err := tf.NewTensor(canvas)
		if err == nil {
			err = in.Reshape([]int64{1, int64(canvasSize.Y), int64(canvasSize.X), 3})
		}
		if err != nil {
			return fmt.Errorf("pyramid canvas: %w", err)
		}
		res, err := d.pnet.run(in)
		if err != nil {
			return err
		}
		for _, g := range group {
			found, err := d.proposals(res, *g.l, pnetCells(canvasSize.X), pnetCells(canvasSize.Y))
			if err != nil {
				return fmt.Errorf("pyramid level %dx%d: %w", g.l.size.X, g.l.size.Y, err)
			}
			g.ph.cands = append(g.ph.cands, found...)
		}
		return nil
	}
	for _, ph := range photos {
		a := 0
		for _, l := range ph.levels {
			a += slotArea(l.size)
		}
		if area > 0 && area+a > canvasPixels {
			if err := flush(); err != nil {
				return err
			}
		}
		for i := range ph.levels {
			group = append(group, placed{ph, &ph.levels[i]})
		}
		area += a
	}
	return flush()
}

// slot is the room a level side of n pixels takes on the canvas: even,
// with zeros after it.
func slot(n int) int { return n + 2 - n%2 }

func slotArea(sz image.Point) int { return slot(sz.X) * slot(sz.Y) }

// pack lays out rectangles of the given sizes, tallest first, on shelves:
// each goes onto the first shelf with room left, or starts a new one
// below. The canvas is as wide as the widest rectangle, or, when that
// makes a smaller canvas (as for several photos' pyramids), about as wide
// as it is tall. Every rectangle starts at even coordinates and has at
// least one column and one row of zeros after it, as PNet's 2x2 pool and
// stride 2 need (see scan). Its sides are multiples of 32 (see padSide).
func pack(sizes []image.Point) (at []image.Point, canvas image.Point) {
	widest, area := 0, 0
	for _, sz := range sizes {
		widest = max(widest, slot(sz.X))
		area += slotArea(sz)
	}
	at, canvas = shelves(sizes, widest)
	if w := int(math.Ceil(math.Sqrt(float64(area)))); w > widest {
		if at2, canvas2 := shelves(sizes, w); canvas2.X*canvas2.Y < canvas.X*canvas.Y {
			return at2, canvas2
		}
	}
	return at, canvas
}

// shelves is pack on a canvas width wide.
func shelves(sizes []image.Point, width int) (at []image.Point, canvas image.Point) {
	type shelf struct{ y, h, used int }
	var list []shelf
	height := 0
	at = make([]image.Point, len(sizes))
	for i, sz := range sizes {
		w, h := slot(sz.X), slot(sz.Y)
		k := slices.IndexFunc(list, func(s shelf) bool { return s.h >= h && width-s.used >= w })
		if k < 0 {
			list = append(list, shelf{y: height, h: h})
			height += h
			k = len(list) - 1
		}
		at[i] = image.Pt(list[k].used, list[k].y)
		list[k].used += w
	}
	return at, image.Pt(padSide(width), padSide(height))
}

// proposals turns a pyramid level's PNet cells into candidate boxes in
// image pixels: every cell of the level scoring over the threshold, moved
// by its regression, best first, then suppressed within the level. The
// output holds cols x rows cells, for the whole canvas.
func (d *mtcnnDetector) proposals(res [][]float32, l level, cols, rows int) ([]candidate, error) {
	p := d.m.Pipeline
	reg, prob := res[0], res[1]
	if len(prob) != 2*cols*rows || len(reg) != 4*cols*rows {
		return nil, fmt.Errorf("pnet gave %d scores and %d offsets for %dx%d cells", len(prob), len(reg), cols, rows)
	}
	x0, y0 := l.at.X/2, l.at.Y/2
	if x0+pnetCells(l.size.X) > cols || y0+pnetCells(l.size.Y) > rows {
		return nil, fmt.Errorf("level at %v reaches past the %dx%d cells", l.at, cols, rows)
	}
	var out []candidate
	side := float64(p.CellSize - 1)
	for r := range pnetCells(l.size.Y) {
		for c := range pnetCells(l.size.X) {
			if cand, ok := d.proposal(prob, reg, (y0+r)*cols+x0+c, r, c, side, l.scale); ok {
				out = append(out, cand)
			}
		}
	}
	// The package divides by the scale after sorting; sorting first or
	// after gives the same order, the scale being positive.
	return nms(sortDesc(out), p.NMS.PNetPerScale), nil
}

// proposal is output cell i, at row r and column c of its level, as a
// candidate, when it scores over the threshold.
func (d *mtcnnDetector) proposal(prob, reg []float32, i, r, c int, side, scale float64) (candidate, bool) {
	p := d.m.Pipeline
	score := prob[2*i+1]
	if !(float64(score) > p.ThresholdPNet) {
		return candidate{}, false
	}
	x1, y1 := float64(p.Stride*c+1), float64(p.Stride*r+1)
	x2, y2 := float64(p.Stride*c+p.CellSize), float64(p.Stride*r+p.CellSize)
	g := reg[4*i : 4*i+4]
	return candidate{
		x1: (x1 + float64(g[0])*side) / scale, y1: (y1 + float64(g[1])*side) / scale,
		x2: (x2 + float64(g[2])*side) / scale, y2: (y2 + float64(g[3])*side) / scale,
		score: float64(score),
	}, true
}

// refine crops every candidate of the photos out of its normalised photo
// at the net's input size, maxCropPhotos photos to a run, and runs the net
// on all the crops, in batches of up to its chunk. The outputs are in the
// order of the photos and their candidates.
func (d *mtcnnDetector) refine(n *mtcnnNet, photos []*mtcnnPhoto, size int) ([][]float32, error) {
	var crops bytes.Buffer
	count := 0
	cropSize := mustTensor([]int32{int32(size), int32(size)})
	for start := 0; start < len(photos); start += maxCropPhotos {
		batch := photos[start:min(start+maxCropPhotos, len(photos))]
		feeds := map[tf.Output]*tf.Tensor{d.ops.cropSize: cropSize}
		fetch := make([]tf.Output, len(batch))
		for k, ph := range batch {
			W, H := float64(ph.w), float64(ph.h)
			boxes := make([][]float32, len(ph.cands))
			for i, c := range ph.cands {
				// Normalised by W and H, not W-1 and H-1, as the package does.
				boxes[i] = []float32{float32(c.y1 / H), float32(c.x1 / W), float32(c.y2 / H), float32(c.x2 / W)}
			}
			b := d.ops.crops[k]
			feeds[b.image], feeds[b.boxes] = ph.norm, mustTensor(boxes)
			feeds[b.boxInd] = mustTensor(make([]int32, len(ph.cands)))
			fetch[k] = b.crop
			count += len(ph.cands)
		}
		out, err := d.ops.session.Run(feeds, fetch, nil)
		if err != nil {
			return nil, fmt.Errorf("cropping: %w", err)
		}
		for _, t := range out {
			if _, err := t.WriteContentsTo(&crops); err != nil {
				return nil, fmt.Errorf("cropping: %w", err)
			}
		}
	}
	if count == 0 {
		return make([][]float32, len(n.outputs)), nil
	}
	return n.runCrops(crops.Bytes(), count, size)
}

// runCrops runs the net on count crops of size x size x 3 float32s, raw
// bytes end to end, in batches of up to n.chunk. The last batch is padded
// to a power of two with copies of its first crop (see padSide), whose
// outputs are dropped.
func (n *mtcnnNet) runCrops(crops []byte, count, size int) ([][]float32, error) {
	per := 4 * 3 * size * size
	if len(crops) != count*per {
		return nil, fmt.Errorf("%d bytes of crops for %d boxes of %d px", len(crops), count, size)
	}
	all := make([][]float32, len(n.outputs))
	for start := 0; start < count; start += n.chunk {
		have := min(n.chunk, count-start)
		batch := padBatch(have)
		chunk := crops[start*per : (start+have)*per]
		if batch > have {
			chunk = slices.Concat(chunk, bytes.Repeat(chunk[:per], batch-have))
		}
		in, err := tf.ReadTensor(tf.Float, []int64{int64(batch), int64(size), int64(size), 3}, bytes.NewReader(chunk))
		if err != nil {
			return nil, err
		}
		out, err := n.run(in)
		if err != nil {
			return nil, err
		}
		for i, o := range out {
			if len(o) == 0 || len(o)%batch != 0 {
				return nil, fmt.Errorf("output %d has %d values for %d boxes", i, len(o), batch)
			}
			all[i] = append(all[i], o[:len(o)/batch*have]...)
		}
	}
	return all, nil
}

// run feeds one input tensor and returns the outputs as flat float32 slices.
func (n *mtcnnNet) run(in *tf.Tensor) ([][]float32, error) {
	var res []*tf.Tensor
	if err := protect(func() { res = n.model.Exec(n.outputs, map[tf.Output]*tf.Tensor{n.input: in}) }); err != nil {
		return nil, err
	}
	out := make([][]float32, len(res))
	for i, t := range res {
		var err error
		if out[i], err = floats(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// floats reads a float32 tensor's values in row-major order, without the
// nested slices Value would build.
func floats(t *tf.Tensor) ([]float32, error) {
	if t.DataType() != tf.Float {
		return nil, fmt.Errorf("tensor of type %v, want float32", t.DataType())
	}
	var buf bytes.Buffer
	if _, err := t.WriteContentsTo(&buf); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

func mustTensor(v any) *tf.Tensor {
	t, err := tf.NewTensor(v)
	if err != nil {
		panic(err) // only ever called with slices of fixed types
	}
	return t
}

// pyramid returns the scales at which PNet scans the image, as the package
// computes them: a 12-pixel cell at the first scale is a minSize face, and
// each level is scaleFactor times the previous. The number of levels
// depends on the image only, as in the package; levels too small for one
// PNet cell are skipped by the caller.
func pyramid(w, h, minFace, minSize int, factor float64) []float64 {
	minDim := float64(min(w, h))
	count := int(math.RoundToEven(-(math.Log(minDim/float64(minSize))/math.Log(factor) + 1)))
	base := float64(minSize) / float64(minFace)
	scales := make([]float64, 0, max(count, 0))
	for k := range count {
		scales = append(scales, base*math.Pow(factor, float64(k)))
	}
	return scales
}

// padSide rounds the pyramid canvas's sides up to multiples of 32 pixels,
// and padBatch a batch of candidate boxes up to a power of two. oneDNN
// compiles and caches a kernel for every input shape a convolution meets,
// in a cache of 1,024 shared with the encoder. Fed every photo's own level
// sizes and candidate counts, it kept compiling kernels and evicting them,
// the encoder's included: identify on the 1,000 bench photos took 49 ms of
// CPU per photo with exact shapes, 34 ms with an unbounded cache, and 31
// ms with levels padded to bounded sizes (before they shared a canvas).
func padSide(n int) int { return (n + 31) / 32 * 32 }

func padBatch(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}

// pnetCells is PNet's output size along a side of n pixels: a 3x3 valid
// convolution, a 2x2 "same" max pool, then two more 3x3 valid convolutions.
func pnetCells(n int) int { return (n-2+1)/2 - 4 }

// sortDesc sorts by score, best first, as the package does (an ascending
// sort reversed: among equal scores the later one comes first).
func sortDesc(c []candidate) []candidate {
	slices.SortStableFunc(c, func(a, b candidate) int {
		switch {
		case a.score < b.score:
			return -1
		case a.score > b.score:
			return 1
		}
		return 0
	})
	slices.Reverse(c)
	return c
}

// nms is the package's all-pairs suppression on boxes sorted best first: a
// box is kept when it overlaps no earlier box by more than the threshold,
// even an earlier box that was itself dropped.
func nms(c []candidate, p models.NMSParam) []candidate {
	keep := make([]bool, len(c))
	for j := range c {
		keep[j] = true
		for i := range j {
			if overlap(c[i], c[j], p.Method) > p.Threshold {
				keep[j] = false
				break
			}
		}
	}
	out := c[:0]
	for j, k := range keep {
		if k {
			out = append(out, c[j])
		}
	}
	return out
}

// overlap is intersection over union, or over the smaller area ("min"),
// with areas (x2-x1)*(y2-y1); 0/0 is NaN and suppresses nothing.
func overlap(a, b candidate, method string) float64 {
	areaA := (a.x2 - a.x1) * (a.y2 - a.y1)
	areaB := (b.x2 - b.x1) * (b.y2 - b.y1)
	iw := math.Max(0, math.Min(a.x2, b.x2)-math.Max(a.x1, b.x1))
	ih := math.Max(0, math.Min(a.y2, b.y2)-math.Max(a.y1, b.y1))
	inter := iw * ih
	if method == "min" {
		return inter / math.Min(areaA, areaB)
	}
	return inter / (areaA + areaB - inter)
}

// square grows each box to a square around its centre (no +1, no rounding).
func square(c []candidate) {
	for i := range c {
		b := &c[i]
		w, h := b.x2-b.x1, b.y2-b.y1
		l := math.Max(w, h)
		b.x1 += w*0.5 - l*0.5
		b.y1 += h*0.5 - l*0.5
		b.x2, b.y2 = b.x1+l, b.y1+l
	}
}

// calibrate moves the box by a net's regression, in units of its side + 1.
func (c *candidate) calibrate(reg []float32) {
	w, h := c.x2-c.x1+1, c.y2-c.y1+1
	c.x1 += float64(reg[0]) * w
	c.y1 += float64(reg[1]) * h
	c.x2 += float64(reg[2]) * w
	c.y2 += float64(reg[3]) * h
}

func above(c []candidate, threshold float64) []candidate {
	return slices.DeleteFunc(c, func(x candidate) bool { return !(x.score > threshold) })
}

func clampF(v, lo, hi float64) float64 { return math.Max(lo, math.Min(v, hi)) }

// rgbBytes returns img's pixels as packed 8-bit RGB rows.
func rgbBytes(img image.Image) []byte {
	b := img.Bounds()
	src, ok := img.(*image.RGBA)
	if !ok {
		src = image.NewRGBA(b)
		draw.Draw(src, b, img, b.Min, draw.Src)
	}
	out := make([]byte, 0, 3*b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := src.Pix[src.PixOffset(b.Min.X, y):src.PixOffset(b.Max.X, y)]
		for i := 0; i < len(row); i += 4 {
			out = append(out, row[i], row[i+1], row[i+2])
		}
	}
	return out
}

// protect turns a panic in fn (tfgo's way of reporting errors) into an error.
func protect(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	fn()
	return nil
}
