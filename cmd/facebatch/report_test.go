package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/facebatch/facebatch/tables"

	"github.com/facebatch/facebatch/internal/browser/browsertest"
)

// copyPhotos copies the first n photos of each identity folder of src into
// dst/<identity>/.
func copyPhotos(t *testing.T, src, dst string, n int, identities ...string) {
	t.Helper()
	for _, id := range identities {
		entries, err := os.ReadDir(filepath.Join(src, id))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, id), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries[:min(n, len(entries))] {
			data, err := os.ReadFile(filepath.Join(src, id, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, id, e.Name()), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// parquetCounts reads the report's numbers from the Parquet output with
// DuckDB, an engine independent of ours.
func parquetCounts(t *testing.T, resultsDir string) (stats map[string]string, perIdentity map[string]int, clusterSizes map[int64]int) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res := fmt.Sprintf("read_parquet('%s')", filepath.Join(resultsDir, "part-*.parquet"))
	clu := fmt.Sprintf("read_parquet('%s')", filepath.Join(resultsDir+"_clusters", "part-*.parquet"))
	stats = map[string]string{}
	one := func(key, query string) {
		var v int64
		if err := db.QueryRow(query).Scan(&v); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		stats[key] = fmt.Sprint(v)
	}
	one("images", "SELECT count(DISTINCT image_uri) FROM "+res)
	one("faces", "SELECT count(*) FROM "+res+" WHERE status = 'ok' AND face_index IS NOT NULL")
	one("matched", "SELECT count(*) FROM "+res+" WHERE accepted")
	one("unknown", "SELECT count(*) FROM "+res+" WHERE status = 'ok' AND face_index IS NOT NULL AND NOT accepted")
	one("identities", "SELECT count(DISTINCT identity) FROM "+res+" WHERE accepted")
	one("clusters", "SELECT count(*) FROM "+clu)
	scan := func(query string, f func(*sql.Rows) error) {
		rows, err := db.Query(query)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := f(rows); err != nil {
				t.Fatal(err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	scan("SELECT status, count(DISTINCT image_uri) FROM "+res+" GROUP BY status", func(r *sql.Rows) error {
		var st string
		var n int64
		err := r.Scan(&st, &n)
		stats["status_"+st] = fmt.Sprint(n)
		return err
	})
	perIdentity = map[string]int{}
	scan("SELECT identity, count(*) FROM "+res+" WHERE accepted GROUP BY identity", func(r *sql.Rows) error {
		var id string
		var n int
		err := r.Scan(&id, &n)
		perIdentity[id] = n
		return err
	})
	clusterSizes = map[int64]int{}
	scan("SELECT cluster_id, count(*) FROM "+res+" WHERE cluster_id IS NOT NULL GROUP BY cluster_id", func(r *sql.Rows) error {
		var id int64
		var n int
		err := r.Scan(&id, &n)
		clusterSizes[id] = n
		return err
	})
	return stats, perIdentity, clusterSizes
}

// TestReport runs the gallery and identify jobs on the 5-celebrity photos
// (madonna left out of the gallery, so her faces are unknown; one corrupt
// photo among the inputs), clusters the unknowns (identify's clustering step),
// renders `facebatch report` in headless Chromium and checks that every
// picture loaded and that the page's counts equal DuckDB's on the Parquet.
func TestReport(t *testing.T) {
	data := os.Getenv("FACEBATCH_DEMO_DATA")
	if data == "" {
		t.Fatal("FACEBATCH_DEMO_DATA is not set: run scripts/setup.sh and source .facebatch.env")
	}
	dir := t.TempDir()
	galIn, probes := filepath.Join(dir, "gallery-photos"), filepath.Join(dir, "photos")
	copyPhotos(t, filepath.Join(data, "train"), galIn, 4, "ben_afflek", "elton_john", "jerry_seinfeld", "mindy_kaling")
	copyPhotos(t, filepath.Join(data, "val"), probes, 5, "ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling")
	if err := os.WriteFile(filepath.Join(probes, "corrupt.jpg"), []byte("\xff\xd8\xff\xe0 not really a JPEG"), 0o644); err != nil {
		t.Fatal(err)
	}
	gal, res := filepath.Join(dir, "gallery"), filepath.Join(dir, "results")
	for _, args := range [][]string{
		{"gallery", "--profile", "standardized", "--input", galIn, "--output", gal},
		{"identify", "--profile", "standardized", "--input", probes, "--gallery", gal, "--output", res, "--with-embeddings"},
	} {
		if code, stdout, stderr := facebatch(t, args...); code != exitAccepted {
			t.Fatalf("%s: exit %d\n%s\n%s", args[0], code, stdout, tail(stderr, 3000))
		}
	}
	// identify clustered the unknown faces into <results>_clusters.
	if m, err := tables.ReadMarker(context.Background(), res+"_clusters"); err != nil || m.Rows == 0 {
		t.Fatalf("no clusters table, or an empty one, though madonna is not in the gallery: %+v, %v", m, err)
	}
	html := filepath.Join(dir, "report.html")
	code, stdout, stderr := facebatch(t, "report", "--results", res, "--gallery", gal, "--html", html)
	if code != exitAccepted {
		t.Fatalf("report: exit %d\n%s\n%s", code, stdout, tail(stderr, 3000))
	}
	want, perIdentity, clusterSizes := parquetCounts(t, res)
	t.Logf("Parquet: %v; faces per identity %v; cluster sizes %v", want, perIdentity, clusterSizes)
	if want["status_ok"] == "" || want["status_decode_error"] != "1" || want["unknown"] == "0" {
		t.Errorf("the run lacks what the test needs: %v", want)
	}
	p := browsertest.Render(t, html, true)
	for key, v := range want {
		if key == "clusters" {
			continue
		}
		if got := browsertest.Stat(t, p, key); got != v {
			t.Errorf("page shows %s = %s, Parquet (DuckDB) %s", key, got, v)
		}
	}
	statusStats, err := p.Count(context.Background(), "[data-stat^=status_]")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(want) - 6; statusStats != n {
		t.Errorf("page shows %d statuses, Parquet has %d", statusStats, n)
	}
	// One strip per identity, titled with its face count.
	titles, err := p.Texts(context.Background(), "[data-section=identities] .group h3")
	if err != nil {
		t.Fatal(err)
	}
	var wantTitles []string
	for id, n := range perIdentity {
		wantTitles = append(wantTitles, fmt.Sprintf("%s: %s", id, faceCount(n)))
	}
	sort.Strings(titles)
	sort.Strings(wantTitles)
	if strings.Join(titles, "|") != strings.Join(wantTitles, "|") {
		t.Errorf("identity strips %q, Parquet %q", titles, wantTitles)
	}
	// One group per cluster: its medoid and up to 6 other faces.
	ctitles, err := p.Texts(context.Background(), "[data-section=clusters] .group h3")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(len(ctitles)) != want["clusters"] || len(ctitles) != len(clusterSizes) {
		t.Errorf("%d clusters on the page, %s in the clusters table, %d cluster ids in the results", len(ctitles), want["clusters"], len(clusterSizes))
	}
	for id, n := range clusterSizes {
		wantTitle := fmt.Sprintf("cluster %d: %s", id, faceCount(n))
		found := false
		for _, title := range ctitles {
			found = found || title == wantTitle
		}
		if !found {
			t.Errorf("no %q among the clusters %q", wantTitle, ctitles)
		}
	}
	// Near the threshold: each face beside a gallery photo, except unknown
	// faces whose nearest identity... every face has one here.
	groups := browsertest.Count(t, p, "[data-section=near-threshold] .group")
	if pics := browsertest.Count(t, p, "[data-section=near-threshold] .group img"); groups == 0 || pics != 2*groups {
		t.Errorf("near the threshold: %d groups, %d pictures; want 2 per group", groups, pics)
	}
	if n := browsertest.Count(t, p, "svg[data-chart=histogram] line.marker"); n != 1 {
		t.Errorf("distance histogram has %d threshold markers, want 1", n)
	}

	// Without --gallery and without a clusters table, the page says so.
	html2 := filepath.Join(dir, "report-plain.html")
	code, stdout, stderr = facebatch(t, "report", "--results", res, "--clusters", filepath.Join(dir, "no-clusters"), "--html", html2)
	if code != exitAccepted {
		t.Fatalf("report: exit %d\n%s\n%s", code, stdout, tail(stderr, 3000))
	}
	p = browsertest.Render(t, html2, true)
	empty, err := p.Texts(context.Background(), "[data-section=clusters] p.empty")
	if err != nil {
		t.Fatal(err)
	}
	if len(empty) != 1 || empty[0] != "no clustering in this run" {
		t.Errorf("clusters section without a clusters table: %q", empty)
	}
	note, err := p.Texts(context.Background(), "[data-section=near-threshold] p.note")
	if err != nil {
		t.Fatal(err)
	}
	if len(note) != 1 || !strings.Contains(note[0], "pass --gallery") {
		t.Errorf("near-threshold note without --gallery: %q", note)
	}
	if pics := browsertest.Count(t, p, "[data-section=near-threshold] .group img"); pics != groups {
		t.Errorf("without --gallery: %d pictures for %d near-threshold faces", pics, groups)
	}
}

func faceCount(n int) string {
	if n == 1 {
		return "1 face"
	}
	return fmt.Sprintf("%d faces", n)
}

func TestReportErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no results", []string{"--html", "x.html"}, "--results is required"},
		{"no html", []string{"--results", dir}, "--html is required"},
		{"incomplete table", []string{"--results", dir, "--html", filepath.Join(dir, "r.html")}, "no complete results table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := facebatch(t, append([]string{"report"}, tt.args...)...)
			if code != exitError || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, errOut, tt.stderr)
			}
		})
	}
}
