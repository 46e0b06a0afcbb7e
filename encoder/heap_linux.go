//go:build linux && cgo

package encoder

/*
#include <malloc.h>
*/
import "C"

// trimHeap hands the C heap's free pages back to the system (glibc's
// malloc_trim) and reports whether there were any.
func trimHeap() bool { return C.malloc_trim(0) == 1 }
