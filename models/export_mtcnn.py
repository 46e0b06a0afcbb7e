"""Export the MTCNN face detector (PNet, RNet, ONet) to TensorFlow SavedModels plus manifest.

Runs once, in the setup venv, with the PyPI package mtcnn==1.0.0 installed
(it needs joblib and lz4 to read its weights). Nothing at run time needs
Python: the Go detector loads the three SavedModels through the TensorFlow C
library and runs the pyramid / NMS / calibration pipeline itself, following
the facts written into mtcnn.json.

The networks are the package's own Keras classes (mtcnn.network.*), built and
loaded exactly as its stages do (model.build(); model.set_weights(joblib
list)). Each is exported with one `serving_default` signature: input "input"
float32 NHWC, outputs named by what they are. The export is checked against
the Keras model on random input before the manifest is written.

mtcnn 1.0.0 does NOT transpose images (the old 0.1.x package did): its
converted weights take plain RGB NHWC images, and the Caffe flatten order is
handled by a Permute((2, 1, 3)) layer inside RNet/ONet, which is part of the
exported graph.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import tensorflow as tf
import keras

PACKAGE_VERSION = "1.0.0"

# sha256 of the weight files inside mtcnn-1.0.0-py3-none-any.whl (its RECORD).
WEIGHTS_SHA256 = {
    "pnet": "ea6b0c3e685ebee3165326ad6484acc95f2ef78f1c94fbf40a55704fa989f7b5",
    "rnet": "cb00e6460f3c98b0bfafaba3c0a0ded4bdf6e62cee7174d969e8670d7e757fee",
    "onet": "94f6ea2f4cf985275ee958cdd762d17b6009348a4fb9d8c6be39ba73ffd22ca3",
}

# Per net: input shape of the signature, then output names in the order the
# Keras model returns them, with shapes and meanings for the manifest.
NETS = {
    "pnet": {
        "input": [-1, -1, -1, 3],
        "outputs": [
            ("bbox_reg", [-1, -1, -1, 4],
             "per feature cell (r, c): [dx1, dy1, dx2, dy2]; in scaled-image pixels the box is "
             "[2c+1 + 11*dx1, 2r+1 + 11*dy1, 2c+12 + 11*dx2, 2r+12 + 11*dy2], then divided by the scale"),
            ("prob", [-1, -1, -1, 2], "softmax [not_face, face] per cell; channel 1 is the face score"),
        ],
        "params": 6632,
    },
    "rnet": {
        "input": [-1, 24, 24, 3],
        "outputs": [
            ("bbox_reg", [-1, 4], "[dx1, dy1, dx2, dy2] offsets times the input box's (w+1, h+1, w+1, h+1)"),
            ("prob", [-1, 2], "softmax [not_face, face]; column 1 is the face score"),
        ],
        "params": 100178,
    },
    "onet": {
        "input": [-1, 48, 48, 3],
        "outputs": [
            ("bbox_reg", [-1, 4], "[dx1, dy1, dx2, dy2] offsets times the input box's (w+1, h+1, w+1, h+1)"),
            ("landmarks", [-1, 10],
             "NOT interleaved: [x1..x5, y1..y5] in [0,1] of the input box; points in order "
             "left_eye, right_eye, nose, mouth_left, mouth_right (image left/right as named by the package)"),
            ("prob", [-1, 2], "softmax [not_face, face]; column 1 is the face score"),
        ],
        "params": 389040,
    },
}

PREPROCESSING = {
    "decode": "tf.image.decode_image(channels=3) -> RGB, values 0..255",
    "channel_order": "RGB",
    "layout": "NHWC, row-major (y, x); images are NOT transposed (mtcnn>=1.0 weights take plain images)",
    "transposed": False,
    "normalization": "(x - 127.5) / 128, applied to the full image BEFORE any resize or crop",
    "mean": 127.5,
    "scale": 1.0 / 128.0,
    "dtype": "float32",
}

PIPELINE = {
    "min_face_size": 20,
    "min_size": 12,
    "scale_factor": 0.709,
    "pyramid": "count = round_half_even(-(ln(min(H,W)/min_size)/ln(scale_factor) + 1)); "
               "scale_k = (min_size/min_face_size) * scale_factor**k for k in [0, count); level size floor(H*s) x floor(W*s)",
    "pyramid_resize": "tf.image.resize(normalized, floor([H*s, W*s]), method=AREA) (TF ResizeArea, align_corners=false)",
    "pnet_stride": 2,
    "pnet_cell_size": 12,
    "threshold_pnet": 0.6,
    "threshold_rnet": 0.7,
    "threshold_onet": 0.8,
    "score_compare": "strictly greater than threshold",
    "nms": {
        "pnet_per_scale": {"threshold": 0.5, "method": "union"},
        "pnet_all_scales": {"threshold": 0.7, "method": "union"},
        "rnet": {"threshold": 0.7, "method": "union"},
        "onet": {"threshold": 0.7, "method": "min"},
        "kind": "all-pairs ('fast') NMS: sorted by score descending, box j kept iff iou(i, j) <= threshold for every i < j, "
                "suppressed boxes still suppress; areas are (x2-x1)*(y2-y1) without +1",
    },
    "crop_resize": "tf.image.crop_and_resize(normalized, [y1/H, x1/W, y2/H, x2/W], size, method=bilinear, extrapolation_value=0)",
    "rnet_input": 24,
    "onet_input": 48,
    "landmark_decode": "x_i = (x2-x1+1) * lx_i + x1 - 1, y_i = (y2-y1+1) * ly_i + y1 - 1, using the square ONet INPUT box (before ONet regression)",
    "postprocess": "clip x1,x2 to [0, W-1], y1,y2 to [0, H-1] (landmarks not clipped); JSON box = round([x1, y1, x2-x1, y2-y1])",
}


def file_sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def build_net(name):
    """Build one net exactly as mtcnn.stages.Stage*Net.__init__ does."""
    from mtcnn.network.pnet import PNet
    from mtcnn.network.rnet import RNet
    from mtcnn.network.onet import ONet
    from mtcnn.utils.tensorflow import load_weights

    model = {"pnet": PNet, "rnet": RNet, "onet": ONet}[name]()
    model.build()
    weights = load_weights(f"{name}.lz4")
    if len(weights) != len(model.weights):
        sys.exit(f"export: {name}: {len(weights)} weight arrays in {name}.lz4, model has {len(model.weights)}")
    for w, a in zip(model.weights, weights):
        if tuple(np.shape(a)) != tuple(w.shape):
            sys.exit(f"export: {name}: {w.path}: shape {np.shape(a)} in file, {w.shape} in model")
    model.set_weights(weights)
    if model.count_params() != NETS[name]["params"]:
        sys.exit(f"export: {name} has {model.count_params()} parameters, want {NETS[name]['params']}")
    return model


def export_net(name, model, export_dir):
    spec = NETS[name]
    names = [n for n, _, _ in spec["outputs"]]
    shape = [None if d < 0 else d for d in spec["input"]]

    def serve(x):
        outs = model(x)
        if len(outs) != len(names):
            raise ValueError(f"{name}: model returns {len(outs)} outputs, want {len(names)}")
        return {n: tf.identity(o, name=n) for n, o in zip(names, outs)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serving_default", fn=serve,
                         input_signature=[tf.TensorSpec(shape, tf.float32, name="input")])
    archive.write_out(export_dir, verbose=False)


def signature_names(export_dir, tag, signature):
    """Input and output tensor names (op:index) read back from the SavedModel's signature."""
    from tensorflow.python.tools import saved_model_utils

    meta = saved_model_utils.get_meta_graph_def(export_dir, tag)
    if signature not in meta.signature_def:
        sys.exit(f"export: {export_dir} has no signature {signature} (has {sorted(meta.signature_def)})")
    sig = meta.signature_def[signature]
    if len(sig.inputs) != 1:
        sys.exit(f"export: signature {signature} has {len(sig.inputs)} inputs, want 1")
    (inp,) = sig.inputs.values()
    return inp.name, {k: v.name for k, v in sig.outputs.items()}


