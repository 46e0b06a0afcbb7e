package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// MTCNNFile is the MTCNN manifest's name inside its export directory
// (written by export_mtcnn.py).
const MTCNNFile = "mtcnn.json"

// EnvMTCNN names the environment variable that points at the exported MTCNN
// detector; scripts/setup.sh writes it into the generated env file.
const EnvMTCNN = "FACEBATCH_MTCNN"

// MTCNN describes the exported MTCNN face detector: its three nets and the
// numbers of the detection pipeline the Go detector runs around them
// (models/export_mtcnn.py writes them next to the SavedModels).
type MTCNN struct {
	ModelID       string          `json:"model_id"`
	Nets          map[string]Net  `json:"nets"`
	Preprocessing MTCNNPixels     `json:"preprocessing"`
	Pipeline      MTCNNParameters `json:"pipeline"`

	// Dir is where the manifest was read from; each net's SavedModel is
	// relative to it.
	Dir string `json:"-"`
}

// Net is one exported network: a SavedModel with one input and named outputs.
type Net struct {
	SavedModel string   `json:"saved_model"`
	Tags       []string `json:"tags"`
	Input      struct {
		Tensor Tensor `json:"tensor"`
	} `json:"input"`
	Outputs map[string]struct {
		Tensor Tensor `json:"tensor"`
	} `json:"outputs"`
}

// MTCNNPixels says how 8-bit RGB samples become the nets' float input:
// (x - Mean) * Scale.
type MTCNNPixels struct {
	Mean       float32 `json:"mean"`
	Scale      float32 `json:"scale"`
	Transposed bool    `json:"transposed"`
}

// MTCNNParameters are the detection pipeline's settings, as the package
// uses them by default.
type MTCNNParameters struct {
	// MinFaceSize is the package's default; the detector's own default
	// is detector.DefaultMinSize.
	MinFaceSize   int      `json:"min_face_size"`
	MinSize       int      `json:"min_size"`
	ScaleFactor   float64  `json:"scale_factor"`
	Stride        int      `json:"pnet_stride"`
	CellSize      int      `json:"pnet_cell_size"`
	ThresholdPNet float64  `json:"threshold_pnet"`
	ThresholdRNet float64  `json:"threshold_rnet"`
	ThresholdONet float64  `json:"threshold_onet"`
	NMS           MTCNNNMS `json:"nms"`
	RNetInput     int      `json:"rnet_input"`
	ONetInput     int      `json:"onet_input"`
}

// MTCNNNMS are the pipeline's four suppression steps.
type MTCNNNMS struct {
	PNetPerScale  NMSParam `json:"pnet_per_scale"`
	PNetAllScales NMSParam `json:"pnet_all_scales"`
	RNet          NMSParam `json:"rnet"`
	ONet          NMSParam `json:"onet"`
}

// NMSParam is one non-maximum suppression step: overlap Threshold measured
// as intersection over "union" or over the smaller box ("min").
type NMSParam struct {
	Threshold float64 `json:"threshold"`
	Method    string  `json:"method"`
}

// mtcnnOutputs are the nets and outputs the detector needs from the manifest.
var mtcnnOutputs = map[string][]string{
	"pnet": {"bbox_reg", "prob"},
	"rnet": {"bbox_reg", "prob"},
	"onet": {"bbox_reg", "landmarks", "prob"},
}

// DefaultMTCNNDir is the detector directory used when none is given: $FACEBATCH_MTCNN.
func DefaultMTCNNDir() (string, error) {
	dir := os.Getenv(EnvMTCNN)
	if dir == "" {
		return "", fmt.Errorf("%w: no MTCNN directory given and $%s is not set (run `make setup` and source .facebatch.env)", ErrManifest, EnvMTCNN)
	}
	return dir, nil
}

// LoadMTCNN reads and validates dir/mtcnn.json.
func LoadMTCNN(dir string) (*MTCNN, error) {
	path := filepath.Join(dir, MTCNNFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	var m MTCNN
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrManifest, path, err)
	}
	m.Dir = dir
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrManifest, path, err)
	}
	return &m, nil
}

func (m *MTCNN) validate() error {
	if m.ModelID == "" {
		return errors.New("model_id is empty")
	}
	for name, outputs := range mtcnnOutputs {
		net, ok := m.Nets[name]
		switch {
		case !ok:
			return fmt.Errorf("no net %q", name)
		case net.SavedModel == "" || len(net.Tags) == 0:
			return fmt.Errorf("net %q: saved_model or tags missing", name)
		case net.Input.Tensor.Op == "":
			return fmt.Errorf("net %q: input tensor name is empty", name)
		}
		for _, o := range outputs {
			if net.Outputs[o].Tensor.Op == "" {
				return fmt.Errorf("net %q: no output %q", name, o)
			}
		}
	}
	px, p := m.Preprocessing, m.Pipeline
	switch {
	case px.Transposed:
		return errors.New("transposed input (mtcnn 0.1.x weights) is not supported")
	case !(px.Scale > 0):
		return fmt.Errorf("preprocessing scale %v", px.Scale)
	case p.MinFaceSize <= 0 || p.MinSize <= 0 || p.Stride <= 0 || p.CellSize <= 0:
		return errors.New("pipeline sizes must be positive")
	case !(p.ScaleFactor > 0 && p.ScaleFactor < 1):
		return fmt.Errorf("scale_factor %v outside (0, 1)", p.ScaleFactor)
	case p.RNetInput < 2 || p.ONetInput < 2:
		return fmt.Errorf("net input sizes %d, %d", p.RNetInput, p.ONetInput)
	}
	for _, th := range []float64{p.ThresholdPNet, p.ThresholdRNet, p.ThresholdONet} {
		if !(th >= 0 && th < 1) {
			return fmt.Errorf("score threshold %v outside [0, 1)", th)
		}
	}
	steps := map[string]NMSParam{
		"pnet_per_scale": p.NMS.PNetPerScale, "pnet_all_scales": p.NMS.PNetAllScales,
		"rnet": p.NMS.RNet, "onet": p.NMS.ONet,
	}
	for step, n := range steps {
		switch {
		case n.Method != "union" && n.Method != "min":
			return fmt.Errorf("nms %q: method %q, want union or min", step, n.Method)
		case !(n.Threshold > 0 && n.Threshold <= 1):
			return fmt.Errorf("nms %q: threshold %v outside (0, 1]", step, n.Threshold)
		}
	}
	return nil
}

// NetDir is the absolute location of the named net's SavedModel.
func (m *MTCNN) NetDir(name string) string {
	dir := m.Nets[name].SavedModel
	if filepath.IsAbs(dir) {
		return dir
	}
	return filepath.Join(m.Dir, dir)
}
