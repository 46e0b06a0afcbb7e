// Package gemm runs float32 matrix products on TensorFlow's kernels (oneDNN
// on CPUs, cuBLAS on GPUs), for the one job plain Go loops do slowly here:
// scanning a large gallery, which is a matrix product of the queries with
// every stored encoding. Its Scorer plugs into matcher.Gallery.SetScorer.
package gemm

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"time"
	"unsafe"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"

	"github.com/facebatch/facebatch/matcher"
)

// ErrGemm is wrapped by every error from TensorFlow.
var ErrGemm = errors.New("gemm: TensorFlow failed")

// Sizes of the pieces a scan is cut into: a block of queries against a
// chunk of the base makes a score matrix of 256 x 65536 floats (64 MB),
// reduced in TensorFlow to each query's top rows, which alone come back to
// Go. Smaller chunks keep the scores in cache but pay a session run each:
// measured on 1M rows, 8192-row chunks ran at 177 GFLOP/s, 32768 at 225,
// 65536 at 252, 131072 at 257.
//
// TopKV2 over a whole score row costs more than the product that made it,
// so a full chunk is reduced in two steps: the maximum of each group of
// groupRows rows, TopKV2 over those maxima (16 times fewer values), then
// TopKV2 over the rows of the m best groups only. The m best rows are
// always in the m best groups: a row outside them would be beaten by the
// maxima of m other groups.
const (
	queryBlock = 256
	chunkRows  = 65536
	groupRows  = 16
)

// Scorer is a matcher.Scorer on TensorFlow: a MatMul and top-m selection
// per chunk of the base, merged in Go. It holds a copy of the base in
// TensorFlow's memory. It is safe for concurrent use.
type Scorer struct {
	dim     int
	session *tf.Session
	queries tf.Output // [n, dim]
	base    tf.Output // [rows, dim]
	k       tf.Output // scalar int32
	ngroups tf.Output // scalar int32: a chunk's rows / groupRows
	// Plain selection, for a chunk that is not full or a large m: TopKV2
	// over the whole score row.
	values, indices tf.Output // [n, k]
	// Grouped selection: the k best groups, and the k best rows among their
	// rows (index j is row j%groupRows of the j/groupRows-th best group).
	groupValues, groupRowIdx, groupIdx tf.Output // [n, k]
	chunks                             []*tf.Tensor
	starts                             []int // first base row of each chunk
	rows                               int
}

var _ matcher.NewScorerFunc = NewScorer

// NewScorer copies base (row-major, dim columns) into TensorFlow tensors
// and builds the scoring graph.
func NewScorer(base []float32, dim int) (matcher.Scorer, error) {
	if dim <= 0 || len(base)%dim != 0 {
		return nil, fmt.Errorf("%w: base of %d values is not a matrix of %d columns", matcher.ErrDimension, len(base), dim)
	}
	s := op.NewScope()
	sc := &Scorer{dim: dim, rows: len(base) / dim}
	sc.queries = op.Placeholder(s.SubScope("queries"), tf.Float, op.PlaceholderShape(tf.MakeShape(-1, int64(dim))))
	sc.base = op.Placeholder(s.SubScope("base"), tf.Float, op.PlaceholderShape(tf.MakeShape(-1, int64(dim))))
	sc.k = op.Placeholder(s.SubScope("k"), tf.Int32, op.PlaceholderShape(tf.ScalarShape()))
	scores := op.MatMul(s, sc.queries, sc.base, op.MatMulTransposeB(true))
	sc.values, sc.indices = op.TopKV2(s.SubScope("plain"), scores, sc.k)

	g := s.SubScope("grouped")
	sc.ngroups = op.Placeholder(g.SubScope("ngroups"), tf.Int32, op.PlaceholderShape(tf.ScalarShape()))
	shape3 := op.Pack(g.SubScope("shape3"), []tf.Output{op.Const(g.SubScope("queries"), int32(-1)), sc.ngroups, op.Const(g.SubScope("size"), int32(groupRows))})
	groups := op.Reshape(g.SubScope("groups"), scores, shape3)
	maxima := op.Max(g, groups, op.Const(g.SubScope("axis"), int32(2)))
	_, sc.groupIdx = op.TopKV2(g.SubScope("groups"), maxima, sc.k)
	picked := op.GatherV2(g, groups, sc.groupIdx, op.Const(g.SubScope("gatheraxis"), int32(1)), op.GatherV2BatchDims(1))
	width := op.Mul(g, sc.k, op.Const(g.SubScope("group"), int32(groupRows)))
	flat := op.Reshape(g.SubScope("flat"), picked, op.Pack(g.SubScope("shape2"), []tf.Output{op.Const(g.SubScope("all"), int32(-1)), width}))
	sc.groupValues, sc.groupRowIdx = op.TopKV2(g.SubScope("rows"), flat, sc.k)

	graph, err := s.Finalize()
	if err != nil {
		return nil, fmt.Errorf("%w: building the graph: %v", ErrGemm, err)
	}
	if sc.session, err = tf.NewSession(graph, nil); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGemm, err)
	}
	for start := 0; start < sc.rows; {
		// Full chunks, then the rest cut to whole groups, then a tail of
		// fewer than groupRows rows that takes the plain path.
		n := min(chunkRows, sc.rows-start)
		if n < chunkRows && n >= groupRows {
			n -= n % groupRows
		}
		t, err := floatTensor(base[start*dim:(start+n)*dim], n, dim)
		if err != nil {
			sc.session.Close()
			return nil, err
		}
		sc.chunks = append(sc.chunks, t)
		sc.starts = append(sc.starts, start)
		start += n
	}
	return sc, nil
}

