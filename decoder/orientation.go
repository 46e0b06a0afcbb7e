package decoder

import (
	"bytes"
	"encoding/binary"
	"image"
)

// EXIF orientation values (TIFF tag 0x0112): how the stored pixels must be
// transformed to display upright.
const (
	OrientNormal     = 1 // unchanged
	OrientMirrorH    = 2 // mirror left-right
	OrientRotate180  = 3
	OrientMirrorV    = 4 // mirror top-bottom
	OrientTranspose  = 5 // mirror across the main diagonal
	OrientRotate90   = 6 // rotate 90° clockwise
	OrientTransverse = 7 // mirror across the anti-diagonal
	OrientRotate270  = 8 // rotate 270° clockwise (90° anticlockwise)
)

const (
	tagOrientation = 0x0112
	typeShort      = 3
)

var exifHeader = []byte("Exif\x00\x00")

// Orientation returns the EXIF orientation (1-8) stored in a JPEG's APP1 Exif
// segment, or 1 when absent, invalid or truncated (never an error, never a
// panic; every offset is bounds-checked: hostile input).
//
// It walks the JPEG's marker segments up to the first Exif APP1 (stopping at
// SOS or EOI) and reads tag 0x0112, type SHORT, from IFD0 in either byte
// order. Only the first Exif segment counts.
func Orientation(data []byte) int {
	return tiffOrientation(exifTIFF(data))
}

// exifTIFF returns the TIFF structure of a JPEG's first Exif APP1 segment,
// or nil. It walks the marker segments up to SOS or EOI, bounds-checking
// every length (hostile input).
func exifTIFF(data []byte) []byte {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil
	}
	for i := 2; ; {
		// A marker is 0xFF, optional 0xFF fill bytes, then a code.
		if i >= len(data) || data[i] != 0xFF {
			return nil
		}
		for i < len(data) && data[i] == 0xFF {
			i++
		}
		if i >= len(data) {
			return nil
		}
		marker := data[i]
		i++
		switch {
		case marker == 0xD9 || marker == 0xDA: // EOI, SOS: no metadata past here
			return nil
		case marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7): // no length
			continue
		case marker == 0x00: // a stuffed byte is not a marker
			return nil
		}
		if len(data)-i < 2 {
			return nil
		}
		n := int(binary.BigEndian.Uint16(data[i:])) // counts its own two bytes
		if n < 2 || len(data)-i < n {
			return nil
		}
		payload := data[i+2 : i+n]
		i += n
		if marker == 0xE1 && bytes.HasPrefix(payload, exifHeader) {
			return payload[len(exifHeader):]
		}
	}
}

// tiffOrientation reads the orientation from a TIFF structure (the Exif
// payload), or returns 1.
func tiffOrientation(tiff []byte) int {
	order, ifd, ok := tiffHeader(tiff)
	if !ok {
		return OrientNormal
	}
	e, ok := ifdEntry(tiff, order, ifd, tagOrientation)
	if !ok || order.Uint16(e[2:]) != typeShort || order.Uint32(e[4:]) != 1 {
		return OrientNormal
	}
	// A SHORT value sits in the first two bytes of the value field.
	if v := int(order.Uint16(e[8:])); v >= OrientNormal && v <= OrientRotate270 {
		return v
	}
	return OrientNormal
}

// Orient returns img transformed so it displays upright for the given EXIF
// orientation (1 = unchanged, 2 = mirror horizontal, 3 = rotate 180, 4 =
// mirror vertical, 5 = transpose, 6 = rotate 90 CW, 7 = transverse, 8 =
// rotate 90 CCW (i.e. 270 CW)). Unknown values (and 1) return img itself;
// otherwise the result is a new image whose bounds start at (0,0), with
// width and height swapped for 5-8.
func Orient(img *image.RGBA, orientation int) *image.RGBA {
	if img == nil || orientation <= OrientNormal || orientation > OrientRotate270 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if orientation >= OrientTranspose {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	// dstAt maps a source pixel (x, y), relative to b.Min, to its place.
	var dstAt func(x, y int) (int, int)
	switch orientation {
	case OrientMirrorH:
		dstAt = func(x, y int) (int, int) { return w - 1 - x, y }
	case OrientRotate180:
		dstAt = func(x, y int) (int, int) { return w - 1 - x, h - 1 - y }
	case OrientMirrorV:
		dstAt = func(x, y int) (int, int) { return x, h - 1 - y }
	case OrientTranspose:
		dstAt = func(x, y int) (int, int) { return y, x }
	case OrientRotate90:
		dstAt = func(x, y int) (int, int) { return h - 1 - y, x }
	case OrientTransverse:
		dstAt = func(x, y int) (int, int) { return h - 1 - y, w - 1 - x }
	case OrientRotate270:
		dstAt = func(x, y int) (int, int) { return y, w - 1 - x }
	}
	for y := 0; y < h; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
		for x := 0; x < w; x++ {
			dx, dy := dstAt(x, y)
			j := dy*dst.Stride + 4*dx
			copy(dst.Pix[j:j+4], row[4*x:4*x+4])
		}
	}
	return dst
}
