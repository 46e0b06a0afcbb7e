// Command demoscore scores an identify run on photos filed in folders named
// after the person they show (<truth>/<photo>): per photo, the subject is
// picked as faces.Photo.Subject picks it (the largest face near the
// centre), and the photo is right when that face is accepted as the
// folder's identity.
//
//	go run ./scripts/demoscore RESULTS_DIR
package main

import (
	"context"
	"fmt"
	"image"
	"os"
	"path"
	"sort"
	"strings"
	"text/tabwriter"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	"github.com/facebatch/facebatch/faces"
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
	byImage := map[string][]results.Row{}
	for _, r := range rows {
		byImage[r.ImageURI] = append(byImage[r.ImageURI], r)
	}
	subject := map[string]results.Row{}
	for uri, rs := range byImage {
		subject[uri] = subjectRow(rs)
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

// subjectRow returns the row of the photo's subject, or its first row when
// no row has a face (a status row).
func subjectRow(rs []results.Row) results.Row {
	var photo faces.Photo
	var withFace []results.Row
	for _, r := range rs {
		if r.BoxX == nil || r.BoxY == nil || r.BoxW == nil || r.BoxH == nil || r.ImageWidth == nil || r.ImageHeight == nil {
			continue
		}
		photo.Width, photo.Height = int(*r.ImageWidth), int(*r.ImageHeight)
		x, y := int(*r.BoxX), int(*r.BoxY)
		photo.Faces = append(photo.Faces, faces.Face{Box: image.Rect(x, y, x+int(*r.BoxW), y+int(*r.BoxH))})
		withFace = append(withFace, r)
	}
	if face, ok := photo.Subject(); ok {
		for i, f := range photo.Faces {
			if f.Box == face.Box {
				return withFace[i]
			}
		}
	}
	return rs[0]
}