// floatTensor copies v, a rows x cols matrix, into a TensorFlow tensor.
func floatTensor(v []float32, rows, cols int) (*tf.Tensor, error) {
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
	t, err := tf.ReadTensor(tf.Float, []int64{int64(rows), int64(cols)}, bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGemm, err)
	}
	return t, nil
}

// Close ends the TensorFlow session.
func (s *Scorer) Close() error { return s.session.Close() }

// TopDots implements matcher.Scorer.
func (s *Scorer) TopDots(queries []float32, m int) ([]float32, []int32, error) {
	if len(queries)%s.dim != 0 {
		return nil, nil, fmt.Errorf("%w: queries of %d values are not rows of %d", matcher.ErrDimension, len(queries), s.dim)
	}
	if m < 1 {
		return nil, nil, fmt.Errorf("%w: m = %d", matcher.ErrInvalid, m)
	}
	nq := len(queries) / s.dim
	dots := make([]float32, nq*m)
	rows := make([]int32, nq*m)
	for i := range rows {
		rows[i] = -1
	}
	for q0 := 0; q0 < nq; q0 += queryBlock {
		qn := min(queryBlock, nq-q0)
		if err := s.block(queries[q0*s.dim:(q0+qn)*s.dim], qn, m, dots[q0*m:(q0+qn)*m], rows[q0*m:(q0+qn)*m]); err != nil {
			return nil, nil, err
		}
	}
	return dots, rows, nil
}

// block scores qn queries against every chunk and keeps each query's m best.
func (s *Scorer) block(queries []float32, qn, m int, dots []float32, rows []int32) error {
	q, err := floatTensor(queries, qn, s.dim)
	if err != nil {
		return err
	}
	// Each query's best rows so far, best first.
	best := make([][]hit, qn)
	for i := range best {
		best[i] = make([]hit, 0, m)
	}
	for c, chunk := range s.chunks {
		n := int(chunk.Shape()[0])
		k := min(m, n)
		kt, err := tf.NewTensor(int32(k))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrGemm, err)
		}
		feeds := map[tf.Output]*tf.Tensor{s.queries: q, s.base: chunk, s.k: kt}
		fetch := []tf.Output{s.values, s.indices}
		grouped := n%groupRows == 0 && k <= n/groupRows
		if grouped {
			ng, err := tf.NewTensor(int32(n / groupRows))
			if err != nil {
				return fmt.Errorf("%w: %v", ErrGemm, err)
			}
			feeds[s.ngroups] = ng
			fetch = []tf.Output{s.groupValues, s.groupRowIdx, s.groupIdx}
		}
		out, err := s.session.Run(feeds, fetch, nil)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrGemm, err)
		}
		vals := make([]float32, qn*k)
		idx := make([]int32, qn*k)
		if err := readInto(out[0], asBytes(vals)); err != nil {
			return err
		}
		if err := readInto(out[1], asBytes(idx)); err != nil {
			return err
		}
		if grouped {
			// Turn an index among the picked groups' rows into a chunk row.
			groupIdx := make([]int32, qn*k)
			if err := readInto(out[2], asBytes(groupIdx)); err != nil {
				return err
			}
			for i := range qn {
				for j := range k {
					at := idx[i*k+j]
					idx[i*k+j] = groupIdx[i*k+int(at)/groupRows]*groupRows + at%groupRows
				}
			}
		}
		for i := range qn {
			for j := range k {
				h := hit{vals[i*k+j], int32(s.starts[c]) + idx[i*k+j]}
				if !insert(&best[i], h, m) {
					break // the chunk's rows come best first: the rest lose too
				}
			}
		}
	}
	for i, b := range best {
		for j, h := range b {
			dots[i*m+j], rows[i*m+j] = h.dot, h.row
		}
	}
	return nil
}

