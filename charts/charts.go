// Package charts draws the small SVG charts of the HTML reports: histograms
// with threshold markers, and curves such as ROC. A chart renders to inline
// SVG markup that an html/template page embeds as template.HTML; every piece
// of text in it is escaped here, so callers may pass any names and labels.
package charts

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Default chart size in CSS pixels.
const (
	DefaultWidth  = 640
	DefaultHeight = 260
)

// Plot margins: room for axis labels left and below, the title and the
// legend above.
const (
	marginLeft   = 52
	marginRight  = 16
	marginTop    = 46
	marginBottom = 42
)

// Series is one set of bin counts of a histogram.
type Series struct {
	Name string
	// Color is any CSS colour.
	Color string
	// Counts has one value per bin; bins evenly split [Min, Max].
	Counts []int
}

// Marker is a labelled vertical line at an x value, such as a threshold.
type Marker struct {
	Label string
	Value float64
	Color string
}

// Histogram overlays series of bin counts on one x axis.
type Histogram struct {
	Title    string
	XLabel   string
	Min, Max float64
	Series   []Series
	Markers  []Marker
	// Normalize plots each series as a fraction of its own total, so that
	// a small class stays visible beside a large one.
	Normalize     bool
	Width, Height int
}

// SVG renders the histogram. An empty histogram still renders its axes.
func (h Histogram) SVG() template.HTML {
	w, ht := size(h.Width, h.Height)
	lo, hi := h.Min, h.Max
	if !(hi > lo) {
		lo, hi = 0, 1
	}
	values := make([][]float64, len(h.Series))
	top := 0.0
	for i, s := range h.Series {
		total := 0
		for _, c := range s.Counts {
			total += c
		}
		values[i] = make([]float64, len(s.Counts))
		for j, c := range s.Counts {
			v := float64(c)
			if h.Normalize && total > 0 {
				v /= float64(total)
			}
			values[i][j] = v
			top = math.Max(top, v)
		}
	}
	if top == 0 {
		top = 1
	}
	p := plot{w: w, h: ht, x: linear(lo, hi), y: linear(0, top)}
	var b strings.Builder
	p.open(&b, "histogram", h.Title)
	yFormat := "%.0f"
	if h.Normalize {
		yFormat = "%.2f"
	}
	p.axes(&b, ticks(lo, hi, 8), "%.2g", ticks(0, top, 4), yFormat, h.XLabel, yLabel(h.Normalize))
	for i, s := range h.Series {
		n := len(s.Counts)
		for j, v := range values[i] {
			if v == 0 {
				continue
			}
			x0 := p.px(lo + (hi-lo)*float64(j)/float64(n))
			x1 := p.px(lo + (hi-lo)*float64(j+1)/float64(n))
			y := p.py(v)
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.55"><title>%s: %s</title></rect>`,
				x0, y, math.Max(x1-x0-0.5, 0.5), p.py(0)-y, attr(s.Color), esc(s.Name), fmtValue(v, h.Normalize))
		}
	}
	for i, m := range h.Markers {
		p.marker(&b, m, i)
	}
	legend := make([]legendItem, len(h.Series))
	for i, s := range h.Series {
		legend[i] = legendItem{s.Name, s.Color}
	}
	p.legend(&b, legend)
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

func yLabel(normalized bool) string {
	if normalized {
		return "fraction"
	}
	return "count"
}

