package main

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/facebatch/facebatch/tables"
)

// corpusSize is the number of photos the identify job reads in the kill
// tests: enough for 64 shards to take a while to stage and move.
const corpusSize = 150

// TestKillMidWrite kills `facebatch identify` with SIGKILL while it writes
// its table and checks that readers never see staged or partial data, that
// the table is never marked complete, and that a rerun writes every image
// exactly once.
func TestKillMidWrite(t *testing.T) {
	bin, _, _ := buildBinaries(t)
	dir := t.TempDir()
	corpus := makeCorpus(t, filepath.Join(dir, "corpus"), corpusSize)
	galleryDir := filepath.Join(dir, "gallery")
	if out := runJobToEnd(t, bin, "gallery", "--detector=none", "--profile=notebook", "--input", seedGallery, "--output", galleryDir); !strings.Contains(out, "12 photos of 12 identities") {
		t.Fatalf("gallery: %s", out)
	}
	identify := func(out string) []string {
		return []string{"identify", "--detector=none", "--profile=notebook", "--shards=64",
			"--input", corpus, "--gallery", galleryDir, "--output", out}
	}

	for _, tt := range []struct {
		name    string
		trigger func(out string, before map[string]uint64) (string, bool)
	}{
		{"fresh output, killed while staging", staging},
		{"fresh output, killed while moving parts into place", movingParts},
		{"fresh output, killed with an atomic write's temporary file open", tempFile},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "results")
			what := killMidWrite(t, bin, identify(out), out, true, tt.trigger)
			t.Logf("killed: %s", what)
			checkKilled(t, out)
			runJobToEnd(t, bin, identify(out)...)
			checkComplete(t, out, corpus)
		})
	}

	// A kill between an atomic write's create and rename leaves its hidden
	// temporary file; in the table folder that is the marker's, a window of
	// microseconds, so the leftovers are planted rather than waited for.
	t.Run("leftovers of a kill while writing the marker", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "results")
		for _, name := range []string{"._SUCCESS.123456.tmp", ".part-00003-of-00064.parquet.98765.tmp"} {
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(out, name), []byte("half a write"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		runJobToEnd(t, bin, identify(out)...)
		checkComplete(t, out, corpus)
	})

	t.Run("rerun over a complete output", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "results")
		runJobToEnd(t, bin, identify(out)...)
		first := checkComplete(t, out, corpus)
		what := killMidWrite(t, bin, identify(out), out, false, movingParts)
		t.Logf("killed: %s", what)
		// The second run removed the first run's marker when it started:
		// the folder now mixes old and new parts and says it is incomplete.
		checkKilled(t, out)
		db := duck(t)
		var rows, images, runs int
		if err := db.QueryRow(fmt.Sprintf(`SELECT count(*), count(DISTINCT image_uri), count(DISTINCT run_id) FROM read_parquet('%s')`,
			filepath.Join(out, "*.parquet"))).Scan(&rows, &images, &runs); err != nil {
			t.Fatal(err)
		}
		t.Logf("after the kill: %d rows, %d images from %d runs", rows, images, runs)
		if rows != corpusSize || images != corpusSize {
			t.Errorf("after the kill the parts hold %d rows for %d images, want %d and %d (each part old or new, whole)", rows, images, corpusSize, corpusSize)
		}
		runJobToEnd(t, bin, identify(out)...)
		if again := checkComplete(t, out, corpus); again.RunID == first.RunID {
			t.Errorf("the rerun kept run id %s", again.RunID)
		}
	})
}

// makeCorpus copies the 18 seed photos, under varied names and folders,
// into n photos of one face each.
func makeCorpus(t *testing.T, dir string, n int) string {
	t.Helper()
	var seeds []string
	for _, sub := range []string{seedGallery, seedCamera} {
		entries, err := os.ReadDir(sub)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			seeds = append(seeds, filepath.Join(sub, e.Name()))
		}
	}
	if len(seeds) != 18 {
		t.Fatalf("%d seed photos, want 18", len(seeds))
	}
	for i := range n {
		src := seeds[i%len(seeds)]
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, fmt.Sprintf("day-%d", i%5), fmt.Sprintf("shot %03d-%s", i, filepath.Base(src)))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runJobToEnd runs facebatch and fails the test unless it succeeds.
func runJobToEnd(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = os.Environ()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("facebatch %s: %v\nstdout:\n%s\nstderr (tail):\n%s", strings.Join(args, " "), err, out, tail(stderr.String(), 3000))
	}
	return string(out)
}

