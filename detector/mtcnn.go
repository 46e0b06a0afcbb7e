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
}

// imageOps is a small graph of the TensorFlow image ops the pipeline uses:
// raw uint8 pixels → normalised float image → pyramid levels or net crops.
// The normalised image is computed once per photo and fed back in, since a
// graph accepts a value for any tensor. The graph has maxLevels resize
// branches, so that one run makes a photo's whole pyramid; a run computes
// only the branches it fetches.
type imageOps struct {
	session                       *tf.Session
	raw, norm                     tf.Output
	sizes, levels                 []tf.Output
	boxes, boxInd, cropSize, crop tf.Output
}

// maxLevels is how many pyramid levels one run of imageOps makes. A photo
// needs about 3·ln(side/20) levels at the default minimum face (8 for LFW's
// 250 px, 18 for 10,000 px); one with more makes them in several runs.
const maxLevels = 20

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
	if opts, err = opts.withDefaults(m.Pipeline.MinFaceSize); err != nil {
		return nil, err
	}
	d = &mtcnnDetector{minSize: opts.MinSize, m: m}
	// tfgo reports every error by panicking; keep panics inside.
	err = protect(func() {
		d.pnet = loadNet(m, "pnet", "bbox_reg", "prob")
		d.rnet = loadNet(m, "rnet", "bbox_reg", "prob")
		d.onet = loadNet(m, "onet", "bbox_reg", "landmarks", "prob")
	})
	if err != nil {
		return nil, fmt.Errorf("%w: loading %s: %v", ErrMTCNN, dir, err)
	}
	if d.ops, err = newImageOps(m.Preprocessing); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMTCNN, err)
	}
	return d, nil
}

func loadNet(m *models.MTCNN, name string, outputs ...string) *mtcnnNet {
	spec := m.Nets[name]
	n := &mtcnnNet{model: tg.LoadModel(m.NetDir(name), spec.Tags, nil)}
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
	o.boxes = op.Placeholder(root.SubScope("boxes"), tf.Float)
	o.boxInd = op.Placeholder(root.SubScope("box_ind"), tf.Int32)
	o.cropSize = op.Placeholder(root.SubScope("crop_size"), tf.Int32)
	o.crop = op.CropAndResize(root.SubScope("crop"), o.norm, o.boxes, o.boxInd, o.cropSize,
		op.CropAndResizeMethod("bilinear"), op.CropAndResizeExtrapolationValue(0))
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
func (d *mtcnnDetector) Detect(img image.Image) ([]Face, error) { return d.DetectScaled(img, 1) }

func (d *mtcnnDetector) DetectScaled(img image.Image, scale float64) (faces []Face, err error) {
	if img == nil {
		return nil, errNilImage
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, nil
	}
	defer func() {
		if r := recover(); r != nil {
			faces, err = nil, fmt.Errorf("%w: %v", ErrMTCNN, r)
		}
	}()
	cands, err := d.detect(img, scaledMinSize(d.minSize, scale))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMTCNN, err)
	}
	for _, c := range cands {
		faces = append(faces, c.face(b.Min))
	}
	sortFaces(faces)
	return faces, nil
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

