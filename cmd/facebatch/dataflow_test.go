package main

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// testdata is the top-level folder of shared fixtures (testdata/README.md).
const testdata = "../../testdata"

// The three jobs translate for Dataflow: the Go SDK's Dataflow runner
// builds the job graph and the Dataflow job request (--dry_run) without
// submitting it, so every DoFn serialises, every type is registered and
// the side inputs are ones Dataflow takes. Outputs are on a fake GCS
// server, as they would be on Dataflow; nothing is written.
func TestDataflowDryRun(t *testing.T) {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0, PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	t.Setenv("STORAGE_EMULATOR_HOST", srv.URL())
	srv.CreateBucket("b")
	// Beam's flags are package variables: put back what later tests see.
	t.Cleanup(func() { flag.Set("dry_run", "false") })
	dataflow := []string{"--runner=dataflow", "--dry_run", "--project=p", "--region=us-central1",
		"--staging_location=gs://b/staging", "--temp_location=gs://b/tmp"}
	gallery := filepath.Join(testdata, "tables", "gallery")
	for _, job := range [][]string{
		{"gallery", "--input", filepath.Join(testdata, "gallery"), "--output", "gs://b/gallery"},
		{"identify", "--input", filepath.Join(testdata, "photos"), "--gallery", gallery, "--output", "gs://b/results"},
		{"rematch", "--results", filepath.Join(testdata, "tables", "results"), "--gallery", gallery, "--output", "gs://b/rematched"},
	} {
		t.Run(job[0], func(t *testing.T) {
			code, stdout, stderr := facebatch(t, append(job, dataflow...)...)
			if code != exitAccepted || !strings.Contains(stdout, job[0]+": dry run: the job translated for Dataflow") {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if objs, _, err := srv.ListObjects("b", "", "", false); err != nil || len(objs) > 0 {
				t.Errorf("a dry run wrote %d objects (%v)", len(objs), err)
			}
		})
	}
}
