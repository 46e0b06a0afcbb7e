package matcher_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/facebatch/facebatch/matcher"
)

// unit2 is the 2-D unit vector at angle deg degrees.
func unit2(deg float64) []float32 {
	rad := deg * math.Pi / 180
	return []float32{float32(math.Cos(rad)), float32(math.Sin(rad))}
}

// chord is the Euclidean distance between two unit vectors deg degrees apart.
func chord(deg float64) float64 {
	return 2 * math.Sin(deg*math.Pi/180/2)
}

// float32 rounding of the encodings limits how close a computed distance can
// come to the exact chord.
const chordTol = 1e-6

func mustGallery(t *testing.T, threshold float64) *matcher.Gallery {
	t.Helper()
	g, err := matcher.NewGallery(threshold)
	if err != nil {
		t.Fatalf("NewGallery(%v): %v", threshold, err)
	}
	return g
}

func mustAdd(t *testing.T, g *matcher.Gallery, identity string, enc []float32) {
	t.Helper()
	if err := g.Add(identity, enc); err != nil {
		t.Fatalf("Add(%q, %v): %v", identity, enc, err)
	}
}

func TestDefaultThreshold(t *testing.T) {
	if matcher.DefaultThreshold != 0.7 {
		t.Errorf("DefaultThreshold = %v, want 0.7", matcher.DefaultThreshold)
	}
}

func TestNewGallery(t *testing.T) {
	tests := []struct {
		threshold float64
		ok        bool
	}{
		{matcher.DefaultThreshold, true},
		{math.SmallestNonzeroFloat64, true},
		{1e-9, true},
		{1, true},
		{2, true},
		{0, false},
		{math.Copysign(0, -1), false},
		{-0.5, false},
		{-math.SmallestNonzeroFloat64, false},
		{math.Nextafter(2, 3), false},
		{2.5, false},
		{math.Inf(1), false},
		{math.Inf(-1), false},
		{math.NaN(), false},
	}
	for _, tt := range tests {
		g, err := matcher.NewGallery(tt.threshold)
		if tt.ok {
			if err != nil {
				t.Errorf("NewGallery(%v) error = %v, want nil", tt.threshold, err)
				continue
			}
			if g == nil {
				t.Errorf("NewGallery(%v) = nil gallery, nil error", tt.threshold)
				continue
			}
			if got := g.Threshold(); got != tt.threshold {
				t.Errorf("NewGallery(%v).Threshold() = %v", tt.threshold, got)
			}
			if g.Len() != 0 || len(g.Identities()) != 0 {
				t.Errorf("NewGallery(%v): Len() = %d, Identities() = %q, want empty", tt.threshold, g.Len(), g.Identities())
			}
			continue
		}
		if !errors.Is(err, matcher.ErrInvalid) {
			t.Errorf("NewGallery(%v) error = %v, want ErrInvalid", tt.threshold, err)
		}
		if g != nil {
			t.Errorf("NewGallery(%v) returned a gallery along with error %v", tt.threshold, err)
		}
	}
}

func TestAddRejects(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	tests := []struct {
		name     string
		identity string
		enc      []float32
		want     error
	}{
		{"empty identity", "", []float32{1, 0}, matcher.ErrInvalid},
		{"nil encoding", "bob", nil, matcher.ErrInvalid},
		{"empty encoding", "bob", []float32{}, matcher.ErrInvalid},
		{"NaN", "bob", []float32{nan, 0}, matcher.ErrInvalid},
		{"NaN among unit", "bob", []float32{1, nan}, matcher.ErrInvalid},
		{"+Inf", "bob", []float32{inf, 0}, matcher.ErrInvalid},
		{"-Inf", "bob", []float32{0, -inf}, matcher.ErrInvalid},
		{"zero vector", "bob", []float32{0, 0}, matcher.ErrInvalid},
		{"too long", "bob", []float32{1.002, 0}, matcher.ErrInvalid},
		{"too short", "bob", []float32{0.998, 0}, matcher.ErrInvalid},
		{"not normalized", "bob", []float32{1, 1}, matcher.ErrInvalid},
		{"shorter dimension", "bob", []float32{1}, matcher.ErrDimension},
		{"longer dimension", "bob", []float32{1, 0, 0}, matcher.ErrDimension},
		{"dimension for existing identity", "alice", []float32{0, 0, 1}, matcher.ErrDimension},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustGallery(t, matcher.DefaultThreshold)
			mustAdd(t, g, "alice", []float32{0, 1})
			err := g.Add(tt.identity, tt.enc)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Add(%q, %v) error = %v, want %v", tt.identity, tt.enc, err, tt.want)
			}
			// A rejected encoding leaves the gallery as it was.
			if got := g.Len(); got != 1 {
				t.Errorf("after rejected Add, Len() = %d, want 1", got)
			}
			if got, want := g.Identities(), []string{"alice"}; !slices.Equal(got, want) {
				t.Errorf("after rejected Add, Identities() = %q, want %q", got, want)
			}
		})
	}
}

