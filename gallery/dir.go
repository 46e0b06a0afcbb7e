// Package gallery knows how reference photos of known people are laid out.
package gallery

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrEmpty means a gallery holds no photos.
var ErrEmpty = errors.New("gallery: no photos")

// Photo is one reference photo of a known identity.
type Photo struct {
	Identity string
	Path     string
}

// imageExts are the file extensions taken as photos; other files (READMEs,
// manifests) in a gallery folder are not photos and are left alone.
var imageExts = map[string]bool{
	".jpg": true, ".jpeg": true, ".png": true, ".gif": true,
	".webp": true, ".bmp": true, ".tif": true, ".tiff": true,
}

// IsImageName reports whether name has a photo's extension.
func IsImageName(name string) bool {
	return imageExts[strings.ToLower(filepath.Ext(name))]
}

// ScanDir lists the photos in a local gallery folder, where each identity is
// either a file NAME.ext (the notebook's layout, one photo each) or a folder
// NAME/ holding any number of photos. Hidden entries are ignored. The result
// is sorted by identity, then path.
func ScanDir(dir string) ([]Photo, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("gallery: %w", err)
	}
	var photos []Photo
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		if !e.IsDir() {
			if IsImageName(name) {
				photos = append(photos, Photo{Identity: strings.TrimSuffix(name, filepath.Ext(name)), Path: path})
			}
			continue
		}
		inner, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("gallery: %w", err)
		}
		for _, f := range inner {
			if !f.IsDir() && !strings.HasPrefix(f.Name(), ".") && IsImageName(f.Name()) {
				photos = append(photos, Photo{Identity: name, Path: filepath.Join(path, f.Name())})
			}
		}
	}
	if len(photos) == 0 {
		return nil, fmt.Errorf("%w in %s (want NAME.jpg files or NAME/ folders of photos)", ErrEmpty, dir)
	}
	sort.Slice(photos, func(i, j int) bool {
		if photos[i].Identity != photos[j].Identity {
			return photos[i].Identity < photos[j].Identity
		}
		return photos[i].Path < photos[j].Path
	})
	return photos, nil
}
