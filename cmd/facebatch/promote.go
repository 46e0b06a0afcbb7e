package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/pipelines"
	"github.com/facebatch/facebatch/promote"
)

// promoteCmd runs `facebatch gallery promote`: the faces of a named cluster
// become gallery photos of that identity, for the next gallery run.
func promoteCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gallery promote", flag.ContinueOnError)
	var cfg promote.Config
	fs.StringVar(&cfg.Results, "results", "", "results table of the identify run whose clusters are named (required)")
	fs.StringVar(&cfg.GalleryInput, "gallery-input", "", "the gallery job's --input: folder or gs:// prefix of <identity>/<photo>, or a CSV of identity,uri (required)")
	cluster := fs.Int64("cluster", 0, "cluster id to promote (with --identity)")
	identity := fs.String("identity", "", "the person the cluster shows (with --cluster)")
	decisions := fs.String("decisions", "", "CSV file of cluster_id,identity lines, instead of --cluster and --identity")
	fs.Int64Var(&cfg.MaxBytes, "max-bytes", pipelines.DefaultMaxBytes, "refuse source photos larger than this many bytes")
	fs.IntVar(&cfg.MaxPixels, "max-pixels", decoder.DefaultMaxPixels, "refuse source photos with more pixels than this")
	if err := parseArgs(fs, args); err != nil {
		return fail(stderr, fs, err)
	}
	var ds []promote.Decision
	var err error
	switch {
	case cfg.Results == "" || cfg.GalleryInput == "":
		err = fmt.Errorf("%w: --results and --gallery-input are required", errUsage)
	case *decisions != "" && (*cluster != 0 || *identity != ""):
		err = fmt.Errorf("%w: give --decisions or --cluster and --identity, not both", errUsage)
	case *decisions != "":
		ds, err = readDecisions(*decisions)
	case *cluster <= 0 || *identity == "":
		err = fmt.Errorf("%w: --cluster (a positive id) and --identity are required, or --decisions", errUsage)
	default:
		ds = []promote.Decision{{ClusterID: *cluster, Identity: *identity}}
	}
	if err == nil {
		for _, d := range ds {
			if err = promote.CheckIdentity(d.Identity); err != nil {
				break
			}
		}
	}
	if err != nil {
		return fail(stderr, fs, err)
	}
	done, err := promote.Run(ctx, cfg, ds)
	for _, p := range done {
		fmt.Fprintf(stdout, "cluster %d -> %s: %d faces written\n", p.ClusterID, p.Identity, len(p.Files))
		for _, s := range p.Skipped {
			fmt.Fprintf(stdout, "  skipped %s\n", s)
		}
	}
	if err != nil {
		if errors.Is(err, promote.ErrNoCluster) {
			return fail(stderr, fs, fmt.Errorf("%w: %w", errUsage, err))
		}
		fmt.Fprintf(stderr, "facebatch gallery promote: %v\n", err)
		return exitRejected
	}
	fmt.Fprintf(stdout, "next: facebatch gallery --input %s --output <gallery table> --previous <gallery table>\n", cfg.GalleryInput)
	return exitAccepted
}

func readDecisions(name string) ([]promote.Decision, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return promote.ParseDecisions(f)
}
