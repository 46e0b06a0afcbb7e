package encoder_test

import (
	"image"
	"os"
	"strings"
	"testing"

	pb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/facebatch/facebatch/encoder"
)

func TestSessionConfigProto(t *testing.T) {
	tests := []struct {
		name string
		in   encoder.Session
		want *pb.ConfigProto
	}{
		{"default", encoder.Session{}, &pb.ConfigProto{AllowSoftPlacement: true}},
		{"threads", encoder.Session{IntraOpThreads: 2, InterOpThreads: 1},
			&pb.ConfigProto{IntraOpParallelismThreads: 2, InterOpParallelismThreads: 1, AllowSoftPlacement: true}},
		{"gpu", encoder.Session{GPUDevices: "1", GPUMemoryGrowth: true},
			&pb.ConfigProto{AllowSoftPlacement: true, GpuOptions: &pb.GPUOptions{VisibleDeviceList: "1", AllowGrowth: true}}},
		{"xla and bf16", encoder.Session{XLA: true, BFloat16: true},
			&pb.ConfigProto{AllowSoftPlacement: true, GraphOptions: &pb.GraphOptions{
				OptimizerOptions: &pb.OptimizerOptions{GlobalJitLevel: pb.OptimizerOptions_ON_1},
				RewriteOptions:   &pb.RewriterConfig{AutoMixedPrecisionOnednnBfloat16: pb.RewriterConfig_ON},
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := tt.in.ConfigProto()
			if err != nil {
				t.Fatal(err)
			}
			got := &pb.ConfigProto{}
			if err := proto.Unmarshal(data, got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tt.want) {
				t.Errorf("ConfigProto(%+v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
	if _, err := (encoder.Session{IntraOpThreads: -1}).ConfigProto(); err == nil {
		t.Error("negative thread count accepted")
	}
}

// TestLoadWithSession loads the model with explicit threads and checks it
// still encodes like the default session (TestEncodingsMatchReference
// checks the values themselves).
func TestLoadWithSession(t *testing.T) {
	want := load(t)
	if err := encoder.PinProcess(encoder.Session{IntraOpThreads: 2, InterOpThreads: 2}); err != nil {
		t.Fatal(err)
	}
	e, err := encoder.Load(want.Manifest().Dir, encoder.Options{Profile: "notebook", Session: encoder.Session{IntraOpThreads: 1, InterOpThreads: 2}})
	if err != nil {
		t.Fatal(err)
	}
	images := seedImages(t)
	a, err := e.Encode(t.Context(), []image.Image{images[0].img, images[1].img})
	if err != nil {
		t.Fatal(err)
	}
	b, err := want.Encode(t.Context(), []image.Image{images[0].img, images[1].img})
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if d := maxAbs(a[i], toF64(b[i])); d > 1e-5 {
			t.Errorf("image %d: encodings differ by %.2g between sessions", i, d)
		}
	}
}

// BFloat16Hardware must agree with the kernel's view of the CPU, since it
// decides the jobs' default precision.
func TestBFloat16Hardware(t *testing.T) {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("no /proc/cpuinfo: %v", err) // not Linux; nothing to check against
	}
	flags := map[string]bool{}
	for _, line := range strings.Split(string(info), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			for _, f := range strings.Fields(v) {
				flags[f] = true
			}
			break
		}
	}
	want := ""
	switch {
	case flags["amx_bf16"]:
		want = "AMX-BF16"
	case flags["avx512_bf16"]:
		want = "AVX512_BF16"
	}
	if got := encoder.BFloat16Hardware(); got != want {
		t.Errorf("BFloat16Hardware() = %q, /proc/cpuinfo says %q", got, want)
	}
	for _, tt := range []struct {
		s    encoder.Session
		want string
	}{{encoder.Session{}, "fp32"}, {encoder.Session{BFloat16: true}, "bf16"}} {
		if got := tt.s.Precision(); got != tt.want {
			t.Errorf("%+v.Precision() = %q, want %q", tt.s, got, tt.want)
		}
	}
}
