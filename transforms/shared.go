package transforms

import (
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/detector"
	"github.com/facebatch/facebatch/encoder"
)

// Heavy resources (a TensorFlow session, a cascade) are loaded once per
// worker process and shared by every DoFn instance and bundle in it: they
// are safe for concurrent use, and a second copy of the model would only
// cost memory.
var shared struct {
	sync.Mutex
	decoders  map[int]*decoder.Decoder
	detectors map[string]detector.Detector
	encoders  map[string]*encoder.Encoder
}

func sharedDecoder(maxPixels int) (*decoder.Decoder, error) {
	shared.Lock()
	defer shared.Unlock()
	if d, ok := shared.decoders[maxPixels]; ok {
		return d, nil
	}
	d, err := decoder.New(maxPixels)
	if err != nil {
		return nil, err
	}
	if shared.decoders == nil {
		shared.decoders = map[int]*decoder.Decoder{}
	}
	shared.decoders[maxPixels] = d
	return d, nil
}

func sharedDetector(name string, opts detector.Options) (detector.Detector, error) {
	key := fmt.Sprintf("%s/%d/%x", name, opts.MinSize, sha256.Sum256(opts.Cascade))
	shared.Lock()
	defer shared.Unlock()
	if d, ok := shared.detectors[key]; ok {
		return d, nil
	}
	d, err := detector.New(name, opts)
	if err != nil {
		return nil, err
	}
	if shared.detectors == nil {
		shared.detectors = map[string]detector.Detector{}
	}
	shared.detectors[key] = d
	return d, nil
}

func sharedEncoder(dir, profile string) (*encoder.Encoder, error) {
	key := dir + "\x00" + profile
	shared.Lock()
	defer shared.Unlock()
	if e, ok := shared.encoders[key]; ok {
		return e, nil
	}
	e, err := encoder.Load(dir, encoder.Options{Profile: profile})
	if err != nil {
		return nil, err
	}
	if shared.encoders == nil {
		shared.encoders = map[string]*encoder.Encoder{}
	}
	shared.encoders[key] = e
	return e, nil
}
