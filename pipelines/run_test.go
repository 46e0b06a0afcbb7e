package pipelines_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"

	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/pipelines"
)

func init() {
	register.Function2x0(retriedFn)
	register.Function2x0(otherCountFn)
	register.Function1x1(brokenFn)
}

var (
	// retried is files' own counter, which Run adds up.
	retried = beam.NewCounter(files.CounterNamespace, files.RetriesCounter)
	other   = beam.NewCounter(files.CounterNamespace, "other")
)

// retriedFn counts n storage retries, as files does for each failed call
// it tries again.
func retriedFn(ctx context.Context, n int) { retried.Inc(ctx, int64(n)) }

func otherCountFn(ctx context.Context, n int) { other.Inc(ctx, int64(n)) }

func brokenFn(int) error { return errors.New("broken step") }

func TestRun(t *testing.T) {
	was := *runners.Runner
	*runners.Runner = pipelines.DefaultRunner
	t.Cleanup(func() { *runners.Runner = was })
	tests := []struct {
		name    string
		step    any
		retries int64
		err     string
	}{
		{"retries over all elements", retriedFn, 1 + 2 + 3, ""},
		{"other counters left out", otherCountFn, 0, ""},
		{"failed step", brokenFn, 0, "broken step"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			beam.ParDo0(s, tt.step, beam.Create(s, 1, 2, 3))
			res, err := pipelines.Run(context.Background(), p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.StorageRetries != tt.retries {
				t.Errorf("StorageRetries %d, want %d", res.StorageRetries, tt.retries)
			}
		})
	}
}

func TestKnownRunner(t *testing.T) {
	tests := []struct {
		name  string
		known bool
	}{
		{pipelines.DefaultRunner, true},
		{"prism", true},
		{"DataflowRunner", true},
		{"universal", true},
		{"spaceship", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := pipelines.KnownRunner(tt.name); got != tt.known {
			t.Errorf("KnownRunner(%q) = %v, want %v", tt.name, got, tt.known)
		}
	}
}
