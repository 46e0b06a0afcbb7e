// Package models describes exported face models: the manifest that travels
// next to each SavedModel and says how to feed it and read it back.
//
// The export itself (export_facenet.py, run once by scripts/setup.sh) is the
// only place Python runs; everything here is read at run time from Go.
package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ManifestFile is the manifest's name inside a model directory.
const ManifestFile = "manifest.json"

// EnvModel names the environment variable that points at the default model
// directory; scripts/setup.sh writes it into the generated env file.
const EnvModel = "FACEBATCH_MODEL"

// ErrManifest is wrapped by every error about a missing or malformed manifest.
var ErrManifest = errors.New("models: bad manifest")

// Manifest is the model's contract with the pipeline: input geometry, tensor
// names, embedding size, and the preprocessing profiles the model supports.
type Manifest struct {
	Name           string             `json:"name"`
	ModelID        string             `json:"model_id"`
	Description    string             `json:"description"`
	WeightsSHA256  string             `json:"weights_sha256"`
	Parameters     int                `json:"parameters"`
	SavedModel     string             `json:"saved_model"`
	Tags           []string           `json:"tags"`
	Signature      string             `json:"signature"`
	Input          Input              `json:"input"`
	Output         Tensor             `json:"output"`
	EmbeddingSize  int                `json:"embedding_size"`
	DefaultProfile string             `json:"default_profile"`
	Profiles       map[string]Profile `json:"profiles"`

	// Dir is where the manifest was read from; SavedModel is relative to it.
	Dir string `json:"-"`
}

// Input is the model's image input: one float32 NHWC tensor.
type Input struct {
	Height   int    `json:"height"`
	Width    int    `json:"width"`
	Channels int    `json:"channels"`
	Tensor   Tensor `json:"tensor"`
}

// Tensor names one output of a graph operation.
type Tensor struct {
	Op    string `json:"op"`
	Index int    `json:"index"`
}

// Profile is one way of turning a photo into the model's input.
type Profile struct {
	Description string `json:"description"`
	// Detector is the detector the profile's threshold was calibrated
	// with, and the jobs' default: "none" (the whole image is the face),
	// "pigo" or "mtcnn".
	Detector string `json:"detector"`
	// Align says how a found face becomes the model's input: "box" crops
	// the detector's box grown by Margin, made square (for "none", the
	// whole image); "rect" grows it by as many pixels but leaves it as
	// tall as it is, so the resize stretches it, as FaceNet's training
	// crops were;
	// "similarity" turns, scales and shifts the photo so the face's five
	// landmarks land as near as they can to Template; "affine" may also
	// stretch and shear it to get nearer. A face without landmarks falls
	// back to the box crop.
	Align string `json:"align"`
	// Margin grows a detected box by this fraction of its longer side
	// before the box crop.
	Margin float64 `json:"margin"`
	// Template holds, for "similarity", where the landmarks go in the
	// model's input, in its pixels: left eye, right eye, nose, left and
	// right mouth corner ("left" as seen in the image).
	Template [][2]float64 `json:"template,omitempty"`
	// Flip adds to each face's encoding the encoding of its mirror image
	// before normalising (test-time augmentation; twice the model runs).
	Flip bool `json:"flip,omitempty"`
	// Resize is the interpolation used to reach the input size: "nearest"
	// or "catmullrom".
	Resize string `json:"resize"`
	// Pixels says how 8-bit samples become floats: "div255" is x/255 (the
	// notebook); "standardize" is (x - mean) / max(std, 1/sqrt(n)) over the
	// image's n samples, the input these weights were trained with.
	Pixels string `json:"pixels"`
	// Threshold is the distance under which two unit encodings are accepted
	// as the same person for this profile.
	Threshold float64 `json:"threshold"`
	// ClusterDistance is the distance under which two unknown faces are
	// neighbours when identify clusters them; 0 means ClusterFraction of
	// Threshold (see ClusterThreshold).
	ClusterDistance float64 `json:"cluster_threshold,omitempty"`
}

// ClusterFraction is the cluster threshold of a profile that names none, as
// a fraction of its match threshold. Clustering wants fewer false links
// than matching does (one wrong link can merge two people), so it works
// below the match threshold; calibrated on lfw-dev (docs/clustering.md, "The
// threshold").
const ClusterFraction = 0.68

// ClusterThreshold is the profile's distance for clustering unknown faces.
// A derived one is rounded to three decimals, the precision thresholds are
// calibrated to, so rows and logs show 0.748 rather than 0.7480000000000001.
func (p Profile) ClusterThreshold() float64 {
	if p.ClusterDistance > 0 {
		return p.ClusterDistance
	}
	return math.Round(ClusterFraction*p.Threshold*1000) / 1000
}

// Supported values of the profile fields. A manifest naming anything else
// is refused at load time rather than producing silently wrong encodings.
var (
	supportedDetectors = map[string]bool{"none": true, "pigo": true, "mtcnn": true}
	supportedAlign     = map[string]bool{"box": true, "rect": true, "similarity": true, "affine": true}
	supportedResize    = map[string]bool{"nearest": true, "catmullrom": true}
	supportedPixels    = map[string]bool{"div255": true, "standardize": true}
)

