package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/facebatch/facebatch/files"
	"github.com/facebatch/facebatch/report"
	"github.com/facebatch/facebatch/report/html"
)

// reportCmd runs `facebatch report --results DIR --html FILE`: the HTML
// report of an identify run.
func reportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var opt report.Options
	var htmlOut string
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.StringVar(&opt.Results, "results", "", "results table of an identify run: folder or gs:// prefix (required)")
	fs.StringVar(&htmlOut, "html", "", "HTML file to write: a local path or gs:// URI (required)")
	fs.StringVar(&opt.Gallery, "gallery", "", "the gallery table the run matched against, for the gallery photos beside near-threshold faces (the results record only its version)")
	fs.StringVar(&opt.Clusters, "clusters", "", "clusters table (default: <results>"+report.ClustersSuffix+")")
	fs.IntVar(&opt.Strip, "strip", report.DefaultStrip, "faces shown per identity")
	fs.IntVar(&opt.MaxIdentities, "identities", report.DefaultIdentities, "identities shown (those with the most faces)")
	fs.IntVar(&opt.Risky, "near", report.DefaultRisky, "near-threshold matches shown, and as many unknowns")
	fs.Int64Var(&opt.MaxBytes, "max-bytes", report.DefaultMaxBytes, "refuse photos larger than this many bytes (shown as unavailable)")
	err := parseArgs(fs, args)
	switch {
	case err != nil:
	case opt.Results == "":
		err = fmt.Errorf("%w: --results is required", errUsage)
	case htmlOut == "":
		err = fmt.Errorf("%w: --html is required", errUsage)
	}
	if err != nil {
		return fail(stderr, fs, err)
	}
	page, sum, err := report.Build(ctx, opt)
	if err == nil {
		err = writePage(ctx, htmlOut, page)
	}
	if err != nil {
		return fail(stderr, fs, err)
	}
	statuses := make([]string, 0, len(sum.ByStatus))
	for st, n := range sum.ByStatus {
		statuses = append(statuses, fmt.Sprintf("%s=%d", st, n))
	}
	sort.Strings(statuses)
	clusters := "no clustering"
	if sum.Clustered {
		clusters = fmt.Sprintf("%d clusters", sum.Clusters)
	}
	fmt.Fprintf(stdout, "report %s: %d images (%s), %d faces: %d matched to %d identities, %d unknown; %s\n",
		htmlOut, sum.Images, strings.Join(statuses, " "), sum.Faces, sum.Matched, len(sum.Identities), sum.Unknown, clusters)
	return exitAccepted
}

// writePage writes the page to a local file, or to object storage.
func writePage(ctx context.Context, uri string, page *html.Page) error {
	if !files.IsGCS(uri) {
		return html.WriteFile(uri, page)
	}
	var buf bytes.Buffer
	if err := html.Write(&buf, page); err != nil {
		return err
	}
	return files.Write(ctx, uri, buf.Bytes())
}