func TestAddFirstSetsDimension(t *testing.T) {
	// An empty gallery takes its dimension from the first accepted encoding,
	// not from a rejected one.
	g := mustGallery(t, matcher.DefaultThreshold)
	if err := g.Add("x", []float32{2, 0, 0}); !errors.Is(err, matcher.ErrInvalid) {
		t.Fatalf("Add of non-unit 3-D encoding: error = %v, want ErrInvalid", err)
	}
	mustAdd(t, g, "a", []float32{0, 1})
	if err := g.Add("b", []float32{0, 0, 1}); !errors.Is(err, matcher.ErrDimension) {
		t.Errorf("Add of 3-D encoding to 2-D gallery: error = %v, want ErrDimension", err)
	}
	mustAdd(t, g, "b", []float32{1, 0})
	if got := g.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
}

func TestAddAcceptsNearUnit(t *testing.T) {
	tests := []struct {
		name string
		enc  []float32
	}{
		{"exact", []float32{1, 0}},
		{"negative axis", []float32{0, -1}},
		{"diagonal", []float32{float32(math.Sqrt2 / 2), float32(math.Sqrt2 / 2)}},
		{"slightly long", []float32{1.0005, 0}},
		{"slightly short", []float32{0.9995, 0}},
		{"float32 rounding", unit2(37)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustGallery(t, matcher.DefaultThreshold)
			if err := g.Add("alice", tt.enc); err != nil {
				t.Fatalf("Add(%q, %v) error = %v, want nil", "alice", tt.enc, err)
			}
			if got := g.Len(); got != 1 {
				t.Errorf("Len() = %d, want 1", got)
			}
		})
	}
}

func TestAddOrderAndLen(t *testing.T) {
	g := mustGallery(t, matcher.DefaultThreshold)
	steps := []struct {
		identity string
		deg      float64
		wantLen  int
		wantIDs  []string
	}{
		{"carol", 0, 1, []string{"carol"}},
		{"alice", 90, 2, []string{"carol", "alice"}},
		{"carol", 180, 3, []string{"carol", "alice"}},
		{"bob", 270, 4, []string{"carol", "alice", "bob"}},
		{"alice", 45, 5, []string{"carol", "alice", "bob"}},
		{"alice", 90, 6, []string{"carol", "alice", "bob"}}, // duplicates are kept
	}
	for i, s := range steps {
		mustAdd(t, g, s.identity, unit2(s.deg))
		if got := g.Len(); got != s.wantLen {
			t.Errorf("step %d: after Add(%q), Len() = %d, want %d", i, s.identity, got, s.wantLen)
		}
		if got := g.Identities(); !slices.Equal(got, s.wantIDs) {
			t.Errorf("step %d: after Add(%q), Identities() = %q, want %q", i, s.identity, got, s.wantIDs)
		}
	}
}

func TestIdentitiesReturnsCopy(t *testing.T) {
	g := mustGallery(t, matcher.DefaultThreshold)
	mustAdd(t, g, "alice", unit2(0))
	mustAdd(t, g, "bob", unit2(90))
	ids := g.Identities()
	ids[0] = "mallory"
	if got, want := g.Identities(), []string{"alice", "bob"}; !slices.Equal(got, want) {
		t.Errorf("after modifying the returned slice, Identities() = %q, want %q", got, want)
	}
	if _, err := g.Verify(unit2(0), "alice"); err != nil {
		t.Errorf("Verify(alice) after modifying Identities() result: %v", err)
	}
}

