package gallery_test

import (
	"bytes"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/facebatch/facebatch/gallery"
)

// A gallery table written before ignored_faces existed still reads, the
// new column null: --previous and identify take older tables.
func TestReadsTablesWithoutIgnoredFaces(t *testing.T) {
	type before struct {
		Identity string `parquet:"identity"`
		ImageURI string `parquet:"image_uri"`
		ModelID  string `parquet:"model_id"`
		Status   string `parquet:"status"`
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, []before{{Identity: "alice", ImageURI: "/g/alice.jpg", ModelID: "m", Status: "ok"}}); err != nil {
		t.Fatal(err)
	}
	rows, err := parquet.Read[gallery.Row](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Identity != "alice" || rows[0].IgnoredFaces != nil {
		t.Fatalf("read %+v", rows)
	}
}
