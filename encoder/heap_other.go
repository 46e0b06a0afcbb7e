//go:build !(linux && cgo)

package encoder

// trimHeap does nothing where glibc's malloc_trim is not known to exist.
func trimHeap() bool { return false }