type hit struct {
	dot float32
	row int32
}

// before orders hits best first; ties go to the earlier row, as matcher's
// scorer does.
func before(a, b hit) bool { return a.dot > b.dot || (a.dot == b.dot && a.row < b.row) }

// insert puts h into best (sorted, at most m long) if it belongs there.
func insert(best *[]hit, h hit, m int) bool {
	b := *best
	if len(b) == m && !before(h, b[m-1]) {
		return false
	}
	i := sort.Search(len(b), func(i int) bool { return before(h, b[i]) })
	if len(b) < m {
		b = append(b, hit{})
	}
	copy(b[i+1:], b[i:len(b)-1])
	b[i] = h
	*best = b
	return true
}

// asBytes is v's memory as bytes, in host byte order.
func asBytes[T float32 | int32](v []T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
}

// readInto copies a tensor's raw contents (host byte order) into dst.
func readInto(t *tf.Tensor, dst []byte) error {
	w := fixedWriter{buf: dst}
	if _, err := t.WriteContentsTo(&w); err != nil || w.n != len(dst) {
		return fmt.Errorf("%w: reading a %v tensor of %d bytes into %d (%v)", ErrGemm, t.Shape(), w.n, len(dst), err)
	}
	return nil
}

type fixedWriter struct {
	buf []byte
	n   int
}

func (w *fixedWriter) Write(p []byte) (int, error) {
	if len(p) > len(w.buf)-w.n {
		return 0, errors.New("tensor larger than expected")
	}
	w.n += copy(w.buf[w.n:], p)
	return len(p), nil
}

// Peak measures the machine's float32 matrix-product rate with TensorFlow's
// MatMul on n x n matrices: products are run back to back for at least d,
// after one warm-up, and the best of three rounds is returned in FLOP/s
// (2n³ per product).
func Peak(n int, d time.Duration) (float64, error) {
	s := op.NewScope()
	a := op.Placeholder(s.SubScope("a"), tf.Float)
	b := op.Placeholder(s.SubScope("b"), tf.Float)
	product := op.MatMul(s, a, b)
	// Reduce on the TensorFlow side, so the n x n result is not copied out.
	sum := op.Sum(s, product, op.Const(s.SubScope("axes"), []int32{0, 1}))
	graph, err := s.Finalize()
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrGemm, err)
	}
	session, err := tf.NewSession(graph, nil)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrGemm, err)
	}
	defer session.Close()
	v := make([]float32, n*n)
	for i := range v {
		v[i] = float32(i%7) / 7
	}
	ta, err := floatTensor(v, n, n)
	if err != nil {
		return 0, err
	}
	run := func() error {
		_, err := session.Run(map[tf.Output]*tf.Tensor{a: ta, b: ta}, []tf.Output{sum}, nil)
		return err
	}
	if err := run(); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrGemm, err)
	}
	var best float64
	for range 3 {
		start, runs := time.Now(), 0
		for time.Since(start) < d/3 || runs == 0 {
			if err := run(); err != nil {
				return 0, fmt.Errorf("%w: %v", ErrGemm, err)
			}
			runs++
		}
		rate := float64(runs) * 2 * float64(n) * float64(n) * float64(n) / time.Since(start).Seconds()
		best = max(best, rate)
	}
	return best, nil
}
