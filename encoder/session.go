package encoder

import (
	"fmt"
	"sync"
	"time"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	pb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"golang.org/x/sys/cpu"
	"google.golang.org/protobuf/proto"
)

// Session tunes the TensorFlow session the model runs in. The zero value
// lets TensorFlow choose: one intra-op thread per core, all GPUs, fp32.
type Session struct {
	// IntraOpThreads bounds the threads one op (a convolution) is split
	// over; InterOpThreads bounds the ops run at once. 0: TensorFlow's
	// default, the number of cores.
	IntraOpThreads int `json:",omitempty"`
	InterOpThreads int `json:",omitempty"`
	// GPUDevices lists the visible GPUs, e.g. "0" or "0,1"; "" shows all.
	GPUDevices string `json:",omitempty"`
	// GPUMemoryGrowth makes TensorFlow take GPU memory as it needs it
	// instead of nearly all of it at start, so other processes (a second
	// worker, the detector) can share the GPU.
	GPUMemoryGrowth bool `json:",omitempty"`
	// XLA compiles clusters of the graph with XLA (global JIT, level 1).
	XLA bool `json:",omitempty"`
	// BFloat16 lets oneDNN run convolutions and matrix products in
	// bfloat16 on CPUs that have it (grappler's auto mixed precision).
	BFloat16 bool `json:",omitempty"`
}

// BFloat16Hardware names the CPU feature that computes bfloat16 in
// hardware, AMX-BF16 or AVX512_BF16, or is "" when the CPU has neither.
// Where it has one, the jobs encode in bfloat16 unless told otherwise:
// about 1.5x (AVX512_BF16) or more (AMX) the fp32 rate, at the same lfw-dev
// accuracy within 0.1 point (docs/benchmarks.md). Elsewhere oneDNN would
// emulate bfloat16, slower than fp32.
func BFloat16Hardware() string {
	switch {
	case cpu.X86.HasAMXBF16:
		return "AMX-BF16"
	case cpu.X86.HasAVX512BF16:
		return "AVX512_BF16"
	}
	return ""
}

// DefaultBFloat16 is the jobs' default for Session.BFloat16: on where the
// CPU computes bfloat16 in hardware (BFloat16Hardware).
func DefaultBFloat16() bool { return BFloat16Hardware() != "" }

// Precision is what s asks the model to compute in: "bf16" or "fp32".
// The bfloat16 rewrite is oneDNN's, meant for the CPU; GPU workers should
// ask for fp32 (not measured on a GPU here).
func (s Session) Precision() string {
	if s.BFloat16 {
		return "bf16"
	}
	return "fp32"
}

// ConfigProto is the session's serialized tensorflow.ConfigProto.
func (s Session) ConfigProto() ([]byte, error) {
	if s.IntraOpThreads < 0 || s.InterOpThreads < 0 {
		return nil, fmt.Errorf("encoder: negative thread count in %+v", s)
	}
	c := &pb.ConfigProto{
		IntraOpParallelismThreads: int32(s.IntraOpThreads),
		InterOpParallelismThreads: int32(s.InterOpThreads),
		// Ops without a GPU kernel run on the CPU instead of failing the load.
		AllowSoftPlacement: true,
	}
	if s.GPUDevices != "" || s.GPUMemoryGrowth {
		c.GpuOptions = &pb.GPUOptions{VisibleDeviceList: s.GPUDevices, AllowGrowth: s.GPUMemoryGrowth}
	}
	if s.XLA || s.BFloat16 {
		c.GraphOptions = &pb.GraphOptions{}
	}
	if s.XLA {
		c.GraphOptions.OptimizerOptions = &pb.OptimizerOptions{GlobalJitLevel: pb.OptimizerOptions_ON_1}
	}
	if s.BFloat16 {
		c.GraphOptions.RewriteOptions = &pb.RewriterConfig{AutoMixedPrecisionOnednnBfloat16: pb.RewriterConfig_ON}
	}
	data, err := proto.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encoder: session options: %w", err)
	}
	return data, nil
}

var pinned struct {
	once sync.Once
	err  error
}

// PinProcess fixes TensorFlow's process-wide settings: the sizes of the
// intra-op and inter-op thread pools and the GPU options (visible devices,
// memory growth). TensorFlow sets these once per process, from the first
// session's options, and every later session shares them: a later
// session's thread counts or GPU options are ignored. So a process whose
// first session is, say, the JPEG decoder's would run the encoder with the
// decoder's default threads. PinProcess opens and closes an empty session
// with s's options; call it before any other session is made. Only the
// first call in a process has an effect. That call also starts trimming
// the C heap (see heapTrimEvery).
func PinProcess(s Session) error {
	pinned.once.Do(func() {
		config, err := s.ConfigProto()
		if err != nil {
			pinned.err = err
			return
		}
		session, err := tf.NewSession(tf.NewGraph(), &tf.SessionOptions{Config: config})
		if err != nil {
			pinned.err = fmt.Errorf("encoder: setting TensorFlow's process options: %w", err)
			return
		}
		pinned.err = session.Close()
		go func() {
			for range time.Tick(heapTrimEvery) {
				trimHeap()
			}
		}()
	})
	return pinned.err
}

// heapTrimEvery is how often a process running TensorFlow hands the C
// heap's free pages back to the system. glibc's malloc gives each thread
// that allocates an arena of its own, and keeps what is freed there for
// reuse; with TensorFlow's thread pools and the detector's and encoder's
// tensors of every shape, the free pages add up and wander, so the
// resident size crept up with the length of a run. Measured on the bench
// photos (identify, 1,000 then 5,000): peak RSS 1,257 and 1,293 MiB
// without trimming, 1,135 and 1,142 MiB with it, at the same images/s.
const heapTrimEvery = 5 * time.Second