// staging fires once any file exists under out/_temporary.
func staging(out string, _ map[string]uint64) (string, bool) {
	found := ""
	filepath.WalkDir(filepath.Join(out, tables.TempDir), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	return "staged " + found, found != ""
}

// tempFile fires once an atomic write's hidden temporary file exists
// anywhere under out.
func tempFile(out string, _ map[string]uint64) (string, bool) {
	found := ""
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".") && strings.HasSuffix(d.Name(), ".tmp") {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	return "temporary file " + found, found != ""
}

// movingParts fires once a part file appears in out, or replaces the one
// that was there when the job started, while _SUCCESS is absent.
func movingParts(out string, before map[string]uint64) (string, bool) {
	if _, err := os.Stat(filepath.Join(out, tables.MarkerFile)); err == nil {
		return "", false
	}
	now := partInodes(out)
	for name, ino := range now {
		if before[name] != ino {
			return fmt.Sprintf("%s moved into place (%d of %d parts new or replaced)", name, changed(before, now), len(now)), true
		}
	}
	return "", false
}

func changed(before, now map[string]uint64) int {
	n := 0
	for name, ino := range now {
		if before[name] != ino {
			n++
		}
	}
	return n
}

// partInodes maps each part file in out to its inode: a rename into place
// gives the name a new inode.
func partInodes(out string) map[string]uint64 {
	entries, _ := os.ReadDir(out)
	m := map[string]uint64{}
	for _, e := range entries {
		if !tables.IsPart(e.Name()) {
			continue
		}
		if info, err := e.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				m[e.Name()] = st.Ino
			}
		}
	}
	return m
}

// killMidWrite starts the job and SIGKILLs it as soon as trigger fires,
// polling every millisecond. If the job completes first, it tries again
// (from an empty output if fresh), a few times, then fails.
func killMidWrite(t *testing.T, bin string, args []string, out string, fresh bool,
	trigger func(out string, before map[string]uint64) (string, bool)) string {
	t.Helper()
	const tries = 5
	for try := 1; try <= tries; try++ {
		if fresh {
			if err := os.RemoveAll(out); err != nil {
				t.Fatal(err)
			}
		}
		before := partInodes(out)
		logFile, err := os.Create(filepath.Join(t.TempDir(), "identify.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = os.Environ()
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		deadline := time.After(5 * time.Minute)
		what, caught := "", false
	poll:
		for {
			select {
			case err := <-done:
				logFile.Close()
				if err != nil {
					log, _ := os.ReadFile(logFile.Name())
					t.Fatalf("facebatch %s failed before the kill: %v\n%s", strings.Join(args, " "), err, tail(string(log), 3000))
				}
				break poll
			case <-deadline:
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
				t.Fatal("the job neither finished nor reached its output in 5 minutes")
			default:
			}
			if what, caught = trigger(out, before); caught {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				err := <-done
				logFile.Close()
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					// It exited on its own between the poll and the kill.
					t.Logf("try %d: the job ended (%v) as it was killed", try, err)
					caught = false
				}
				break poll
			}
			time.Sleep(time.Millisecond)
		}
		if caught {
			if _, err := os.Stat(filepath.Join(out, tables.MarkerFile)); err == nil {
				// Killed after the marker was written: too late.
				t.Logf("try %d: killed after the job completed (%s)", try, what)
				continue
			}
			return fmt.Sprintf("try %d: %s", try, what)
		}
		t.Logf("try %d: the job completed before it was caught writing", try)
	}
	t.Fatalf("the job was never caught mid-write in %d tries: each finished before the poll saw it writing", tries)
	return ""
}

func duck(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// partFiles reads glob with DuckDB and returns the rows per file; no file
// matching the glob is no rows, not an error.
func partFiles(t *testing.T, db *sql.DB, glob string) (rows map[string]int, total, images int) {
	t.Helper()
	rows = map[string]int{}
	q := fmt.Sprintf(`SELECT filename, count(*) FROM read_parquet('%s', filename = true) GROUP BY filename`, glob)
	res, err := db.Query(q)
	if err != nil {
		if strings.Contains(err.Error(), "No files found") {
			return rows, 0, 0
		}
		t.Fatalf("DuckDB over %s: %v", glob, err)
	}
	defer res.Close()
	for res.Next() {
		var name string
		var n int
		if err := res.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		rows[name] = n
		total += n
	}
	if err := res.Err(); err != nil {
		t.Fatalf("DuckDB over %s: %v", glob, err)
	}
	if total > 0 {
		if err := db.QueryRow(fmt.Sprintf(`SELECT count(DISTINCT image_uri) FROM read_parquet('%s')`, glob)).Scan(&images); err != nil {
			t.Fatal(err)
		}
	}
	return rows, total, images
}

// checkKilled checks what a reader sees in a table whose writer was killed:
// no marker, and only whole final parts, each image at most once, under
// either glob.
func checkKilled(t *testing.T, out string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(out, tables.MarkerFile)); err == nil {
		t.Errorf("%s is marked complete after the kill", out)
	}
	db := duck(t)
	flat, total, images := partFiles(t, db, filepath.Join(out, "*.parquet"))
	deep, deepTotal, _ := partFiles(t, db, filepath.Join(out, "**", "*.parquet"))
	for name := range deep {
		if filepath.Dir(name) != out || !tables.IsPart(filepath.Base(name)) {
			t.Errorf("a reader of %s/**/*.parquet sees %s", out, name)
		}
	}
	if len(flat) != len(deep) || total != deepTotal {
		t.Errorf("*.parquet sees %d files (%d rows), **/*.parquet %d (%d rows)", len(flat), total, len(deep), deepTotal)
	}
	if images != total {
		t.Errorf("the visible parts hold %d rows for %d images: an image twice", total, images)
	}
	// What is left in staging is marked as such.
	staged := 0
	filepath.WalkDir(filepath.Join(out, tables.TempDir), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			staged++
			if !strings.HasSuffix(p, tables.StagingSuffix) && !strings.HasPrefix(d.Name(), ".") {
				t.Errorf("staged file %s is neither .inprogress nor hidden", p)
			}
		}
		return nil
	})
	names, _ := filepath.Glob(filepath.Join(out, "*.parquet"))
	for _, n := range names {
		if !tables.IsPart(filepath.Base(n)) {
			t.Errorf("%s is not a part", n)
		}
	}
	t.Logf("after the kill: %d parts visible (%d with rows) holding %d rows; %d files in staging", len(names), len(flat), total, staged)
}