func TestAddDoesNotAlias(t *testing.T) {
	g := mustGallery(t, matcher.DefaultThreshold)
	enc := []float32{1, 0}
	mustAdd(t, g, "alice", enc)
	enc[0], enc[1] = 0, 1 // caller reuses its buffer
	v, err := g.Verify([]float32{1, 0}, "alice")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if v.Distance != 0 {
		t.Errorf("Verify distance = %v after caller modified its encoding, want 0 (gallery must copy)", v.Distance)
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b []float32
		want float64
	}{
		{[]float32{1, 0}, []float32{1, 0}, 0},
		{[]float32{1, 0}, []float32{-1, 0}, 2},
		{[]float32{1, 0}, []float32{0, 1}, math.Sqrt2},
		{[]float32{0, 0, 0}, []float32{3, 4, 0}, 5},
		{[]float32{1, 2, 3, 4}, []float32{2, 3, 4, 5}, 2},
		{[]float32{0.5}, []float32{-0.25}, 0.75},
		{nil, nil, 0},
	}
	for _, tt := range tests {
		if got := matcher.Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := matcher.Distance(tt.b, tt.a); got != tt.want {
			t.Errorf("Distance(%v, %v) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestDistanceChord(t *testing.T) {
	for _, deg := range []float64{0, 1, 10, 30, 57.3, 90, 120, 179, 180} {
		got := matcher.Distance(unit2(0), unit2(deg))
		if want := chord(deg); math.Abs(got-want) > chordTol {
			t.Errorf("Distance between unit vectors %v° apart = %v, want 2·sin(θ/2) = %v", deg, got, want)
		}
	}
}

func TestQueryErrors(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(-1))
	full := func(t *testing.T) *matcher.Gallery {
		g := mustGallery(t, matcher.DefaultThreshold)
		mustAdd(t, g, "alice", []float32{1, 0})
		mustAdd(t, g, "bob", []float32{0, 1})
		return g
	}
	empty := func(t *testing.T) *matcher.Gallery { return mustGallery(t, matcher.DefaultThreshold) }
	tests := []struct {
		name     string
		gallery  func(*testing.T) *matcher.Gallery
		enc      []float32
		identity string // for Verify
		want     error
		// identifyWant is Identify's error, which has no identity to check.
		identifyWant error
	}{
		{"empty gallery", empty, []float32{1, 0}, "alice", matcher.ErrEmptyGallery, matcher.ErrEmptyGallery},
		{"unknown identity", full, []float32{1, 0}, "carol", matcher.ErrUnknownIdentity, nil},
		{"empty identity", full, []float32{1, 0}, "", matcher.ErrUnknownIdentity, nil},
		{"short query", full, []float32{1}, "alice", matcher.ErrDimension, matcher.ErrDimension},
		{"long query", full, []float32{1, 0, 0}, "alice", matcher.ErrDimension, matcher.ErrDimension},
		{"nil query", full, nil, "alice", matcher.ErrDimension, matcher.ErrDimension},
		{"NaN query", full, []float32{nan, 0}, "alice", matcher.ErrInvalid, matcher.ErrInvalid},
		{"Inf query", full, []float32{0, inf}, "alice", matcher.ErrInvalid, matcher.ErrInvalid},
		{"non-unit query", full, []float32{0.5, 0}, "alice", matcher.ErrInvalid, matcher.ErrInvalid},
		{"zero query", full, []float32{0, 0}, "alice", matcher.ErrInvalid, matcher.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.gallery(t)
			v, err := g.Verify(tt.enc, tt.identity)
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify(%v, %q) error = %v, want %v", tt.enc, tt.identity, err, tt.want)
			}
			if v != (matcher.Verification{}) {
				t.Errorf("Verify(%v, %q) = %+v with error, want zero Verification", tt.enc, tt.identity, v)
			}
			res, err := g.Identify(tt.enc, 3)
			if tt.identifyWant == nil {
				if err != nil {
					t.Errorf("Identify(%v, 3) error = %v, want nil", tt.enc, err)
				}
				return
			}
			if !errors.Is(err, tt.identifyWant) {
				t.Errorf("Identify(%v, 3) error = %v, want %v", tt.enc, err, tt.identifyWant)
			}
			if res.Identity != "" || res.Candidates != nil {
				t.Errorf("Identify(%v, 3) = %+v with error, want zero Identification", tt.enc, res)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	g := mustGallery(t, matcher.DefaultThreshold)
	// alice has three encodings; the query is nearest the third.
	mustAdd(t, g, "alice", unit2(90))
	mustAdd(t, g, "bob", unit2(5))
	mustAdd(t, g, "alice", unit2(180))
	mustAdd(t, g, "alice", unit2(30))
	mustAdd(t, g, "carol", unit2(100))
	mustAdd(t, g, "carol", unit2(-120))

	tests := []struct {
		name     string
		queryDeg float64
		identity string
		wantDeg  float64 // angle to the identity's nearest encoding
		accepted bool
	}{
		{"nearest encoding added last", 0, "alice", 30, true},
		{"nearest encoding added first", 80, "alice", 10, true},
		{"nearest encoding in the middle", 200, "alice", 20, true},
		{"exact match", 30, "alice", 0, true},
		{"single encoding", 0, "bob", 5, true},
		{"other identity nearer is irrelevant", 5, "alice", 25, true},
		{"rejected", 0, "carol", 100, false},
		{"wraps around", 200, "carol", 40, true},
		{"opposite", 185, "bob", 180, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := g.Verify(unit2(tt.queryDeg), tt.identity)
			if err != nil {
				t.Fatalf("Verify(%v°, %q): %v", tt.queryDeg, tt.identity, err)
			}
			if v.Identity != tt.identity {
				t.Errorf("Identity = %q, want %q", v.Identity, tt.identity)
			}
			if want := chord(tt.wantDeg); math.Abs(v.Distance-want) > chordTol {
				t.Errorf("Distance = %v, want %v (chord of %v°)", v.Distance, want, tt.wantDeg)
			}
			if v.Accepted != tt.accepted {
				t.Errorf("Accepted = %v at distance %v, threshold %v; want %v", v.Accepted, v.Distance, g.Threshold(), tt.accepted)
			}
		})
	}
}

func TestVerifyMinimumIsExact(t *testing.T) {
	// The reported distance is exactly the smallest Distance to any of the
	// identity's encodings.
	g := mustGallery(t, matcher.DefaultThreshold)
	encs := [][]float32{unit2(170), unit2(-60), unit2(33), unit2(250)}
	for _, e := range encs {
		mustAdd(t, g, "alice", e)
	}
	for _, qdeg := range []float64{0, 45, 100, 200, 300} {
		q := unit2(qdeg)
		want := math.Inf(1)
		for _, e := range encs {
			want = math.Min(want, matcher.Distance(q, e))
		}
		v, err := g.Verify(q, "alice")
		if err != nil {
			t.Fatalf("Verify(%v°): %v", qdeg, err)
		}
		if v.Distance != want {
			t.Errorf("Verify(%v°).Distance = %v, want min Distance %v", qdeg, v.Distance, want)
		}
	}
}

func TestThresholdBoundary(t *testing.T) {
	// A distance exactly equal to the threshold is rejected; the smallest
	// larger threshold accepts it.
	for _, deg := range []float64{1, 30, 40.97, 57.29577951308232, 90, 135, 179.5} {
		a, b := []float32{1, 0}, unit2(deg)
		d := matcher.Distance(a, b)
		if math.Abs(d-chord(deg)) > chordTol {
			t.Fatalf("%v°: Distance = %v, want about %v", deg, d, chord(deg))
		}
		tests := []struct {
			name      string
			threshold float64
			accepted  bool
		}{
			{"equal", d, false},
			{"just above", math.Nextafter(d, 3), true},
			{"just below", math.Nextafter(d, 0), false},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%v°/%s", deg, tt.name), func(t *testing.T) {
				g := mustGallery(t, tt.threshold)
				mustAdd(t, g, "alice", a)
				v, err := g.Verify(b, "alice")
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if v.Distance != d {
					t.Fatalf("%v°: Verify distance = %v, want %v", deg, v.Distance, d)
				}
				if v.Accepted != tt.accepted {
					t.Errorf("%v°: Verify at distance %v, threshold %v: Accepted = %v, want %v", deg, d, tt.threshold, v.Accepted, tt.accepted)
				}
				res, err := g.Identify(b, 1)
				if err != nil {
					t.Fatalf("Identify: %v", err)
				}
				if res.Distance != d || res.Identity != "alice" {
					t.Fatalf("%v°: Identify = (%q, %v), want (alice, %v)", deg, res.Identity, res.Distance, d)
				}
				if res.Accepted != tt.accepted {
					t.Errorf("%v°: Identify at distance %v, threshold %v: Accepted = %v, want %v", deg, d, tt.threshold, res.Accepted, tt.accepted)
				}
			})
		}
	}
}

// identifyGallery holds, at these angles:
//
//	ann 0°; bob 90° and 170°; cat 120°; dan 270°.
func identifyGallery(t *testing.T) *matcher.Gallery {
	t.Helper()
	g := mustGallery(t, matcher.DefaultThreshold)
	mustAdd(t, g, "ann", unit2(0))
	mustAdd(t, g, "bob", unit2(90))
	mustAdd(t, g, "cat", unit2(120))
	mustAdd(t, g, "bob", unit2(170))
	mustAdd(t, g, "dan", unit2(270))
	return g
}

type cand struct {
	identity string
	deg      float64 // angle to the identity's nearest encoding
}

func TestIdentify(t *testing.T) {
	g := identifyGallery(t)
	// The angle from the query to each identity's nearest encoding, nearest
	// first.
	tests := []struct {
		name     string
		queryDeg float64
		ranking  []cand
		accepted bool
	}{
		{"near ann", 10, []cand{{"ann", 10}, {"bob", 80}, {"dan", 100}, {"cat", 110}}, true},
		{"near bob's second", 160, []cand{{"bob", 10}, {"cat", 40}, {"dan", 110}, {"ann", 160}}, true},
		{"near dan", 260, []cand{{"dan", 10}, {"bob", 90}, {"ann", 100}, {"cat", 140}}, true},
		{"exactly cat", 120, []cand{{"cat", 0}, {"bob", 30}, {"ann", 120}, {"dan", 150}}, true},
		// 45° is a chord of 0.765, above the 0.7 threshold: nearest but unknown.
		{"unknown", 215, []cand{{"bob", 45}, {"dan", 55}, {"cat", 95}, {"ann", 145}}, false},
	}
	for _, tt := range tests {
		for _, k := range []int{-3, 0, 1, 2, 3, 4, 5, 100} {
			t.Run(fmt.Sprintf("%s/k=%d", tt.name, k), func(t *testing.T) {
				res, err := g.Identify(unit2(tt.queryDeg), k)
				if err != nil {
					t.Fatalf("Identify(%v°, %d): %v", tt.queryDeg, k, err)
				}
				nearest := tt.ranking[0]
				if res.Identity != nearest.identity {
					t.Errorf("Identify(%v°, %d).Identity = %q, want %q", tt.queryDeg, k, res.Identity, nearest.identity)
				}
				if want := chord(nearest.deg); math.Abs(res.Distance-want) > chordTol {
					t.Errorf("Identify(%v°, %d).Distance = %v, want %v", tt.queryDeg, k, res.Distance, want)
				}
				if res.Accepted != tt.accepted {
					t.Errorf("Identify(%v°, %d).Accepted = %v at distance %v, want %v", tt.queryDeg, k, res.Accepted, res.Distance, tt.accepted)
				}
				if want := chord(tt.ranking[1].deg) - chord(nearest.deg); math.Abs(res.Margin-want) > 2*chordTol {
					t.Errorf("Identify(%v°, %d).Margin = %v, want %v", tt.queryDeg, k, res.Margin, want)
				}
				wantLen := min(max(k, 1), len(tt.ranking))
				if len(res.Candidates) != wantLen {
					t.Fatalf("Identify(%v°, %d) has %d candidates, want %d: %+v", tt.queryDeg, k, len(res.Candidates), wantLen, res.Candidates)
				}
				for i, c := range res.Candidates {
					w := tt.ranking[i]
					if c.Identity != w.identity {
						t.Errorf("Identify(%v°, %d).Candidates[%d].Identity = %q, want %q", tt.queryDeg, k, i, c.Identity, w.identity)
					}
					if want := chord(w.deg); math.Abs(c.Distance-want) > chordTol {
						t.Errorf("Identify(%v°, %d).Candidates[%d].Distance = %v, want %v", tt.queryDeg, k, i, c.Distance, want)
					}
					if i > 0 && c.Distance < res.Candidates[i-1].Distance {
						t.Errorf("Identify(%v°, %d).Candidates not ascending at %d: %+v", tt.queryDeg, k, i, res.Candidates)
					}
				}
				first := res.Candidates[0]
				if first.Identity != res.Identity || first.Distance != res.Distance {
					t.Errorf("Identify(%v°, %d): Candidates[0] = %+v, want {%s %v}", tt.queryDeg, k, first, res.Identity, res.Distance)
				}
				if len(res.Candidates) > 1 {
					if got := res.Candidates[1].Distance - res.Candidates[0].Distance; res.Margin != got {
						t.Errorf("Identify(%v°, %d).Margin = %v, want Candidates[1]-Candidates[0] = %v", tt.queryDeg, k, res.Margin, got)
					}
				}
			})
		}
	}
}

func TestIdentifyAgreesWithVerify(t *testing.T) {
	// Every identity's Identify distance is its Verify distance: the minimum
	// over its encodings.
	g := identifyGallery(t)
	for _, qdeg := range []float64{0, 33, 95, 150, 200, 300} {
		q := unit2(qdeg)
		res, err := g.Identify(q, len(g.Identities()))
		if err != nil {
			t.Fatalf("Identify(%v°): %v", qdeg, err)
		}
		if len(res.Candidates) != len(g.Identities()) {
			t.Fatalf("Identify(%v°) gave %d candidates, want one per identity (%d)", qdeg, len(res.Candidates), len(g.Identities()))
		}
		seen := map[string]bool{}
		for _, c := range res.Candidates {
			if seen[c.Identity] {
				t.Errorf("Identify(%v°): identity %q listed twice: %+v", qdeg, c.Identity, res.Candidates)
			}
			seen[c.Identity] = true
			v, err := g.Verify(q, c.Identity)
			if err != nil {
				t.Fatalf("Verify(%v°, %q): %v", qdeg, c.Identity, err)
			}
			if v.Distance != c.Distance {
				t.Errorf("Identify(%v°) distance for %q = %v, Verify gives %v", qdeg, c.Identity, c.Distance, v.Distance)
			}
		}
	}
}

func TestIdentifySingleIdentity(t *testing.T) {
	tests := []struct {
		name   string
		angles []float64
		query  float64
		deg    float64
	}{
		{"one encoding", []float64{0}, 20, 20},
		{"several encodings", []float64{0, 90, 180}, 100, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustGallery(t, matcher.DefaultThreshold)
			for _, a := range tt.angles {
				mustAdd(t, g, "solo", unit2(a))
			}
			for _, k := range []int{0, 1, 5} {
				res, err := g.Identify(unit2(tt.query), k)
				if err != nil {
					t.Fatalf("Identify(k=%d): %v", k, err)
				}
				if res.Identity != "solo" || !res.Accepted {
					t.Errorf("Identify(k=%d) = (%q, accepted %v), want (solo, true)", k, res.Identity, res.Accepted)
				}
				if want := chord(tt.deg); math.Abs(res.Distance-want) > chordTol {
					t.Errorf("Identify(k=%d).Distance = %v, want %v", k, res.Distance, want)
				}
				if !math.IsInf(res.Margin, 1) {
					t.Errorf("Identify(k=%d).Margin = %v, want +Inf", k, res.Margin)
				}
				if len(res.Candidates) != 1 || res.Candidates[0].Identity != "solo" || res.Candidates[0].Distance != res.Distance {
					t.Errorf("Identify(k=%d).Candidates = %+v, want [{solo %v}]", k, res.Candidates, res.Distance)
				}
			}
		})
	}
}

