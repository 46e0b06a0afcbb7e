package models_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/facebatch/facebatch/models"
)

const shared = "../../shared"

// exported loads the manifest that scripts/setup.sh exported. A missing model
// fails the test: CI must never pass without the real weights.
func exported(t *testing.T) *models.Manifest {
	t.Helper()
	dir, err := models.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExportedManifest(t *testing.T) {
	m := exported(t)
	if m.Input.Height != 160 || m.Input.Width != 160 || m.Input.Channels != 3 {
		t.Errorf("input %+v, want 160x160x3", m.Input)
	}
	if m.EmbeddingSize != 128 {
		t.Errorf("embedding_size %d, want 128", m.EmbeddingSize)
	}
	if m.Parameters != 22808144 {
		t.Errorf("parameters %d, want 22808144", m.Parameters)
	}
	if !strings.HasPrefix(m.ModelID, "facenet-keras-") {
		t.Errorf("model_id %q", m.ModelID)
	}
	p, err := m.Profile("notebook")
	if err != nil {
		t.Fatal(err)
	}
	if p.Threshold != 0.7 || p.Resize != "nearest" || p.Pixels != "div255" || p.Detector != "none" || p.Align != "box" || p.Margin != 0 {
		t.Errorf("notebook profile %+v", p)
	}
	if p, err := m.Profile("standardized"); err != nil || p.Pixels != "standardize" || p.Threshold != 1.1 {
		t.Errorf("standardized profile %+v, %v", p, err)
	}
	// The default: MTCNN, five-point alignment, standardised input and the
	// threshold calibrated with them on lfw-dev.
	if p, err := m.Profile(""); err != nil || m.DefaultProfile != "aligned" || p.Detector != "mtcnn" || p.Align != "similarity" ||
		len(p.Template) != 5 || p.Pixels != "standardize" || p.Threshold != 1.06 {
		t.Errorf("default profile %q: %+v, %v", m.DefaultProfile, p, err)
	}
	// A profile with the flip suffix is that profile with Flip on.
	base, _ := m.Profile("aligned")
	if p, err := m.Profile("aligned" + models.FlipSuffix); err != nil || !p.Flip || base.Flip ||
		p.Threshold != base.Threshold || p.Align != base.Align || p.Detector != base.Detector {
		t.Errorf("aligned+flip profile %+v, %v; aligned %+v", p, err, base)
	}
	if _, err := m.Profile("nosuch" + models.FlipSuffix); err == nil {
		t.Error("a flipped unknown profile loaded")
	}
	if _, err := os.Stat(filepath.Join(m.SavedModelDir(), "saved_model.pb")); err != nil {
		t.Error(err)
	}
}

// layer is the part of a Keras layer config that decides what it computes.
type layer struct {
	Class    string
	Inbound  []string
	Filters  int
	Kernel   []int
	Strides  []int
	Padding  string
	UseBias  bool
	Epsilon  float64
	Center   bool
	Scale    any // bool for BatchNorm, float for the ScaleSum Lambda
	Pool     []int
	Units    int
	Act      string
	Rate     float64
	HasScale bool
}

// TestArchitectureMatchesNotebook compares the rebuilt network, layer by
// layer, with the notebook's own Keras model.json.
func TestArchitectureMatchesNotebook(t *testing.T) {
	m := exported(t)
	want := notebookLayers(t)
	got := exportedLayers(t, filepath.Join(m.Dir, "architecture.json"))
	if len(got) != len(want) || len(want) != 426 {
		t.Fatalf("%d layers rebuilt, notebook has %d (want 426)", len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("layer %s missing from the export", name)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("layer %s:\n got %+v\nwant %+v", name, g, w)
		}
	}
}

func notebookLayers(t *testing.T) map[string]layer {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(shared, "seed", "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Config struct {
			Layers []struct {
				Class   string                `json:"class_name"`
				Name    string                `json:"name"`
				Config  map[string]any        `json:"config"`
				Inbound [][][]json.RawMessage `json:"inbound_nodes"`
			} `json:"layers"`
		} `json:"config"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]layer{}
	for _, l := range doc.Config.Layers {
		cfg := l.Config
		if l.Class == "Lambda" {
			cfg = map[string]any{"scale": cfg["arguments"].(map[string]any)["scale"]}
		}
		var in []string
		for _, node := range l.Inbound {
			for _, edge := range node {
				var name string
				if err := json.Unmarshal(edge[0], &name); err != nil {
					t.Fatal(err)
				}
				in = append(in, name)
			}
		}
		out[l.Name] = toLayer(l.Class, in, cfg)
	}
	return out
}

func exportedLayers(t *testing.T, path string) map[string]layer {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(data, &rows); err != nil {
		t.Fatal(err)
	}
	out := map[string]layer{}
	for _, r := range rows {
		var in []string
		for _, v := range r["inbound"].([]any) {
			in = append(in, v.(string))
		}
		class := r["class"].(string)
		if class == "InputLayer" {
			in = nil
		}
		out[r["name"].(string)] = toLayer(class, in, r)
	}
	return out
}

func toLayer(class string, inbound []string, cfg map[string]any) layer {
	ints := func(key string) []int {
		v, ok := cfg[key].([]any)
		if !ok {
			return nil
		}
		out := make([]int, len(v))
		for i, x := range v {
			out[i] = int(x.(float64))
		}
		return out
	}
	num := func(key string) float64 { f, _ := cfg[key].(float64); return f }
	str := func(key string) string { s, _ := cfg[key].(string); return s }
	boolean := func(key string) bool { b, _ := cfg[key].(bool); return b }
	l := layer{Class: class, Inbound: inbound}
	sort.Strings(l.Inbound)
	switch class {
	case "Conv2D":
		l.Filters, l.Kernel, l.Strides = int(num("filters")), ints("kernel_size"), ints("strides")
		l.Padding, l.UseBias, l.Act = str("padding"), boolean("use_bias"), str("activation")
	case "BatchNormalization":
		l.Epsilon, l.Center, l.Scale = num("epsilon"), boolean("center"), boolean("scale")
	case "MaxPooling2D":
		l.Pool, l.Strides, l.Padding = ints("pool_size"), ints("strides"), str("padding")
	case "Dense":
		l.Units, l.UseBias, l.Act = int(num("units")), boolean("use_bias"), str("activation")
	case "Activation":
		l.Act = str("activation")
	case "Dropout":
		l.Rate = num("rate")
	case "Lambda":
		l.Scale, l.HasScale = num("scale"), true
	}
	return l
}

func TestLoadRejects(t *testing.T) {
	good := map[string]any{
		"model_id": "m", "saved_model": "saved_model", "tags": []string{"serve"},
		"input":          map[string]any{"height": 160, "width": 160, "channels": 3, "tensor": map[string]any{"op": "in"}},
		"output":         map[string]any{"op": "out"},
		"embedding_size": 128, "default_profile": "notebook",
		"profiles": map[string]any{"notebook": map[string]any{"detector": "none", "align": "box", "resize": "nearest", "pixels": "div255", "threshold": 0.7}},
	}
	template := [][2]float64{{54, 65}, {106, 65}, {80, 90}, {58, 112}, {102, 112}}
	aligned := func(edit func(p map[string]any)) func(m map[string]any) {
		return func(m map[string]any) {
			p := map[string]any{"detector": "mtcnn", "align": "similarity", "template": template, "resize": "catmullrom", "pixels": "standardize", "threshold": 1.1}
			edit(p)
			m["profiles"].(map[string]any)["aligned"] = p
		}
	}
	tests := []struct {
		name   string
		edit   func(m map[string]any)
		errSub string
	}{
		{"valid", func(map[string]any) {}, ""},
		{"no model id", func(m map[string]any) { m["model_id"] = "" }, "model_id"},
		{"grey input", func(m map[string]any) { m["input"].(map[string]any)["channels"] = 1 }, "3 channels"},
		{"unknown default profile", func(m map[string]any) { m["default_profile"] = "x" }, "default_profile"},
		{"unknown resize", func(m map[string]any) {
			m["profiles"] = map[string]any{"notebook": map[string]any{"detector": "none", "resize": "bicubic", "pixels": "div255", "threshold": 0.7}}
		}, "resize"},
		{"threshold too large", func(m map[string]any) {
			m["profiles"] = map[string]any{"notebook": map[string]any{"detector": "none", "align": "box", "resize": "nearest", "pixels": "div255", "threshold": 2.5}}
		}, "threshold"},
		{"negative cluster threshold", func(m map[string]any) {
			m["profiles"] = map[string]any{"notebook": map[string]any{"detector": "none", "align": "box", "resize": "nearest", "pixels": "div255", "threshold": 0.7, "cluster_threshold": -1}}
		}, "cluster_threshold"},
		{"cluster threshold too large", func(m map[string]any) {
			m["profiles"] = map[string]any{"notebook": map[string]any{"detector": "none", "align": "box", "resize": "nearest", "pixels": "div255", "threshold": 0.7, "cluster_threshold": 2.5}}
		}, "cluster_threshold"},
		{"aligned", aligned(func(map[string]any) {}), ""},
		{"unknown detector", aligned(func(p map[string]any) { p["detector"] = "haar" }), "detector"},
		{"no align", aligned(func(p map[string]any) { delete(p, "align") }), "align"},
		{"unknown align", aligned(func(p map[string]any) { p["align"] = "perspective" }), "align"},
		{"negative margin", aligned(func(p map[string]any) { p["margin"] = -0.1 }), "margin"},
		{"similarity without landmarks", aligned(func(p map[string]any) { p["detector"] = "pigo" }), "landmarks"},
		{"four template points", aligned(func(p map[string]any) { p["template"] = template[:4] }), "5"},
		{"template outside the input", aligned(func(p map[string]any) {
			p["template"] = [][2]float64{{54, 65}, {106, 65}, {80, 90}, {58, 170}, {102, 112}}
		}), "outside"},
		{"template for a box crop", aligned(func(p map[string]any) { p["align"] = "box" }), "template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]any{}
			raw, _ := json.Marshal(good)
			_ = json.Unmarshal(raw, &m)
			tt.edit(m)
			dir := t.TempDir()
			raw, _ = json.Marshal(m)
			if err := os.WriteFile(filepath.Join(dir, models.ManifestFile), raw, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := models.Load(dir)
			if tt.errSub == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errSub) || !errors.Is(err, models.ErrManifest) {
				t.Fatalf("Load error %v, want ErrManifest mentioning %q", err, tt.errSub)
			}
		})
	}
	if _, err := models.Load(t.TempDir()); !errors.Is(err, models.ErrManifest) {
		t.Errorf("missing manifest: %v", err)
	}
}

func TestClusterThreshold(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    models.Profile
		want float64
	}{
		{"calibrated", models.Profile{Threshold: 1.1, ClusterDistance: 0.8}, 0.8},
		{"from the match threshold", models.Profile{Threshold: 1.1}, 0.748},
		{"rounded", models.Profile{Threshold: 0.7}, 0.476},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.ClusterThreshold(); got != tt.want {
				t.Errorf("ClusterThreshold() = %v, want %v", got, tt.want)
			}
		})
	}
}
