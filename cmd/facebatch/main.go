// Command facebatch identifies the people in photos with FaceNet encodings.
//
//	facebatch verify --image PATH --identity NAME --gallery DIR   is this NAME? (1:1)
//	facebatch who    --image PATH --gallery DIR                   who is this?  (1:K)
//
// Exit status: 0 accepted, 1 rejected or not in the database, 2 error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes shared by every subcommand.
const (
	exitAccepted = 0
	exitRejected = 1
	exitError    = 2
)

const usage = `usage: facebatch <command> [flags]

commands:
  verify   is the person in --image the claimed --identity? (the notebook's verify)
  who      who in --gallery is the person in --image? (the notebook's who_is_it)

Run 'facebatch <command> -h' for a command's flags.
Exit status: 0 accepted, 1 rejected or not in the database, 2 error.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	switch args[0] {
	case "verify":
		return verify(ctx, args[1:], stdout, stderr)
	case "who":
		return who(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitAccepted
	default:
		fmt.Fprintf(stderr, "facebatch: unknown command %q\n\n%s", args[0], usage)
		return exitError
	}
}
