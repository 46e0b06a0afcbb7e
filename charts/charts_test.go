package charts

import (
	"encoding/xml"
	"html/template"
	"io"
	"slices"
	"strings"
	"testing"
)

// elements parses svg as XML and counts its elements by name and class.
func elements(t *testing.T, svg template.HTML) map[string]int {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(svg)))
	n := map[string]int{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("not well-formed SVG: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			n[se.Name.Local]++
			for _, a := range se.Attr {
				if a.Name.Local == "class" {
					n[se.Name.Local+"."+a.Value]++
				}
			}
		}
	}
}

func TestHistogram(t *testing.T) {
	tests := []struct {
		name            string
		h               Histogram
		bars, markers   int
		contains        []string
		containsNothing []string
	}{
		{
			name: "two series and thresholds",
			h: Histogram{Title: "distances", XLabel: "distance", Min: 0, Max: 2,
				Series: []Series{
					{Name: "same", Color: "#2a7", Counts: []int{0, 3, 5, 0}},
					{Name: "different", Color: "#c33", Counts: []int{0, 0, 2, 9}},
				},
				Markers: []Marker{{Label: "threshold 1.10", Value: 1.1, Color: "#000"}, {Label: "outside", Value: 3}},
			},
			bars: 4, markers: 1,
			contains: []string{"threshold 1.10", "same: 5", "different: 9"},
		},
		{
			name: "normalized",
			h: Histogram{Min: 0, Max: 1, Normalize: true,
				Series: []Series{{Name: "a", Counts: []int{1, 3}}, {Name: "b", Counts: []int{100, 0}}}},
			bars: 3, contains: []string{"a: 0.750", "b: 1.000", "fraction"},
		},
		{
			name: "labels are escaped",
			h: Histogram{Title: `<script>"x"</script>`, Min: 0, Max: 1,
				Series:  []Series{{Name: "a&b", Color: `red" onload="x`, Counts: []int{1}}},
				Markers: []Marker{{Label: "<m>", Value: 0.5}}},
			bars: 1, markers: 1,
			contains:        []string{"&lt;script&gt;", "a&amp;b", "&lt;m&gt;"},
			containsNothing: []string{"<script>", `onload="x`},
		},
		{name: "empty", h: Histogram{}, contains: []string{"count"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svg := tt.h.SVG()
			n := elements(t, svg)
			if n["svg"] != 1 || n["rect.bar"] != tt.bars || n["line.marker"] != tt.markers {
				t.Errorf("svg %d, bars %d, markers %d; want 1, %d, %d", n["svg"], n["rect.bar"], n["line.marker"], tt.bars, tt.markers)
			}
			for _, s := range tt.contains {
				if !strings.Contains(string(svg), s) {
					t.Errorf("SVG lacks %q", s)
				}
			}
			for _, s := range tt.containsNothing {
				if strings.Contains(string(svg), s) {
					t.Errorf("SVG contains %q", s)
				}
			}
		})
	}
}

func TestCurve(t *testing.T) {
	roc := Curve{Title: "ROC", XLabel: "FAR", YLabel: "TAR", LogX: true, XMin: 1e-3, XMax: 1, YMin: 0, YMax: 1,
		Lines: []Line{{Name: "lfw", Color: "#36c", Points: []Point{{0, 0}, {1e-3, 0.5}, {0.01, 0.9}, {1, 1}}}, {Name: "none"}},
		Dots:  []Dot{{Label: "threshold 1.1", Point: Point{0.02, 0.95}, Color: "#c33"}}}
	svg := roc.SVG()
	n := elements(t, svg)
	if n["path.line"] != 1 || n["circle.dot"] != 1 {
		t.Errorf("lines %d, dots %d; want 1, 1", n["path.line"], n["circle.dot"])
	}
	// Log axis: one tick label per decade.
	for _, s := range []string{">0.001<", ">0.01<", ">0.1<", ">1<", "threshold 1.1"} {
		if !strings.Contains(string(svg), s) {
			t.Errorf("SVG lacks %q", s)
		}
	}
	// FAR 0 is drawn at the left edge, not at -Inf.
	if strings.Contains(string(svg), "Inf") || strings.Contains(string(svg), "NaN") {
		t.Errorf("SVG holds a non-finite coordinate:\n%s", svg)
	}
	elements(t, Curve{}.SVG())
}

func TestTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 2, 8, []float64{0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2}},
		{0, 1, 5, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{0, 37, 4, []float64{0, 10, 20, 30}},
		{1, 1, 4, []float64{1}},
	}
	for _, tt := range tests {
		if got := ticks(tt.lo, tt.hi, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("ticks(%v, %v, %d) = %v, want %v", tt.lo, tt.hi, tt.n, got, tt.want)
		}
	}
}
