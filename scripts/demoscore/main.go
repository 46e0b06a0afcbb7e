// Command demoscore scores an identify run on photos filed in folders named
// after the person they show (<truth>/<photo>): per photo, the largest face
// is the subject, and the photo is right when that face is accepted as the
// folder's identity.
//
//	go run ./scripts/demoscore RESULTS_DIR
package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"text/tabwriter"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	"github.com/facebatch/facebatch/results"
	"github.com/facebatch/facebatch/tables"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: demoscore RESULTS_DIR")
		os.Exit(2)
	}
	rows, err := tables.ReadAll[results.Row](context.Background(), os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "demoscore:", err)
		os.Exit(1)
	}
	subject := map[string]results.Row{}
	for _, r := range rows {
		best, seen := subject[r.ImageURI]
		if !seen || area(r) > area(best) {
			subject[r.ImageURI] = r
		}
	}
	uris := make([]string, 0, len(subject))
	for u := range subject {
		uris = append(uris, u)
	}
	sort.Strings(uris)
	right := 0
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "truth\tanswer\tdistance\tphoto")
	for _, u := range uris {
		r := subject[u]
		truth := path.Base(path.Dir(strings.ReplaceAll(u, "\\", "/")))
		answer, dist := "unknown", "-"
		switch {
		case r.Status != results.StatusOK:
			answer = r.Status
		case r.Identity != nil:
			answer = *r.Identity
		}
		if r.Distance != nil {
			dist = fmt.Sprintf("%.3f", *r.Distance)
			if r.Identity == nil && len(r.Candidates) > 0 {
				answer += " (nearest " + r.Candidates[0].Identity + ")"
			}
		}
		if answer == truth {
			right++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", truth, answer, dist, path.Base(u))
	}
	tw.Flush()
	fmt.Printf("demo: %d/%d photos named correctly (%.0f%%)\n", right, len(uris), 100*float64(right)/float64(max(len(uris), 1)))
}

func area(r results.Row) int64 {
	if r.BoxW == nil || r.BoxH == nil {
		return -1
	}
	return int64(*r.BoxW) * int64(*r.BoxH)
}
