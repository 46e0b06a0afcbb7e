package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/facebatch/facebatch/accuracy"
)

// evalCmd runs `facebatch eval`: verification accuracy on an LFW-format
// pairs file (--pairs, --images), or 1:N identification of a probe set
// against a gallery (--gallery, --probes). Both write summary.json and
// report.html into --out and print the main numbers.
func evalCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var e accuracy.Eval
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	e.RegisterFlags(fs)
	if err := parseArgs(fs, args); err != nil {
		return fail(stderr, fs, err)
	}
	if err := e.Check(); err != nil {
		return fail(stderr, fs, fmt.Errorf("%w: %w", errUsage, err))
	}
	summary, reportPath, err := e.Run(ctx)
	if err == nil {
		err = summary.WriteText(stdout, reportPath)
	}
	if err != nil {
		return fail(stderr, fs, err)
	}
	return exitAccepted
}
