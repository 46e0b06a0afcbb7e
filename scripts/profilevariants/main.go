// Command profilevariants writes a model folder whose manifest is the
// exported one plus the preprocessing variants measured in docs/accuracy.md
// (variants.json beside this file), pointing at the same SavedModel, so
// that each row of its table can be reproduced:
//
//	go run ./scripts/profilevariants -out out/variants
//	facebatch eval --model out/variants --profile t32-flip --pairs ... --images ... --out ...
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/facebatch/facebatch/models"
)

func main() {
	out := flag.String("out", "", "folder to write (required)")
	variants := flag.String("variants", "scripts/profilevariants/variants.json", "the variant profiles")
	flag.Parse()
	if *out == "" {
		fail(fmt.Errorf("-out is required"))
	}
	src, err := models.DefaultDir()
	if err != nil {
		fail(err)
	}
	m, err := models.Load(src)
	if err != nil {
		fail(err)
	}
	var manifest map[string]any
	var extra struct {
		Profiles map[string]json.RawMessage `json:"profiles"`
	}
	if err := readJSON(filepath.Join(src, models.ManifestFile), &manifest); err != nil {
		fail(err)
	}
	if err := readJSON(*variants, &extra); err != nil {
		fail(err)
	}
	manifest["saved_model"] = m.SavedModelDir()
	profiles := manifest["profiles"].(map[string]any)
	for name, p := range extra.Profiles {
		if _, taken := profiles[name]; taken {
			fail(fmt.Errorf("%s: profile %q is already in the manifest", *variants, name))
		}
		profiles[name] = p
	}
	data, err := json.MarshalIndent(manifest, "", "  ")
	if err == nil {
		err = os.MkdirAll(*out, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(*out, models.ManifestFile), data, 0o644)
	}
	if err != nil {
		fail(err)
	}
	if _, err := models.Load(*out); err != nil { // every variant must be a valid profile
		fail(err)
	}
	fmt.Printf("%s: %s plus %d variant profiles\n", *out, m.ModelID, len(extra.Profiles))
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "profilevariants:", err)
	os.Exit(1)
}
