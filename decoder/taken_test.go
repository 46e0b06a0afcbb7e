package decoder_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/facebatch/facebatch/decoder"
)

// exifWithDate builds a TIFF whose IFD0 points (tag 0x8769, LONG) to an
// Exif sub-IFD holding DateTimeOriginal (0x9003, ASCII) = date.
func exifWithDate(order binary.ByteOrder, date string, typ uint16) []byte {
	app := order.(binary.AppendByteOrder)
	b := []byte("MM")
	if order == binary.ByteOrder(binary.LittleEndian) {
		b = []byte("II")
	}
	b = app.AppendUint16(b, 42)
	b = app.AppendUint32(b, 8)
	entry := func(b []byte, tag, typ uint16, count, value uint32) []byte {
		b = app.AppendUint16(b, 1)
		b = app.AppendUint16(b, tag)
		b = app.AppendUint16(b, typ)
		b = app.AppendUint32(b, count)
		b = app.AppendUint32(b, value)
		return app.AppendUint32(b, 0)
	}
	b = entry(b, 0x8769, 4, 1, 26)                     // IFD0 at 8, 18 bytes
	b = entry(b, 0x9003, typ, uint32(len(date)+1), 44) // sub-IFD at 26, 18 bytes
	return append(append(b, date...), 0)               // the string at 44
}

func TestTakenAtCamera(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(seed, "camera", "camera_0.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2017, 9, 21, 14, 38, 55, 0, time.UTC)
	if got, ok := decoder.TakenAt(data); !ok || !got.Equal(want) {
		t.Errorf("TakenAt(camera_0.jpg) = %v, %v; want %v (its EXIF DateTimeOriginal)", got, ok, want)
	}
}

func TestTakenAt(t *testing.T) {
	jpg := testJPEG(t)
	want := time.Date(2024, 7, 14, 18, 30, 5, 0, time.UTC)
	for _, bo := range byteOrders {
		t.Run(bo.name, func(t *testing.T) {
			got, ok := decoder.TakenAt(splice(jpg, exifAPP1(exifWithDate(bo.order, "2024:07:14 18:30:05", 2))))
			if !ok || !got.Equal(want) {
				t.Errorf("TakenAt = %v, %v; want %v, true", got, ok, want)
			}
		})
	}
	be := binary.BigEndian
	good := exifWithDate(be, "2024:07:14 18:30:05", 2)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"no Exif", jpg},
		{"not a JPEG", []byte("GIF89a")},
		{"no Exif sub-IFD", splice(jpg, exifAPP1(tiffIFD0(be, shortEntry(be, 0x0112, 6))))},
		{"blank date", splice(jpg, exifAPP1(exifWithDate(be, "    :  :     :  :  ", 2)))},
		{"not ASCII", splice(jpg, exifAPP1(exifWithDate(be, "2024:07:14 18:30:05", 3)))},
		{"short date", splice(jpg, exifAPP1(exifWithDate(be, "2024:07:14", 2)))},
		{"truncated", splice(jpg, exifAPP1(good[:len(good)-8]))},
		{"sub-IFD past the end", splice(jpg, exifAPP1(good[:30]))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := decoder.TakenAt(tc.data); ok {
				t.Errorf("TakenAt = %v, true; want false", got)
			}
		})
	}
}
