package models_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facebatch/facebatch/models"
)

func exportedMTCNN(t *testing.T) *models.MTCNN {
	t.Helper()
	dir, err := models.DefaultMTCNNDir()
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.LoadMTCNN(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestExportedMTCNN: the export made by scripts/setup.sh names the tensors
// the detector feeds and reads, and the package's default settings.
func TestExportedMTCNN(t *testing.T) {
	m := exportedMTCNN(t)
	if !strings.HasPrefix(m.ModelID, "mtcnn-") {
		t.Errorf("model_id %q", m.ModelID)
	}
	for _, name := range []string{"pnet", "rnet", "onet"} {
		if _, err := os.Stat(filepath.Join(m.NetDir(name), "saved_model.pb")); err != nil {
			t.Error(err)
		}
	}
	p := m.Pipeline
	if p.MinFaceSize != 20 || p.MinSize != 12 || p.ScaleFactor != 0.709 || p.ThresholdONet != 0.8 ||
		p.NMS.ONet != (models.NMSParam{Threshold: 0.7, Method: "min"}) || p.RNetInput != 24 || p.ONetInput != 48 {
		t.Errorf("pipeline %+v", p)
	}
	if px := m.Preprocessing; px.Mean != 127.5 || px.Scale != 1.0/128 || px.Transposed {
		t.Errorf("preprocessing %+v", px)
	}
}

func TestLoadMTCNNRejects(t *testing.T) {
	src := exportedMTCNN(t)
	raw, err := os.ReadFile(filepath.Join(src.Dir, models.MTCNNFile))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		edit   func(m map[string]any)
		errSub string
	}{
		{"valid", func(map[string]any) {}, ""},
		{"no onet", func(m map[string]any) { delete(m["nets"].(map[string]any), "onet") }, "onet"},
		{"no landmarks output", func(m map[string]any) {
			delete(m["nets"].(map[string]any)["onet"].(map[string]any)["outputs"].(map[string]any), "landmarks")
		}, "landmarks"},
		{"transposed", func(m map[string]any) { m["preprocessing"].(map[string]any)["transposed"] = true }, "transposed"},
		{"scale factor 1", func(m map[string]any) { m["pipeline"].(map[string]any)["scale_factor"] = 1 }, "scale_factor"},
		{"nms method", func(m map[string]any) {
			m["pipeline"].(map[string]any)["nms"].(map[string]any)["rnet"] = map[string]any{"threshold": 0.7, "method": "max"}
		}, "method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			tt.edit(m)
			dir := t.TempDir()
			data, _ := json.Marshal(m)
			if err := os.WriteFile(filepath.Join(dir, models.MTCNNFile), data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := models.LoadMTCNN(dir)
			if tt.errSub == "" {
				if err != nil {
					t.Fatalf("LoadMTCNN: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errSub) || !errors.Is(err, models.ErrManifest) {
				t.Fatalf("LoadMTCNN error %v, want ErrManifest mentioning %q", err, tt.errSub)
			}
		})
	}
}