func (d *mtcnnDetector) detect(img image.Image, minSize int) ([]candidate, error) {
	b := img.Bounds()
	W, H := b.Dx(), b.Dy()
	raw, err := tf.ReadTensor(tf.Uint8, []int64{1, int64(H), int64(W), 3}, bytes.NewReader(rgbBytes(img)))
	if err != nil {
		return nil, err
	}
	out, err := d.ops.session.Run(map[tf.Output]*tf.Tensor{d.ops.raw: raw}, []tf.Output{d.ops.norm}, nil)
	if err != nil {
		return nil, fmt.Errorf("normalising: %w", err)
	}
	norm := out[0]
	p := d.m.Pipeline

	// Stage 1: PNet over the pyramid, in one run.
	cands, err := d.scan(norm, W, H, minSize)
	if err != nil {
		return nil, err
	}
	cands = nms(sortDesc(cands), p.NMS.PNetAllScales)
	if len(cands) == 0 {
		return nil, nil
	}
	square(cands)

	// Stage 2: RNet refines and rescores.
	res, err := d.refine(d.rnet, norm, cands, W, H, p.RNetInput)
	if err != nil {
		return nil, err
	}
	reg, prob := res[0], res[1]
	for i := range cands {
		cands[i].score = float64(prob[2*i+1])
		cands[i].calibrate(reg[4*i : 4*i+4])
	}
	cands = nms(sortDesc(above(cands, p.ThresholdRNet)), p.NMS.RNet)
	if len(cands) == 0 {
		return nil, nil
	}
	square(cands)

	// Stage 3: ONet rescores, places the landmarks (relative to its square
	// input box, before its own regression moves the box) and refines.
	if res, err = d.refine(d.onet, norm, cands, W, H, p.ONetInput); err != nil {
		return nil, err
	}
	reg, lms, prob := res[0], res[1], res[2]
	for i := range cands {
		c := &cands[i]
		w, h := c.x2-c.x1+1, c.y2-c.y1+1
		for k := range 5 {
			c.lm[k] = w*float64(lms[10*i+k]) + c.x1 - 1
			c.lm[5+k] = h*float64(lms[10*i+5+k]) + c.y1 - 1
		}
		c.score = float64(prob[2*i+1])
		c.calibrate(reg[4*i : 4*i+4])
	}
	cands = nms(sortDesc(above(cands, p.ThresholdONet)), p.NMS.ONet)
	for i := range cands {
		c := &cands[i]
		c.x1, c.x2 = clampF(c.x1, 0, float64(W-1)), clampF(c.x2, 0, float64(W-1))
		c.y1, c.y2 = clampF(c.y1, 0, float64(H-1)), clampF(c.y2, 0, float64(H-1))
	}
	return cands, nil
}

// level is one pyramid level: its size, its scale, and where it sits on
// the canvas PNet scans.
type level struct {
	size, at image.Point
	scale    float64
}

// scan runs PNet over the image pyramid and returns its candidates, each
// level's suppressed within the level. The levels are laid out side by side
// on one zero canvas (pack), so PNet runs once per photo rather than once
// per level (8 on LFW-sized photos): every run has a fixed cost, 0.13 ms
// for a 32x32 level with one thread and more with several, which must be
// woken and joined for each op. PNet is a stack of valid convolutions with an overall
// stride of 2 (see pnetCells), so a level's cells on the canvas, at even
// offsets and with zeros around them, are the cells PNet finds in the level
// alone padded with zeros.
func (d *mtcnnDetector) scan(norm *tf.Tensor, W, H, minSize int) ([]candidate, error) {
	p := d.m.Pipeline
	var levels []level
	for _, scale := range pyramid(W, H, minSize, p.MinSize, p.ScaleFactor) {
		l := level{size: image.Pt(int(float64(W)*scale), int(float64(H)*scale)), scale: scale}
		if pnetCells(l.size.X) < 1 || pnetCells(l.size.Y) < 1 {
			continue // too small for one PNet cell: nothing to find there
		}
		levels = append(levels, l)
	}
	if len(levels) == 0 {
		return nil, nil
	}
	sizes := make([]image.Point, len(levels))
	for i, l := range levels {
		sizes[i] = l.size
	}
	at, canvasSize := pack(sizes)
	canvas := make([]float32, canvasSize.X*canvasSize.Y*3)
	for start := 0; start < len(levels); start += maxLevels {
		batch := levels[start:min(start+maxLevels, len(levels))]
		feeds := map[tf.Output]*tf.Tensor{d.ops.norm: norm}
		fetch := make([]tf.Output, len(batch))
		for k, l := range batch {
			feeds[d.ops.sizes[k]] = mustTensor([]int32{int32(l.size.Y), int32(l.size.X)})
			fetch[k] = d.ops.levels[k]
		}
		out, err := d.ops.session.Run(feeds, fetch, nil)
		if err != nil {
			return nil, fmt.Errorf("pyramid: %w", err)
		}
		for k, t := range out {
			px, err := floats(t)
			if err != nil {
				return nil, fmt.Errorf("pyramid: %w", err)
			}
			l := &levels[start+k]
			l.at = at[start+k]
			w := 3 * l.size.X
			for y := range l.size.Y {
				copy(canvas[3*((l.at.Y+y)*canvasSize.X+l.at.X):], px[y*w:(y+1)*w])
			}
		}
	}
	in, err := tf.NewTensor(canvas)
	if err == nil {
		err = in.Reshape([]int64{1, int64(canvasSize.Y), int64(canvasSize.X), 3})
	}
	if err != nil {
		return nil, fmt.Errorf("pyramid canvas: %w", err)
	}
	res, err := d.pnet.run(in)
	if err != nil {
		return nil, err
	}
	var cands []candidate
	for _, l := range levels {
		found, err := d.proposals(res, l, pnetCells(canvasSize.X), pnetCells(canvasSize.Y))
		if err != nil {
			return nil, fmt.Errorf("pyramid level %dx%d: %w", l.size.X, l.size.Y, err)
		}
		cands = append(cands, found...)
	}
	return cands, nil
}

