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
var (
	decoders  perProcess[*decoder.Decoder]
	detectors perProcess[detector.Detector]
	encoders  perProcess[*encoder.Encoder]
)

// perProcess holds values loaded once per process, by key.
type perProcess[V any] struct {
	mu sync.Mutex
	m  map[string]V
}

// get returns the value for key, loading it the first time.
func (c *perProcess[V]) get(key string, load func() (V, error)) (V, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[key]; ok {
		return v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	if c.m == nil {
		c.m = map[string]V{}
	}
	c.m[key] = v
	return v, nil
}

func sharedDecoder(maxPixels int) (*decoder.Decoder, error) {
	return decoders.get(fmt.Sprint(maxPixels), func() (*decoder.Decoder, error) {
		return decoder.New(maxPixels)
	})
}

func sharedDetector(name string, opts detector.Options) (detector.Detector, error) {
	key := fmt.Sprintf("%s/%d/%x/%s", name, opts.MinSize, sha256.Sum256(opts.Cascade), opts.MTCNNDir)
	return detectors.get(key, func() (detector.Detector, error) {
		return detector.New(name, opts)
	})
}

func sharedEncoder(dir, profile string, session encoder.Session) (*encoder.Encoder, error) {
	key := fmt.Sprintf("%s\x00%s\x00%+v", dir, profile, session)
	return encoders.get(key, func() (*encoder.Encoder, error) {
		return encoder.Load(dir, encoder.Options{Profile: profile, Session: session})
	})
}