// DefaultDir is the model directory used when none is given: $FACEBATCH_MODEL.
func DefaultDir() (string, error) {
	dir := os.Getenv(EnvModel)
	if dir == "" {
		return "", fmt.Errorf("%w: no model directory given and $%s is not set (run `make setup` and source .facebatch.env, or pass --model)", ErrManifest, EnvModel)
	}
	return dir, nil
}

// Load reads and validates dir/manifest.json.
func Load(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrManifest, filepath.Join(dir, ManifestFile), err)
	}
	m.Dir = dir
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrManifest, filepath.Join(dir, ManifestFile), err)
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	switch {
	case m.ModelID == "":
		return errors.New("model_id is empty")
	case m.SavedModel == "":
		return errors.New("saved_model is empty")
	case len(m.Tags) == 0:
		return errors.New("no tags")
	case m.Input.Height <= 0 || m.Input.Width <= 0 || m.Input.Channels != 3:
		return fmt.Errorf("input %dx%dx%d: want a positive size with 3 channels", m.Input.Height, m.Input.Width, m.Input.Channels)
	case m.Input.Tensor.Op == "" || m.Output.Op == "":
		return errors.New("input or output tensor name is empty")
	case m.EmbeddingSize <= 0:
		return fmt.Errorf("embedding_size %d", m.EmbeddingSize)
	}
	if _, ok := m.Profiles[m.DefaultProfile]; !ok {
		return fmt.Errorf("default_profile %q is not among the profiles", m.DefaultProfile)
	}
	for name, p := range m.Profiles {
		switch {
		case !supportedDetectors[p.Detector]:
			return fmt.Errorf("profile %q: unsupported detector %q", name, p.Detector)
		case !supportedResize[p.Resize]:
			return fmt.Errorf("profile %q: unsupported resize %q", name, p.Resize)
		case !supportedPixels[p.Pixels]:
			return fmt.Errorf("profile %q: unsupported pixels %q", name, p.Pixels)
		case !(p.Threshold > 0 && p.Threshold <= 2):
			return fmt.Errorf("profile %q: threshold %v outside (0, 2]", name, p.Threshold)
		case !(p.ClusterDistance >= 0 && p.ClusterDistance <= 2):
			return fmt.Errorf("profile %q: cluster_threshold %v outside (0, 2]", name, p.ClusterDistance)
		case !supportedAlign[p.Align]:
			return fmt.Errorf("profile %q: unsupported align %q (want box, rect, similarity or affine)", name, p.Align)
		case !(p.Margin >= 0 && p.Margin <= 2):
			return fmt.Errorf("profile %q: margin %v outside [0, 2]", name, p.Margin)
		}
		if err := m.validateTemplate(p); err != nil {
			return fmt.Errorf("profile %q: %v", name, err)
		}
	}
	return nil
}

// validateTemplate checks that a "similarity" profile can align: a
// detector that finds landmarks and five points inside the input.
func (m *Manifest) validateTemplate(p Profile) error {
	if p.Align == "box" || p.Align == "rect" {
		if len(p.Template) > 0 {
			return fmt.Errorf("a template with align %q", p.Align)
		}
		return nil
	}
	if p.Detector != "mtcnn" {
		return fmt.Errorf("align %s needs landmarks, which detector %q does not give", p.Align, p.Detector)
	}
	if len(p.Template) != 5 {
		return fmt.Errorf("template has %d points, want 5", len(p.Template))
	}
	for _, pt := range p.Template {
		if !(pt[0] >= 0 && pt[0] <= float64(m.Input.Width) && pt[1] >= 0 && pt[1] <= float64(m.Input.Height)) {
			return fmt.Errorf("template point %v outside the %dx%d input", pt, m.Input.Width, m.Input.Height)
		}
	}
	return nil
}

// SavedModelDir is the absolute location of the SavedModel.
func (m *Manifest) SavedModelDir() string {
	if filepath.IsAbs(m.SavedModel) {
		return m.SavedModel
	}
	return filepath.Join(m.Dir, m.SavedModel)
}

// Profile returns the named profile; "" means the default one.
// A name ending in FlipSuffix is the profile before it (or the default)
// with Flip on.
func (m *Manifest) Profile(name string) (Profile, error) {
	if name == "" {
		name = m.DefaultProfile
	}
	base, flip := strings.CutSuffix(name, FlipSuffix)
	if base == "" {
		base = m.DefaultProfile
	}
	p, ok := m.Profiles[base]
	if !ok {
		return Profile{}, fmt.Errorf("models: %s has no profile %q (have %v, each also with %s)", m.ModelID, name, m.ProfileNames(), FlipSuffix)
	}
	if flip && !p.Flip {
		p.Flip = true
		p.Description += "; each face encoded with its mirror image (" + FlipSuffix + ")"
	}
	return p, nil
}

// FlipSuffix turns on a profile's Flip: "aligned+flip" is "aligned" with
// each face's encoding the sum of its own and its mirror image's (one more
// model run per face). Its encodings differ from the profile's, so its name
// is what tables record and what identify checks a gallery against.
const FlipSuffix = "+flip"

// ProfileNames lists the profiles in a stable order.
func (m *Manifest) ProfileNames() []string {
	names := make([]string, 0, len(m.Profiles))
	for n := range m.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