// pack lays out rectangles of the given sizes, largest first, on shelves
// of a canvas as wide as the first: each goes onto the first shelf with
// room left, or starts a new one below. Every rectangle starts at even
// coordinates and has at least one column and one row of zeros after it,
// as PNet's 2x2 pool and stride 2 need (see scan). For LFW-sized photos
// the canvas is about 2.7 times the largest level's area (the levels
// themselves add up to 2 times). Its sides are multiples of 32 (see
// padSide).
func pack(sizes []image.Point) (at []image.Point, canvas image.Point) {
	slot := func(n int) int { return n + 2 - n%2 } // even, plus zeros
	type shelf struct{ y, h, used int }
	var shelves []shelf
	width := slot(sizes[0].X)
	height := 0
	at = make([]image.Point, len(sizes))
	for i, sz := range sizes {
		w, h := slot(sz.X), slot(sz.Y)
		k := slices.IndexFunc(shelves, func(s shelf) bool { return s.h >= h && width-s.used >= w })
		if k < 0 {
			shelves = append(shelves, shelf{y: height, h: h})
			height += h
			k = len(shelves) - 1
			width = max(width, w)
		}
		at[i] = image.Pt(shelves[k].used, shelves[k].y)
		shelves[k].used += w
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

// refine crops every candidate out of the normalised image at the net's
// input size and runs the net on them as one batch.
func (d *mtcnnDetector) refine(n *mtcnnNet, norm *tf.Tensor, cands []candidate, W, H, size int) ([][]float32, error) {
	// The batch is padded to a power of two with copies of the first box
	// (see padSide); their outputs are ignored.
	batch := padBatch(len(cands))
	boxes := make([][]float32, batch)
	ind := make([]int32, batch)
	for i, c := range cands {
		// Normalised by W and H, not W-1 and H-1, as the package does.
		boxes[i] = []float32{float32(c.y1 / float64(H)), float32(c.x1 / float64(W)), float32(c.y2 / float64(H)), float32(c.x2 / float64(W))}
	}
	for i := len(cands); i < batch; i++ {
		boxes[i] = boxes[0]
	}
	crops, err := d.ops.run(map[tf.Output]*tf.Tensor{
		d.ops.norm: norm, d.ops.boxes: mustTensor(boxes), d.ops.boxInd: mustTensor(ind),
		d.ops.cropSize: mustTensor([]int32{int32(size), int32(size)}),
	}, d.ops.crop)
	if err != nil {
		return nil, fmt.Errorf("cropping %d boxes: %w", len(cands), err)
	}
	out, err := n.run(crops[0])
	if err != nil {
		return nil, err
	}
	for i, o := range out {
		if len(o) == 0 || len(o)%batch != 0 {
			return nil, fmt.Errorf("output %d has %d values for %d boxes", i, len(o), batch)
		}
		out[i] = o[:len(o)/batch*len(cands)]
	}
	return out, nil
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

func (o *imageOps) run(feeds map[tf.Output]*tf.Tensor, fetch tf.Output) ([]*tf.Tensor, error) {
	return o.session.Run(feeds, []tf.Output{fetch}, nil)
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
