// Command facebatch identifies the people in photos with FaceNet encodings.
//
//	facebatch verify --image PATH --identity NAME --gallery DIR   is this NAME? (1:1)
//	facebatch who    --image PATH --gallery DIR                   who is this?  (1:K)
//
// Exit status: 0 accepted, 1 rejected or not in the database, 2 error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
)

// Exit codes shared by every subcommand.
const (
	exitAccepted = 0
	exitRejected = 1
	exitError    = 2
)

const usage = `usage: facebatch <command> [flags]

commands:
  verify    is the person in --image the claimed --identity? (the notebook's verify)
  who       who in --gallery is the person in --image? (the notebook's who_is_it)
  gallery   Beam job: encode a gallery of known people into a Parquet table
            (gallery promote: add a named cluster of unknown faces to the gallery's photos)
  identify  Beam job: find, encode and name every face in a set of images
  rematch   Beam job: name the faces of an earlier identify table again against a new
            gallery, from their stored embeddings (no photo read or encoded)
  eval      accuracy: LFW-format pairs (k-fold, ROC AUC, TAR@FAR) or 1:N gallery/probes
            (rank-1, unknown people accepted); summary.json + report.html
  report    HTML report of an identify run: counts, faces per identity, near-threshold
            matches beside the gallery, unknown clusters, distance histogram

Run 'facebatch <command> -h' for a command's flags.
Exit status: verify/who: 0 accepted, 1 rejected or not in the database, 2 error;
gallery/identify/rematch: 0 done, 1 the job failed, 2 bad flags or configuration.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && strings.HasPrefix(args[0], "-") && hasWorkerFlag(args) {
		// Started by a runner as an SDK worker: Beam's init hook serves the
		// runner's requests and exits the process.
		flag.CommandLine.Parse(args)
		beam.Init()
		return exitError
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	switch args[0] {
	case "verify":
		return verify(ctx, args[1:], stdout, stderr)
	case "who":
		return who(ctx, args[1:], stdout, stderr)
	case "gallery":
		return galleryJob(ctx, args[1:], stdout, stderr)
	case "identify":
		return identifyJob(ctx, args[1:], stdout, stderr)
	case "rematch":
		return rematchJob(ctx, args[1:], stdout, stderr)
	case "eval":
		return evalCmd(ctx, args[1:], stdout, stderr)
	case "report":
		return reportCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitAccepted
	default:
		fmt.Fprintf(stderr, "facebatch: unknown command %q\n\n%s", args[0], usage)
		return exitError
	}
}

func hasWorkerFlag(args []string) bool {
	for _, a := range args {
		if a == "--worker" || a == "-worker" || strings.HasPrefix(a, "--worker=") || strings.HasPrefix(a, "-worker=") {
			return true
		}
	}
	return false
}

// errUsage marks errors that are the caller's to fix; they are printed with
// the flag usage.
var errUsage = errors.New("bad flags")

// parseArgs parses a command's flags, which take no positional arguments;
// its errors are errUsage.
func parseArgs(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	return nil
}

// fail reports err on one line and returns the error exit code; for -h it
// prints the flags instead.
func fail(stderr io.Writer, fs *flag.FlagSet, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stderr, "usage of facebatch %s:\n", fs.Name())
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return exitAccepted
	}
	if errors.Is(err, errUsage) {
		fmt.Fprintf(stderr, "facebatch %s: %v (see 'facebatch %s -h')\n", fs.Name(), err, fs.Name())
	} else {
		fmt.Fprintf(stderr, "facebatch %s: %v\n", fs.Name(), err)
	}
	return exitError
}
