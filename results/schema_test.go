package results_test

import (
	"bytes"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/facebatch/facebatch/results"
)

// A results table written before threshold_source and source_run_id
// existed still reads (rematch, report and promote take older tables):
// the new columns come back empty.
func TestReadsTablesWithoutNewColumns(t *testing.T) {
	type before struct {
		RunID     string  `parquet:"run_id"`
		ImageURI  string  `parquet:"image_uri"`
		Threshold float64 `parquet:"threshold"`
		ModelID   string  `parquet:"model_id"`
		Status    string  `parquet:"status"`
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, []before{{RunID: "r", ImageURI: "/p/a.jpg", Threshold: 1.06, ModelID: "m", Status: "ok"}}); err != nil {
		t.Fatal(err)
	}
	rows, err := parquet.Read[results.Row](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].ImageURI != "/p/a.jpg" || rows[0].Threshold != 1.06 || rows[0].ThresholdSource != "" || rows[0].SourceRunID != nil {
		t.Fatalf("read %+v", rows)
	}
}
