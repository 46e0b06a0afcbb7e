//go:build linux && cgo

package encoder

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	tf "github.com/galeone/tensorflow/tensorflow/go"
)

// resident is the process's resident set size in bytes.
func resident(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := strconv.ParseInt(strings.Fields(string(data))[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestTrimHeap frees most of 40 MB of TensorFlow tensors, as a run's
// pipeline does all the time, and checks that trimHeap hands their pages
// back: glibc keeps them while a live block sits above them.
func TestTrimHeap(t *testing.T) {
	const n, floats = 400, 25_000 // 100 KB each: below glibc's mmap threshold
	tensors := make([]*tf.Tensor, n)
	for i := range tensors {
		v := make([]float32, floats)
		v[0] = float32(i)
		var err error
		if tensors[i], err = tf.NewTensor(v); err != nil {
			t.Fatal(err)
		}
	}
	last := tensors[n-1]
	clear(tensors)
	// The tensors' C memory goes when their finalizers run.
	for range 5 {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
	}
	before := resident(t)
	if !trimHeap() {
		t.Fatal("trimHeap released nothing")
	}
	after := resident(t)
	if freed := before - after; freed < 16<<20 {
		t.Errorf("resident %d MB before, %d MB after: want at least 16 of the 40 MB freed back", before>>20, after>>20)
	}
	runtime.KeepAlive(last)
}
