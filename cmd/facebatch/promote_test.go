package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

// TestClusterPromoteCLI runs the loop through the command line on the
// notebook's photos: identify against a gallery that lacks most people,
// promote the largest cluster of unknown faces, re-run the gallery, and
// identify names the faces of that cluster.
func TestClusterPromoteCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	photos := filepath.Join(dir, "photos")
	if err := os.MkdirAll(photos, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"younes.jpg", "dan.jpg"} {
		data, err := os.ReadFile(filepath.Join(seedGallery, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(photos, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	galleryTable := filepath.Join(dir, "gallery")
	job := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := facebatch(t, append(args, "--detector=none", "--profile=notebook")...)
		if code != exitAccepted {
			t.Fatalf("%s: exit %d\n%s\n%s", args[0], code, stdout, tail(stderr, 2000))
		}
		return stdout
	}
	job("gallery", "--input", photos, "--output", galleryTable)
	out := filepath.Join(dir, "results")
	stdout := job("identify", "--input", seedCamera, "--gallery", galleryTable, "--output", out)
	if !strings.Contains(stdout, "clusters (threshold 0.476), table "+out+"_clusters") {
		t.Errorf("identify output lacks the clusters line:\n%s", stdout)
	}
	clusters, err := tables.ReadAll[results.ClusterRow](ctx, out+"_clusters")
	if err != nil || len(clusters) == 0 {
		t.Fatalf("clusters table: %d rows, %v", len(clusters), err)
	}
	first := clusters[0]
	rows, err := tables.ReadAll[results.Row](ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	inFirst := map[string]bool{} // the photos of cluster 1's faces (detector none: one face each)
	for _, r := range rows {
		if r.ClusterID != nil && *r.ClusterID == 1 {
			inFirst[r.ImageURI] = true
		}
	}

	decisions := filepath.Join(dir, "decisions.csv")
	if err := os.WriteFile(decisions, []byte("cluster_id,identity\n1,stranger\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := facebatch(t, "gallery", "promote", "--results", out, "--decisions", decisions, "--gallery-input", photos)
	if code != exitAccepted || !strings.Contains(stdout, "cluster 1 -> stranger: ") {
		t.Fatalf("promote: exit %d\n%s\n%s", code, stdout, stderr)
	}
	written, _ := filepath.Glob(filepath.Join(photos, "stranger", "*.jpg"))
	if int64(len(written)) != first.Size {
		t.Errorf("promote wrote %d photos for a cluster of %d", len(written), first.Size)
	}

	job("gallery", "--input", photos, "--output", galleryTable, "--previous", galleryTable)
	out2 := filepath.Join(dir, "results2")
	job("identify", "--input", seedCamera, "--gallery", galleryTable, "--output", out2, "--cluster=false")
	if _, err := os.Stat(out2 + "_clusters"); !os.IsNotExist(err) {
		t.Errorf("--cluster=false wrote a clusters table (%v)", err)
	}
	if rows, err = tables.ReadAll[results.Row](ctx, out2); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ClusterID != nil {
			t.Errorf("%s: cluster id %d with --cluster=false", r.ImageURI, *r.ClusterID)
		}
		if inFirst[r.ImageURI] && (r.Identity == nil || *r.Identity != "stranger") {
			t.Errorf("%s was in cluster 1, promoted as stranger, and is now named %v", r.ImageURI, deref(r.Identity))
		}
	}
}

func TestPromoteErrors(t *testing.T) {
	dir := t.TempDir()
	decisions := filepath.Join(dir, "d.csv")
	if err := os.WriteFile(decisions, []byte("x,Ann\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no results", []string{"--gallery-input", dir, "--cluster", "1", "--identity", "Ann"}, "--results and --gallery-input are required"},
		{"no cluster", []string{"--results", dir, "--gallery-input", dir, "--identity", "Ann"}, "--cluster (a positive id) and --identity are required"},
		{"both", []string{"--results", dir, "--gallery-input", dir, "--cluster", "1", "--identity", "Ann", "--decisions", decisions}, "not both"},
		{"bad decisions", []string{"--results", dir, "--gallery-input", dir, "--decisions", decisions}, "not a positive integer"},
		{"bad identity", []string{"--results", dir, "--gallery-input", dir, "--cluster", "1", "--identity", ".Ann"}, "starts with a dot"},
		{"no results table", []string{"--results", filepath.Join(dir, "none"), "--gallery-input", dir, "--cluster", "1", "--identity", "Ann"}, "incomplete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := facebatch(t, append([]string{"gallery", "promote"}, tt.args...)...)
			if code == exitAccepted || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want an error mentioning %q", code, errOut, tt.stderr)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "unknown"
	}
	return *s
}
