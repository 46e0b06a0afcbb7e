package pipelines

import (
	"flag"
	"strings"

	"github.com/facebatch/facebatch/decoder"
	"github.com/facebatch/facebatch/encoder"
	"github.com/facebatch/facebatch/faces"
	"github.com/facebatch/facebatch/gallery"
)

// The RegisterFlags methods define each job's command-line flags on fs,
// bound to the config's fields, with the fields' defaults. They live beside
// the fields so that a flag's help and the field it sets are read (and
// changed) together; the command only parses and runs.

// bf16Usage explains --bf16, whose default is this machine's.
const bf16Usage = "encode in bfloat16 (lfw-dev accuracy within 0.1 point of fp32; docs/benchmarks.md); on by default where the CPU computes it in hardware (AVX512_BF16 or AMX), --bf16=false for fp32 (and on GPU workers: the rewrite is oneDNN's, for the CPU)"

// RegisterFlags defines the flags every encoding job shares.
func (c *Common) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ModelDir, "model", "", "exported model folder (default $FACEBATCH_MODEL)")
	fs.StringVar(&c.Profile, "profile", "", "preprocessing profile of the model manifest (default: the manifest's)")
	fs.StringVar(&c.Detector, "detector", "", "face detector: mtcnn, pigo, or none (the whole image is one face, for pre-cropped photos) (default: the profile's)")
	fs.IntVar(&c.MinFaceSize, "min-face", 0, "smallest face side to find, in photo pixels (default 40; on a photo over --preview, faces under 20 preview pixels are not searched)")
	fs.IntVar(&c.Preview, "preview", faces.DefaultPreview, "find faces on a copy of larger photos this many pixels on the long side, then cut them from the photo itself; faces narrower than 20 preview pixels are not found (50 px on a 4032x3024 photo at 1600); -1 detects on the full-size photo")
	fs.Int64Var(&c.MaxBytes, "max-bytes", DefaultMaxBytes, "refuse objects larger than this many bytes (status too_large)")
	fs.IntVar(&c.MaxPixels, "max-pixels", decoder.DefaultMaxPixels, "refuse images with more pixels than this, from their header (status too_large)")
	fs.IntVar(&c.BatchSize, "batch-size", DefaultBatchSize, "faces per TensorFlow run")
	fs.IntVar(&c.Shards, "shards", DefaultShards, "Parquet part files to write")
	fs.StringVar(&c.RunID, "run-id", "", "name of this run in every row (default: the start time)")
	fs.IntVar(&c.Inflight, "inflight", 1, "batches encoded at once while the next photos are read and decoded")
	fs.IntVar(&c.Session.IntraOpThreads, "intra-op-threads", 0, "TensorFlow threads per op (0: one per core)")
	fs.IntVar(&c.Session.InterOpThreads, "inter-op-threads", 0, "TensorFlow ops run at once (0: one per core)")
	fs.BoolVar(&c.Session.BFloat16, "bf16", encoder.DefaultBFloat16(), bf16Usage)
	fs.StringVar(&c.Session.GPUDevices, "gpu-devices", "", "visible GPUs, e.g. 0 or 0,1 (default: all)")
	fs.BoolVar(&c.Session.GPUMemoryGrowth, "gpu-memory-growth", true, "take GPU memory as needed rather than all of it at start")
}

// RegisterFlags defines the gallery job's flags.
func (c *GalleryConfig) RegisterFlags(fs *flag.FlagSet) {
	c.Common.RegisterFlags(fs)
	fs.StringVar(&c.Input, "input", "", "gallery photos: folder or gs:// prefix of <identity>/<photo>, or a CSV of identity,uri (required)")
	fs.StringVar(&c.Output, "output", "", "gallery table folder or gs:// prefix (required)")
	fs.StringVar(&c.Previous, "previous", "", "an earlier gallery table: reuse rows whose photo, model, profile and detector are unchanged")
	fs.Float64Var(&c.CalibrateFPIR, "calibrate-fpir", gallery.DefaultCalibrationFPIR, "store with the table the threshold at which this share of strangers would be named, measured on its own photos (each searched against the other identities); identify uses it unless given --threshold. Needs 1/FPIR photos; negative: do not calibrate")
}

// RegisterFlags defines the identify job's flags. --input is repeatable
// and comma-separable.
func (c *IdentifyConfig) RegisterFlags(fs *flag.FlagSet) {
	c.Common.RegisterFlags(fs)
	fs.Func("input", "images: folder, gs:// prefix or glob (** crosses folders); repeatable (required unless --manifest)", func(v string) error {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.Inputs = append(c.Inputs, p)
			}
		}
		return nil
	})
	fs.StringVar(&c.Manifest, "manifest", "", "text file listing image URIs, one per line")
	fs.StringVar(&c.Gallery, "gallery", "", "gallery table written by `facebatch gallery` (required)")
	fs.StringVar(&c.Output, "output", "", "results table folder or gs:// prefix (required)")
	fs.BoolVar(&c.WithEmbeddings, "with-embeddings", false, "also write each face's embedding (biometric data)")
	c.Matching.RegisterFlags(fs)
}

// RegisterFlags defines identify's and rematch's flags for labelling faces
// and grouping the unknown ones.
func (m *Matching) RegisterFlags(fs *flag.FlagSet) {
	fs.Float64Var(&m.Threshold, "threshold", 0, "accept distances below this, in (0, 2] (default: the gallery's calibrated threshold when it has one, else the profile's: 1.06 for aligned, 0.7 for notebook); rows say which in threshold_source")
	fs.IntVar(&m.TopK, "top", DefaultTopK, "candidates kept per face")
	fs.BoolVar(&m.Cluster, "cluster", true, "group the unknown faces by identity (when there are at least 2): cluster_id column and clusters table; --cluster=false to skip")
	fs.Float64Var(&m.ClusterThreshold, "cluster-threshold", 0, "link unknown faces closer than this, in (0, 2] (default: the profile's, 0.68 x its match threshold)")
	fs.IntVar(&m.ClusterCells, "cluster-cells", 0, "split the clustering's neighbour search into this many cells of similar faces, searched in parallel; 1: exact all-pairs (default: exact up to 50,000 unknown faces, then one cell per 2,000)")
	fs.IntVar(&m.ClusterProbes, "cluster-probes", 0, "nearest cells each unknown face searches (default 8)")
	fs.StringVar(&m.ClustersOutput, "clusters-output", "", "clusters table folder or gs:// prefix (default: --output plus \"_clusters\")")
}

// RegisterFlags defines the rematch job's flags.
func (c *RematchConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Results, "results", "", "results table written by identify --with-embeddings (or by rematch) (required)")
	fs.StringVar(&c.Gallery, "gallery", "", "gallery table of the same model and profile (required)")
	fs.StringVar(&c.Output, "output", "", "new results table folder or gs:// prefix, not --results (required)")
	fs.StringVar(&c.ModelDir, "model", "", "exported model folder, for its manifest's thresholds (default $FACEBATCH_MODEL); nothing is encoded")
	c.Matching.RegisterFlags(fs)
	fs.IntVar(&c.Shards, "shards", DefaultShards, "Parquet part files to write")
	fs.StringVar(&c.RunID, "run-id", "", "name of this run in every row (default: the start time)")
}