// checkComplete checks a completed identify table: marker, every corpus
// image exactly once, one run, no staging left.
func checkComplete(t *testing.T, out, corpus string) *tables.Marker {
	t.Helper()
	// Nothing a killed run left survives the rerun: no staging, no hidden
	// temporary file of an atomic write.
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != out && (strings.HasSuffix(p, ".tmp") || strings.HasSuffix(p, tables.StagingSuffix) || d.Name() == tables.TempDir) {
			t.Errorf("%s survived the rerun", p)
		}
		return nil
	})
	m, err := tables.ReadMarker(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Images != corpusSize || m.Rows != corpusSize || m.Faces != corpusSize || len(m.Files) != 64 {
		t.Errorf("marker: %d images, %d rows, %d faces, %d files; want %d, %d, %d, 64", m.Images, m.Rows, m.Faces, len(m.Files), corpusSize, corpusSize, corpusSize)
	}
	db := duck(t)
	var rows, images, runs int
	var runID string
	if err := db.QueryRow(fmt.Sprintf(`SELECT count(*), count(DISTINCT image_uri), count(DISTINCT run_id), min(run_id) FROM read_parquet('%s') WHERE status = 'ok'`,
		filepath.Join(out, "*.parquet"))).Scan(&rows, &images, &runs, &runID); err != nil {
		t.Fatal(err)
	}
	if rows != corpusSize || images != corpusSize || runs != 1 || runID != m.RunID {
		t.Errorf("table: %d ok rows, %d images, %d runs (%s); want %d, %d, 1 (%s)", rows, images, runs, runID, corpusSize, corpusSize, m.RunID)
	}
	var got []string
	res, err := db.Query(fmt.Sprintf(`SELECT image_uri FROM read_parquet('%s') ORDER BY image_uri`, filepath.Join(out, "**", "*.parquet")))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	for res.Next() {
		var u string
		if err := res.Scan(&u); err != nil {
			t.Fatal(err)
		}
		got = append(got, u)
	}
	var want []string
	filepath.WalkDir(corpus, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			want = append(want, p)
		}
		return nil
	})
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the table's images (%d) are not the corpus (%d), once each", len(got), len(want))
	}
	if _, err := os.Stat(filepath.Join(out, tables.TempDir)); err == nil {
		t.Errorf("%s left behind", filepath.Join(out, tables.TempDir))
	}
	if parts := partInodes(out); len(parts) != 64 {
		t.Errorf("%d parts, want 64", len(parts))
	}
	return m
}