func fmtValue(v float64, normalized bool) string {
	if normalized {
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// Point is one point of a curve.
type Point struct{ X, Y float64 }

// Line is one curve.
type Line struct {
	Name   string
	Color  string
	Points []Point
}

// Dot is a labelled point on a curve, such as the operating point at a
// threshold.
type Dot struct {
	Label string
	Point
	Color string
}

// Curve plots lines over [XMin, XMax] x [YMin, YMax].
type Curve struct {
	Title          string
	XLabel, YLabel string
	XMin, XMax     float64
	YMin, YMax     float64
	// LogX uses a base-10 x axis, as for false accept rates; x values at or
	// below XMin (zero included) are drawn at XMin.
	LogX          bool
	Lines         []Line
	Dots          []Dot
	Width, Height int
}

// SVG renders the curve.
func (c Curve) SVG() template.HTML {
	w, ht := size(c.Width, c.Height)
	xlo, xhi, ylo, yhi := c.XMin, c.XMax, c.YMin, c.YMax
	if !(yhi > ylo) {
		ylo, yhi = 0, 1
	}
	var xs scale
	var xt []float64
	xFormat := "%.2g"
	if c.LogX {
		if !(xlo > 0) {
			xlo = 1e-3
		}
		if !(xhi > xlo) {
			xhi = 1
		}
		xs = logScale(xlo, xhi)
		for e := math.Ceil(math.Log10(xlo)); e <= math.Log10(xhi)+1e-9; e++ {
			xt = append(xt, math.Pow(10, e))
		}
		xFormat = "%g"
	} else {
		if !(xhi > xlo) {
			xlo, xhi = 0, 1
		}
		xs = linear(xlo, xhi)
		xt = ticks(xlo, xhi, 5)
	}
	p := plot{w: w, h: ht, x: xs, y: linear(ylo, yhi)}
	var b strings.Builder
	p.open(&b, "curve", c.Title)
	p.axes(&b, xt, xFormat, ticks(ylo, yhi, 5), "%.2g", c.XLabel, c.YLabel)
	clampX := func(x float64) float64 { return math.Min(math.Max(x, xlo), xhi) }
	var legend []legendItem
	for _, l := range c.Lines {
		if len(l.Points) == 0 {
			continue
		}
		var d strings.Builder
		for i, pt := range l.Points {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f,%.1f ", cmd, p.px(clampX(pt.X)), p.py(pt.Y))
		}
		fmt.Fprintf(&b, `<path class="line" d="%s" fill="none" stroke="%s" stroke-width="2"><title>%s</title></path>`,
			strings.TrimSpace(d.String()), attr(l.Color), esc(l.Name))
		legend = append(legend, legendItem{l.Name, l.Color})
	}
	for _, dot := range c.Dots {
		x, y := p.px(clampX(dot.X)), p.py(dot.Y)
		fmt.Fprintf(&b, `<circle class="dot" cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s</title></circle>`, x, y, attr(dot.Color), esc(dot.Label))
		anchor, dx := "start", 7.0
		if x > float64(w)*0.7 {
			anchor, dx = "end", -7
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="%s" fill="%s">%s</text>`, x+dx, y+14, anchor, attr(dot.Color), esc(dot.Label))
	}
	p.legend(&b, legend)
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

func size(w, h int) (int, int) {
	if w <= 0 {
		w = DefaultWidth
	}
	if h <= 0 {
		h = DefaultHeight
	}
	return w, h
}

// scale maps a data value to [0, 1] along an axis.
type scale func(float64) float64

func linear(lo, hi float64) scale {
	return func(v float64) float64 { return (v - lo) / (hi - lo) }
}

func logScale(lo, hi float64) scale {
	l, h := math.Log10(lo), math.Log10(hi)
	return func(v float64) float64 { return (math.Log10(math.Max(v, lo)) - l) / (h - l) }
}

// plot places data in the drawing area of a w x h chart.
type plot struct {
	w, h int
	x, y scale
}

func (p plot) px(v float64) float64 {
	return marginLeft + p.x(v)*float64(p.w-marginLeft-marginRight)
}

func (p plot) py(v float64) float64 {
	return float64(p.h-marginBottom) - p.y(v)*float64(p.h-marginTop-marginBottom)
}

func (p plot) open(b *strings.Builder, kind, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="%s" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s" font-family="sans-serif">`,
		kind, p.w, p.h, p.w, p.h, esc(title))
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="#fff"/>`, p.w, p.h)
	if title != "" {
		fmt.Fprintf(b, `<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>`, marginLeft, esc(title))
	}
}

func (p plot) axes(b *strings.Builder, xt []float64, xf string, yt []float64, yf string, xLabel, yLabel string) {
	x0, x1 := float64(marginLeft), float64(p.w-marginRight)
	y0, y1 := float64(p.h-marginBottom), float64(marginTop)
	for _, t := range yt {
		y := p.py(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`, x0, y, x1, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="end" fill="#555">%s</text>`, x0-4, y+3, esc(fmt.Sprintf(yf, t)))
	}
	for _, t := range xt {
		x := p.px(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999"/>`, x, y0, x, y0+4)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle" fill="#555">%s</text>`, x, y0+15, esc(fmt.Sprintf(xf, t)))
	}
	fmt.Fprintf(b, `<path d="M%.1f,%.1f V%.1f H%.1f" fill="none" stroke="#333"/>`, x0, y1, y0, x1)
	fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%s</text>`, (x0+x1)/2, p.h-6, esc(xLabel))
	fmt.Fprintf(b, `<text transform="translate(12 %.1f) rotate(-90)" font-size="11" text-anchor="middle">%s</text>`, (y0+y1)/2, esc(yLabel))
}

// marker draws the i-th marker; labels step down so that close markers'
// labels do not overlap.
func (p plot) marker(b *strings.Builder, m Marker, i int) {
	x := p.px(m.Value)
	if x < marginLeft || x > float64(p.w-marginRight) || math.IsNaN(x) {
		return
	}
	fmt.Fprintf(b, `<line class="marker" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="5 3"><title>%s</title></line>`,
		x, marginTop, x, p.h-marginBottom, attr(m.Color), esc(m.Label))
	anchor, dx := "start", 4.0
	if x > float64(p.w)*0.7 {
		anchor, dx = "end", -4
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="11" text-anchor="%s" fill="%s">%s</text>`, x+dx, marginTop+10+13*i, anchor, attr(m.Color), esc(m.Label))
}

type legendItem struct{ name, color string }

// legend lists the series in a row under the title.
func (p plot) legend(b *strings.Builder, items []legendItem) {
	x := float64(marginLeft)
	for _, it := range items {
		fmt.Fprintf(b, `<rect x="%.1f" y="24" width="10" height="10" fill="%s"/>`, x, attr(it.color))
		fmt.Fprintf(b, `<text x="%.1f" y="33" font-size="11">%s</text>`, x+14, esc(it.name))
		x += 6*float64(len([]rune(it.name))) + 30
	}
}

// ticks returns about n round values spanning [lo, hi].
func ticks(lo, hi float64, n int) []float64 {
	if !(hi > lo) || n < 1 {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+step*1e-9; k++ {
		// Rounded to 12 digits, so 3*0.2 is 0.6 and not 0.6000000000000001.
		v, _ := strconv.ParseFloat(strconv.FormatFloat(k*step, 'g', 12, 64), 64)
		out = append(out, v+0) // +0 turns -0 into 0
	}
	return out
}

func esc(s string) string { return html.EscapeString(s) }

// attr escapes a colour; an empty one falls back to grey.
func attr(s string) string {
	if s == "" {
		return "#777"
	}
	return html.EscapeString(s)
}
