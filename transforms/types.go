// Package transforms holds the pipelines' steps as Beam composites: list,
// read, find faces, encode, match, write. Each wraps a plain function from
// another package (files, faces, encoder, matcher, tables) in a thin DoFn;
// the DoFns are registered next to their definitions.
package transforms

import "image"

// ImageRef names one input object. Identity is set for gallery photos.
type ImageRef struct {
	URI      string
	Identity string
}

// Photo is an object's bytes, or the status saying why there are none.
type Photo struct {
	Ref    ImageRef
	Data   []byte
	SHA256 string
	Status string
	Error  string
}

// FaceRecord is one face of a photo, or the photo alone when no face came
// out of it (then Index is -1 and Status says why).
type FaceRecord struct {
	Ref           ImageRef
	SHA256        string
	Width, Height int
	// Faces is how many faces the photo has; Index is this one's.
	Faces, Index int
	// Ignored is how many other faces of a reference photo were left out
	// because this one dominates them (FaceConfig.Subject).
	Ignored    int
	X, Y, W, H int
	Score      float32
	// TakenAt is when the photo was taken (EXIF, Unix ms), 0 if it does
	// not say.
	TakenAt int64
	// Pixels is the model input (RGBA, the model's size) until encoded.
	Pixels    []byte
	Embedding []float32
	Status    string
	Error     string
}

// HasFace reports whether r is a face rather than a face-less photo.
func (r *FaceRecord) HasFace() bool { return r.Index >= 0 }

func (r *FaceRecord) box() image.Rectangle { return image.Rect(r.X, r.Y, r.X+r.W, r.Y+r.H) }

// UnknownFace is a face that matched no one in the gallery, with what
// clustering needs: its encoding travels here even when the results table
// leaves embeddings out.
type UnknownFace struct {
	URI        string
	Index      int
	X, Y, W, H int
	TakenAt    int64
	Embedding  []float32
}

// photoRecord is the face-less record for a photo with the given status.
func photoRecord(p Photo, status, msg string) FaceRecord {
	return FaceRecord{Ref: p.Ref, SHA256: p.SHA256, Index: -1, Status: status, Error: msg}
}

// collect drains a Beam iterator (a grouped value or a side input) into a
// slice. Each value is decoded into a fresh variable: the decoder may keep
// slices of the previous one.
func collect[T any](iter func(*T) bool) []T {
	var all []T
	for {
		var v T
		if !iter(&v) {
			return all
		}
		all = append(all, v)
	}
}