def tensor_ref(name):
    op, _, index = name.partition(":")
    return {"op": op, "index": int(index or 0)}


def check_export(name, model, export_dir):
    """Reload the SavedModel and compare it to the Keras model on random input."""
    spec = NETS[name]
    rng = np.random.default_rng(0)
    shape = [3 if d < 0 else d for d in spec["input"]]
    if name == "pnet":
        shape = [2, 57, 43, 3]  # any size: odd, non-square
    x = rng.uniform(-1, 1, size=shape).astype(np.float32)
    want = [np.asarray(o) for o in model(x)]
    fn = tf.saved_model.load(export_dir).signatures["serving_default"]
    got = fn(input=tf.constant(x))
    for (n, _, _), w in zip(spec["outputs"], want):
        g = got[n].numpy()
        if g.shape != w.shape or not np.allclose(g, w, atol=1e-5):
            sys.exit(f"export: {name}/{n}: SavedModel output differs from Keras model "
                     f"(shapes {g.shape} vs {w.shape})")


def weights_id(model):
    h = hashlib.sha256()
    for w in model.weights:
        h.update(w.path.encode())
        h.update(np.ascontiguousarray(np.asarray(w.numpy())).tobytes())
    return h.hexdigest()[:16]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="directory for pnet/, rnet/, onet/ and mtcnn.json")
    args = ap.parse_args()

    try:
        import mtcnn
        from mtcnn.metadata import __version__ as version
    except ImportError as e:
        sys.exit(f"export: cannot import mtcnn ({e}); pip install mtcnn=={PACKAGE_VERSION} joblib lz4")
    if version != PACKAGE_VERSION:
        sys.exit(f"export: mtcnn {version} installed, want {PACKAGE_VERSION}")

    weights_dir = os.path.join(os.path.dirname(mtcnn.__file__), "assets", "weights")
    for name, want in WEIGHTS_SHA256.items():
        path = os.path.join(weights_dir, f"{name}.lz4")
        if not os.path.exists(path):
            sys.exit(f"export: {path} missing")
        got = file_sha256(path)
        if got != want:
            sys.exit(f"export: {path} has sha256 {got}, want {want}")

    os.makedirs(args.out, exist_ok=True)
    tag, signature = "serve", "serving_default"
    nets = {}
    ids = []
    for name, spec in NETS.items():
        model = build_net(name)
        export_dir = os.path.join(args.out, name)
        export_net(name, model, export_dir)
        check_export(name, model, export_dir)
        input_name, outputs = signature_names(export_dir, tag, signature)
        missing = [n for n, _, _ in spec["outputs"] if n not in outputs]
        if missing:
            sys.exit(f"export: {name}: outputs {missing} not in signature (has {sorted(outputs)})")
        ids.append(weights_id(model))
        nets[name] = {
            "saved_model": name,
            "tags": [tag],
            "signature": signature,
            "weights_sha256": WEIGHTS_SHA256[name],
            "parameters": model.count_params(),
            "input": {"key": "input", "shape": spec["input"], "dtype": "float32",
                      "tensor": tensor_ref(input_name)},
            "outputs": {n: {"shape": shape, "meaning": meaning, "tensor": tensor_ref(outputs[n])}
                        for n, shape, meaning in spec["outputs"]},
        }
        print(f"export: {name}: {model.count_params()} parameters, input {input_name}, "
              + ", ".join(f"{n} {outputs[n]}" for n, _, _ in spec["outputs"]))

    manifest = {
        "name": "mtcnn",
        "model_id": f"mtcnn-{hashlib.sha256(''.join(ids).encode()).hexdigest()[:16]}",
        "description": f"MTCNN (Zhang et al. 2016) PNet/RNet/ONet with the weights of PyPI mtcnn=={PACKAGE_VERSION} (ipazc)",
        "source": {"package": f"mtcnn=={PACKAGE_VERSION}", "weights_sha256": WEIGHTS_SHA256},
        "nets": nets,
        "preprocessing": PREPROCESSING,
        "pipeline": PIPELINE,
        "exported_with": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    with open(os.path.join(args.out, "mtcnn.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"export: {manifest['model_id']} -> {args.out}")


if __name__ == "__main__":
    main()
