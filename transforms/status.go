package transforms

import (
	"errors"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/results"
)

// statusOf maps an error from reading, decoding or encoding an image to the
// status of its row.
func statusOf(err error) string {
	switch {
	case err == nil:
		return results.StatusOK
	case errors.Is(err, files.ErrTooLarge), errors.Is(err, decoder.ErrTooLarge):
		return results.StatusTooLarge
	case errors.Is(err, files.ErrNotFound):
		return results.StatusNotFound
	case errors.Is(err, decoder.ErrFormat):
		return results.StatusUnsupportedFormat
	case errors.Is(err, decoder.ErrCorrupt):
		return results.StatusDecodeError
	case errors.Is(err, encoder.ErrEncode):
		return results.StatusEncodeError
	default:
		return results.StatusReadError
	}
}
