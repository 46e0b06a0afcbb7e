package decoder

import (
	"encoding/binary"
	"time"
)

const (
	tagExifIFD          = 0x8769 // IFD0's pointer to the Exif sub-IFD
	tagDateTimeOriginal = 0x9003 // in the Exif sub-IFD: when the photo was taken
	typeASCII           = 2
	typeLong            = 4
)

// TakenAt returns when a JPEG says it was taken: EXIF DateTimeOriginal, as
// the camera's clock showed it (EXIF stores no zone; the time is returned
// as if it were UTC). ok is false when the tag is absent, malformed or
// truncated; like Orientation it never fails and never panics.
func TakenAt(data []byte) (t time.Time, ok bool) {
	tiff := exifTIFF(data)
	order, ifd0, ok := tiffHeader(tiff)
	if !ok {
		return time.Time{}, false
	}
	ptr, ok := ifdEntry(tiff, order, ifd0, tagExifIFD)
	if !ok || order.Uint16(ptr[2:]) != typeLong || order.Uint32(ptr[4:]) != 1 {
		return time.Time{}, false
	}
	e, ok := ifdEntry(tiff, order, uint64(order.Uint32(ptr[8:])), tagDateTimeOriginal)
	if !ok || order.Uint16(e[2:]) != typeASCII {
		return time.Time{}, false
	}
	// "YYYY:MM:DD HH:MM:SS" plus NUL: 20 bytes, stored at an offset.
	const layout = "2006:01:02 15:04:05"
	n, off := uint64(order.Uint32(e[4:])), uint64(order.Uint32(e[8:]))
	if n < uint64(len(layout)) || off > uint64(len(tiff)) || uint64(len(tiff))-off < uint64(len(layout)) {
		return time.Time{}, false
	}
	t, err := time.Parse(layout, string(tiff[off:off+uint64(len(layout))]))
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// tiffHeader returns a TIFF structure's byte order and first IFD offset.
func tiffHeader(tiff []byte) (binary.ByteOrder, uint64, bool) {
	if len(tiff) < 8 {
		return nil, 0, false
	}
	var order binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return nil, 0, false
	}
	if order.Uint16(tiff[2:]) != 42 {
		return nil, 0, false
	}
	return order, uint64(order.Uint32(tiff[4:])), true
}

// ifdEntry returns the 12-byte entry for tag in the IFD at offset ifd.
// Offsets are compared as uint64: they are 32-bit and int may be too.
func ifdEntry(tiff []byte, order binary.ByteOrder, ifd, tag uint64) ([]byte, bool) {
	size := uint64(len(tiff))
	if ifd < 8 || size < 2 || ifd > size-2 {
		return nil, false
	}
	count := uint64(order.Uint16(tiff[ifd:]))
	entries := ifd + 2
	if count*12 > size-entries {
		return nil, false // truncated IFD
	}
	for k := uint64(0); k < count; k++ {
		e := tiff[entries+12*k : entries+12*k+12]
		if uint64(order.Uint16(e[0:])) == tag {
			return e, true
		}
	}
	return nil, false
}