type entry struct {
	id  string
	deg float64
}

func TestIdentifyTies(t *testing.T) {
	// With the query at 0°, encodings at ±θ are exactly equally far: the
	// float32 coordinates differ only in the sign of y.
	tests := []struct {
		name string
		add  []entry
		want []string
	}{
		{
			name: "two-way tie, insertion order",
			add:  []entry{{"zed", 90}, {"amy", -90}},
			want: []string{"zed", "amy"},
		},
		{
			name: "reverse insertion",
			add:  []entry{{"amy", -90}, {"zed", 90}},
			want: []string{"amy", "zed"},
		},
		{
			name: "tie behind a nearer identity",
			add:  []entry{{"p", 60}, {"q", -60}, {"near", 5}, {"r", 60}},
			want: []string{"near", "p", "q", "r"},
		},
		{
			name: "tie through a second encoding",
			add:  []entry{{"b", 170}, {"a", 30}, {"b", -30}, {"c", 100}},
			want: []string{"b", "a", "c"},
		},
		{
			name: "identical encodings",
			add:  []entry{{"x", 40}, {"y", 40}, {"z", 40}},
			want: []string{"x", "y", "z"},
		},
	}
	// Many ties, interleaved with identities at other distances, so that an
	// unstable sort (which only behaves stably on short inputs) would show.
	var many []entry
	var manyWant, far []string
	for i := range 40 {
		id := fmt.Sprintf("id%02d", i)
		switch i % 4 {
		case 0:
			many = append(many, entry{id, 20})
			manyWant = append(manyWant, id)
		case 1:
			many = append(many, entry{id, -20})
			manyWant = append(manyWant, id)
		case 2:
			many = append(many, entry{id, 70})
			far = append(far, id)
		default:
			many = append(many, entry{id, -70})
			far = append(far, id)
		}
	}
	tests = append(tests, struct {
		name string
		add  []entry
		want []string
	}{"forty identities, two distances", many, append(manyWant, far...)})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustGallery(t, matcher.DefaultThreshold)
			for _, a := range tt.add {
				mustAdd(t, g, a.id, unit2(a.deg))
			}
			// Repeat to catch any dependence on map iteration order.
			for range 20 {
				res, err := g.Identify([]float32{1, 0}, len(tt.want))
				if err != nil {
					t.Fatalf("Identify: %v", err)
				}
				var got []string
				for _, c := range res.Candidates {
					got = append(got, c.Identity)
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("Identify candidates = %q, want %q", got, tt.want)
				}
				if res.Identity != tt.want[0] {
					t.Fatalf("Identify.Identity = %q, want %q", res.Identity, tt.want[0])
				}
			}
		})
	}
}

