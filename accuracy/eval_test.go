package accuracy

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestEvalCheck(t *testing.T) {
	for _, tc := range []struct {
		args, err string // err: a part of Check's error, "" for none
	}{
		{"--pairs p --images i --out o", ""},
		{"--gallery g --probes p --out o --gallery-sizes 10,100 --margins none", ""},
		{"--pairs p --images i", "--out is required"},
		{"--gallery g --out o", "--probes is required"},
		{"--out o", "--pairs is required"},
		{"--pairs p --gallery g --out o", "two modes"},
		{"--pairs p --images i --out o --threshold 2.5", "--threshold 2.5 is outside (0, 2]"},
		{"--gallery g --probes p --out o --target-fpir 1", "--target-fpir 1 is outside (0, 1)"},
		{"--gallery g --probes p --out o --gallery-sizes 1", "1 identities leave no runner-up"},
		{"--gallery g --probes p --out o --margins 0.05,2", "--margins: 2 is outside (0, 2)"},
	} {
		t.Run(tc.args, func(t *testing.T) {
			var e Eval
			fs := flag.NewFlagSet("eval", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			e.RegisterFlags(fs)
			if err := fs.Parse(strings.Fields(tc.args)); err != nil {
				t.Fatal(err)
			}
			err := e.Check()
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("Check: %v, want %q", err, tc.err)
			}
		})
	}
}
