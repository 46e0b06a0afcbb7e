package detector

import (
	"image"
	"slices"
	"testing"
)

// TestPack checks the pyramid canvas's layout for the photo sizes the
// pipelines meet, one photo's pyramid or several: every level at even coordinates, inside the canvas with
// a row and a column of zeros after it, overlapping no other level's, and
// the canvas's sides multiples of 32.
func TestPack(t *testing.T) {
	tests := []struct {
		name   string
		w, h   int
		photos int // pyramids on the canvas; 0 means 1
	}{
		{"LFW 250x250", 250, 250, 0},
		{"16 LFW photos", 250, 250, 16},
		{"3 phone previews", 1600, 1200, 3},
		{"seed 96x96", 96, 96, 0},
		{"portrait 95x139", 95, 139, 0},
		{"landscape 1024x768", 1024, 768, 0},
		{"strip 2000x60", 2000, 60, 0},
		{"large 4000x3000", 4000, 3000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sizes []image.Point
			for _, s := range pyramid(tt.w, tt.h, 20, 12, 0.709) {
				sz := image.Pt(int(float64(tt.w)*s), int(float64(tt.h)*s))
				if pnetCells(sz.X) >= 1 && pnetCells(sz.Y) >= 1 {
					sizes = append(sizes, sz)
				}
			}
			one := sizes
			for range tt.photos - 1 {
				sizes = append(sizes, one...)
			}
			slices.SortStableFunc(sizes, func(a, b image.Point) int { return b.Y - a.Y }) // as scan does
			if len(sizes) == 0 {
				t.Fatal("no levels")
			}
			at, canvas := pack(sizes)
			if canvas.X%32 != 0 || canvas.Y%32 != 0 {
				t.Errorf("canvas %v, want multiples of 32", canvas)
			}
			area := 0
			slots := make([]image.Rectangle, len(sizes))
			for i, sz := range sizes {
				area += sz.X * sz.Y
				p := at[i]
				if p.X%2 != 0 || p.Y%2 != 0 {
					t.Errorf("level %d (%v) at %v, want even coordinates", i, sz, p)
				}
				// The level and the zeros after it.
				slots[i] = image.Rectangle{Min: p, Max: p.Add(sz).Add(image.Pt(1, 1))}
				if !slots[i].In(image.Rectangle{Max: canvas}) {
					t.Errorf("level %d (%v) at %v leaves no zeros inside the %v canvas", i, sz, p, canvas)
				}
				for j := range i {
					if slots[i].Overlaps(slots[j]) {
						t.Errorf("levels %d at %v and %d at %v overlap", i, slots[i], j, slots[j])
					}
				}
			}
			if ratio := float64(canvas.X*canvas.Y) / float64(area); ratio > 2 {
				t.Errorf("canvas %v is %.2f times the levels' area", canvas, ratio)
			}
		})
	}
}