func TestIdentifyTieMargin(t *testing.T) {
	g := mustGallery(t, matcher.DefaultThreshold)
	mustAdd(t, g, "up", unit2(90))
	mustAdd(t, g, "down", unit2(-90))
	res, err := g.Identify([]float32{1, 0}, 2)
	if err != nil {
		t.Fatalf("Identify: %v", err)
	}
	if res.Margin != 0 {
		t.Errorf("Margin between equally distant identities = %v, want 0", res.Margin)
	}
	if res.Identity != "up" {
		t.Errorf("Identity = %q, want %q (added first)", res.Identity, "up")
	}
}

func TestConcurrentQueries(t *testing.T) {
	g := identifyGallery(t)
	q := unit2(160)
	want, err := g.Identify(q, 4)
	if err != nil {
		t.Fatalf("Identify: %v", err)
	}
	wantV, err := g.Verify(q, "cat")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for range 16 {
		wg.Go(func() {
			for range 100 {
				got, err := g.Identify(q, 4)
				if err != nil || got.Identity != want.Identity || !slices.Equal(got.Candidates, want.Candidates) {
					errs <- "concurrent Identify disagrees with serial result"
					return
				}
				v, err := g.Verify(q, "cat")
				if err != nil || v != wantV {
					errs <- "concurrent Verify disagrees with serial result"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
}
