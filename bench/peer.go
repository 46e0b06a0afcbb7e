package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/facebatch/facebatch/evaluation"
	"github.com/facebatch/facebatch/matcher"
)

// The peer is face_recognition 1.3.0 (dlib's HOG detector and ResNet
// encoder), the tool users who batch-identify faces reach for instead; it
// runs from bench/peer-venv.sh's venv.

// peerTolerance is face_recognition's default distance threshold, the
// accuracy at a threshold chosen in advance.
const peerTolerance = 0.6

// peerCLIRun is one run of the face_recognition command.
type peerCLIRun struct {
	Photos  int
	Seconds float64 // wall clock, the whole command
	Err     string
}

// peerCLI runs `face_recognition --cpus <cores> KNOWN UNKNOWN` with the
// bench gallery's photos as KNOWN (the CLI names a person by file name:
// <identity>_<k>) and the first n bench photos as UNKNOWN, both as links,
// and checks that it printed a line for every photo (it prints
// "no_persons_found" for a photo without a face).
func (b *bench) peerCLI(n int) peerCLIRun {
	fail := func(err error) peerCLIRun { return peerCLIRun{Err: err.Error()} }
	root := filepath.Join(b.work, "peer")
	known, unknown := filepath.Join(root, "known"), filepath.Join(root, fmt.Sprintf("unknown-%d", n))
	for _, d := range []string{known, unknown} {
		if err := os.RemoveAll(d); err != nil {
			return fail(err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
	}
	train := filepath.Join(b.sourceDir, "train")
	people, err := os.ReadDir(train)
	if err != nil {
		return fail(err)
	}
	for _, person := range people {
		photos, err := filepath.Glob(filepath.Join(train, person.Name(), "*"))
		if err != nil {
			return fail(err)
		}
		for k, photo := range photos {
			if err := os.Symlink(photo, filepath.Join(known, fmt.Sprintf("%s_%d%s", person.Name(), k, filepath.Ext(photo)))); err != nil {
				return fail(err)
			}
		}
	}
	for i := range n {
		if err := os.Symlink(filepath.Join(b.photoDir, photoName(i)), filepath.Join(unknown, photoName(i))); err != nil {
			return fail(err)
		}
	}
	cli := filepath.Join(filepath.Dir(b.peerPython), "face_recognition")
	cmd := exec.Command(cli, "--cpus", strconv.Itoa(runtime.NumCPU()), known, unknown)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	secs := time.Since(start).Seconds()
	if err != nil {
		return fail(fmt.Errorf("%s: %v: %s", cli, err, lastLines(stderr.String(), 5)))
	}
	// Looked for anywhere, not line by line: its worker processes print
	// unsynchronised, and two answers can share a line.
	answered := 0
	for i := range n {
		if bytes.Contains(out, []byte(photoName(i)+",")) {
			answered++
		}
	}
	if answered != n {
		return fail(fmt.Errorf("face_recognition answered for %d of %d photos", answered, n))
	}
	return peerCLIRun{Photos: n, Seconds: secs}
}

// peerLFW encodes every image of an LFW pairs file with the peer
// (face_recognition_peer.py encode) and scores the pairs with facebatch's
// own k-fold protocol (evaluation.KFold, as `facebatch eval`), on
// face_recognition's distances: Euclidean between its raw encodings.
func (b *bench) peerLFW(pairsFile, imagesDir string) (evaluation.Result, error) {
	f, err := os.Open(pairsFile)
	if err != nil {
		return evaluation.Result{}, err
	}
	pairs, err := evaluation.ParsePairs(f)
	f.Close()
	if err != nil {
		return evaluation.Result{}, err
	}
	imgs := pairs.Images()
	list := strings.Join(refPaths(imgs, imagesDir), "\n") + "\n"
	listPath := filepath.Join(b.work, "peer-lfw-list.txt")
	if err := os.WriteFile(listPath, []byte(list), 0o644); err != nil {
		return evaluation.Result{}, err
	}
	script := filepath.Join(b.scriptDir, "face_recognition_peer.py")
	key, err := peerKey(b.peerPython, script, imgs, imagesDir)
	if err != nil {
		return evaluation.Result{}, err
	}
	// The peer's encodings depend on the peer and the photos only, not
	// on facebatch: kept, they spare later runs the 2.5 minutes.
	outPath := filepath.Join(b.cacheDir, "peer-lfw-"+key+".json")
	data, err := os.ReadFile(outPath)
	if err == nil {
		b.peerLFWCached = outPath
	} else {
		if err := os.MkdirAll(b.cacheDir, 0o755); err != nil {
			return evaluation.Result{}, err
		}
		tmp := outPath + ".tmp"
		cmd := exec.Command(b.peerPython, script, "encode", listPath, tmp, "--cpus", strconv.Itoa(runtime.NumCPU()))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return evaluation.Result{}, fmt.Errorf("face_recognition_peer.py encode: %v: %s", err, lastLines(stderr.String(), 5))
		}
		if err := os.Rename(tmp, outPath); err != nil {
			return evaluation.Result{}, err
		}
		if data, err = os.ReadFile(outPath); err != nil {
			return evaluation.Result{}, err
		}
	}
	var enc struct {
		Encodings [][]float32 `json:"encodings"`
	}
	if err := json.Unmarshal(data, &enc); err != nil {
		return evaluation.Result{}, err
	}
	if len(enc.Encodings) != len(imgs) {
		return evaluation.Result{}, fmt.Errorf("the peer encoded %d of %d images", len(enc.Encodings), len(imgs))
	}
	byRef := make(map[evaluation.ImageRef][]float32, len(imgs))
	for i, r := range imgs {
		if len(enc.Encodings[i]) != len(enc.Encodings[0]) {
			return evaluation.Result{}, fmt.Errorf("the peer's encoding of %s has %d values, the first %d", r, len(enc.Encodings[i]), len(enc.Encodings[0]))
		}
		byRef[r] = enc.Encodings[i]
	}
	d := make([]float64, len(pairs.Pairs))
	for i, p := range pairs.Pairs {
		d[i] = matcher.Distance(byRef[p.A], byRef[p.B])
	}
	same, folds := pairs.Labels()
	return evaluation.KFold(d, same, folds, peerTolerance)
}

// peerKey names the peer's encodings of the images: a hash of the peer's
// interpreter path (its venv's name carries the versions), its script and
// every image's bytes.
func peerKey(python, script string, imgs []evaluation.ImageRef, imagesDir string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", python)
	for _, path := range append([]string{script}, refPaths(imgs, imagesDir)...) {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(path), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func refPaths(imgs []evaluation.ImageRef, dir string) []string {
	out := make([]string, len(imgs))
	for i, r := range imgs {
		out[i] = r.Path(dir)
	}
	return out
}

// peerSection measures the peer beside identify (section 3b) and returns
// its SUMMARY fields: over_face_recognition (identify's steady rate over
// the peer CLI's, on the same photos and gallery), fr_lfw_acc and
// fb_lfw_acc (lfw-dev accuracy, the same pairs and protocol).
func (b *bench) peerSection(s settings, steady float64, p func(string, ...any)) string {
	if b.peerPython == "" {
		p("\n3b. The peer, face_recognition: skipped (no -peer-python)")
		return "over_face_recognition=n/a fr_lfw_acc=n/a fb_lfw_acc=n/a"
	}
	p("\n3b. The peer: face_recognition 1.3.0 CLI (dlib HOG + ResNet), `face_recognition --cpus %d KNOWN UNKNOWN`, the same gallery photos and bench photos", runtime.NumCPU())
	over := "n/a"
	var cli []peerCLIRun
	// A quarter and five quarters of the smaller identify run: the
	// difference, 1,000 photos by default, gives the steady rate in less
	// time than the identify runs' 1,000 and 2,000 (the peer does about
	// 25 photos/s).
	for _, n := range uniqueSorted(max(1, s.rssSmall/4), s.rssSmall*5/4) {
		r := b.peerCLI(n)
		if r.Err != "" {
			p("   %d photos: error: %s", n, r.Err)
			break
		}
		p("   %d photos: %.1f s wall, %.1f images/s", n, r.Seconds, float64(n)/r.Seconds)
		cli = append(cli, r)
	}
	if len(cli) > 0 {
		last := cli[len(cli)-1]
		rate := float64(last.Photos) / last.Seconds
		if len(cli) == 2 && last.Seconds > cli[0].Seconds {
			rate = float64(last.Photos-cli[0].Photos) / (last.Seconds - cli[0].Seconds)
		}
		p("   steady (the larger run minus the smaller): %.1f images/s; identify's steady %.1f: %.2fx", rate, steady, steady/rate)
		over = fmt.Sprintf("%.2f", steady/rate)
	}
	fr, fb := "n/a", "n/a"
	if s.lfw != "" && s.lfwAccuracy {
		pairsFile := filepath.Join(filepath.Dir(s.lfw), "pairs.txt")
		if res, err := b.peerLFW(pairsFile, s.lfw); err != nil {
			p("   lfw-dev accuracy of the peer: error: %v", err)
		} else {
			p("   lfw-dev (%s), the peer: %.2f%% ± %.2f (threshold chosen on the other folds), %.2f%% at its default tolerance %.1f",
				pairsFile, 100*res.Mean, 100*res.Std, 100*res.FixedMean, peerTolerance)
			if b.peerLFWCached != "" {
				p("   (the peer's encodings from an earlier run, same peer, script and photos: %s)", b.peerLFWCached)
			}
			fr = fmt.Sprintf("%.4f", res.Mean)
		}
		if acc, err := b.evalLFW(pairsFile, s.lfw); err != nil {
			p("   lfw-dev accuracy of facebatch: error: %v", err)
		} else {
			p("   lfw-dev, facebatch eval (the jobs' defaults): %.2f%%", 100*acc)
			fb = fmt.Sprintf("%.4f", acc)
		}
	}
	return fmt.Sprintf("over_face_recognition=%s fr_lfw_acc=%s fb_lfw_acc=%s", over, fr, fb)
}

// evalLFW runs `facebatch eval` on the pairs with the jobs' defaults and
// returns its accuracy.
func (b *bench) evalLFW(pairsFile, imagesDir string) (float64, error) {
	out := filepath.Join(b.work, "eval-lfw")
	args := append([]string{"eval", "--pairs", pairsFile, "--images", imagesDir, "--out", out}, b.jobArgs()...)
	if _, err := b.runFacebatch(filepath.Join(b.work, "eval-lfw.log"), args...); err != nil {
		return 0, err
	}
	data, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		return 0, err
	}
	var sum struct {
		Accuracy float64 `json:"accuracy_mean"`
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		return 0, err
	}
	return sum.Accuracy, nil
}
