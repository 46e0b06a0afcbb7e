package cluster

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkDotTile(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 512*128)
	for i := range x {
		x[i] = r.Float32()
	}
	out := make([]float32, blockRows*blockRows)
	b.ResetTimer()
	for b.Loop() {
		dotTile(x, 128, 0, 256, 256, 512, out)
	}
	b.ReportMetric(float64(256*256*128)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gmadd/s")
}
