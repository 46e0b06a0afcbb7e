"""Export the FaceNet Keras weights to a TensorFlow SavedModel plus manifest.

Runs once, from scripts/setup.sh, in the setup venv. Nothing at run time needs
Python: the Go encoder loads the SavedModel through the TensorFlow C library.

facenet_keras.h5 is a Keras 2.1.2 save whose Lambda layers hold Python 3.6
bytecode that current Keras cannot deserialise, so the architecture is rebuilt
here layer by layer (same names as the course notebook's model.json) and the
weights are copied in by layer name.
"""

import argparse
import hashlib
import json
import os
import sys

import h5py
import keras
import numpy as np
import tensorflow as tf
from keras import layers


@keras.saving.register_keras_serializable(package="facebatch")
class ScaleSum(layers.Layer):
    """The notebook's Lambda(lambda inputs, scale: inputs[0] + inputs[1] * scale)."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        shortcut, residual = inputs
        return shortcut + residual * self.scale

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def conv_bn(x, filters, kernel, name, strides=1, padding="same", activation=True):
    """Conv2D without bias, BatchNorm without gamma, optional ReLU."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, name=name)(x)
    x = layers.BatchNormalization(axis=3, momentum=0.995, epsilon=0.001, scale=False, name=name + "_BatchNorm")(x)
    if activation:
        x = layers.Activation("relu", name=name + "_Activation")(x)
    return x


def residual_block(x, kind, index, scale, activation=True):
    """Block35 / Block17 / Block8 of Inception-ResNet-v1."""
    prefix = f"{kind}_{index}"
    b = lambda branch, layer: f"{prefix}_Branch_{branch}_{layer}"
    if kind == "Block35":
        branch_0 = conv_bn(x, 32, 1, b(0, "Conv2d_1x1"))
        branch_1 = conv_bn(x, 32, 1, b(1, "Conv2d_0a_1x1"))
        branch_1 = conv_bn(branch_1, 32, 3, b(1, "Conv2d_0b_3x3"))
        branch_2 = conv_bn(x, 32, 1, b(2, "Conv2d_0a_1x1"))
        branch_2 = conv_bn(branch_2, 32, 3, b(2, "Conv2d_0b_3x3"))
        branch_2 = conv_bn(branch_2, 32, 3, b(2, "Conv2d_0c_3x3"))
        branches = [branch_0, branch_1, branch_2]
    elif kind == "Block17":
        branch_0 = conv_bn(x, 128, 1, b(0, "Conv2d_1x1"))
        branch_1 = conv_bn(x, 128, 1, b(1, "Conv2d_0a_1x1"))
        branch_1 = conv_bn(branch_1, 128, (1, 7), b(1, "Conv2d_0b_1x7"))
        branch_1 = conv_bn(branch_1, 128, (7, 1), b(1, "Conv2d_0c_7x1"))
        branches = [branch_0, branch_1]
    elif kind == "Block8":
        branch_0 = conv_bn(x, 192, 1, b(0, "Conv2d_1x1"))
        branch_1 = conv_bn(x, 192, 1, b(1, "Conv2d_0a_1x1"))
        branch_1 = conv_bn(branch_1, 192, (1, 3), b(1, "Conv2d_0b_1x3"))
        branch_1 = conv_bn(branch_1, 192, (3, 1), b(1, "Conv2d_0c_3x1"))
        branches = [branch_0, branch_1]
    else:
        raise ValueError(kind)
    mixed = layers.Concatenate(axis=3, name=prefix + "_Concatenate")(branches)
    up = layers.Conv2D(x.shape[-1], 1, padding="same", use_bias=True, name=prefix + "_Conv2d_1x1")(mixed)
    x = ScaleSum(scale, name=prefix + "_ScaleSum")([x, up])
    if activation:
        x = layers.Activation("relu", name=prefix + "_Activation")(x)
    return x


def inception_resnet_v1(height, width, channels, embedding_size):
    inputs = keras.Input(shape=(height, width, channels), name="input_1")
    x = conv_bn(inputs, 32, 3, "Conv2d_1a_3x3", strides=2, padding="valid")
    x = conv_bn(x, 32, 3, "Conv2d_2a_3x3", padding="valid")
    x = conv_bn(x, 64, 3, "Conv2d_2b_3x3")
    x = layers.MaxPooling2D(3, strides=2, name="MaxPool_3a_3x3")(x)
    x = conv_bn(x, 80, 1, "Conv2d_3b_1x1", padding="valid")
    x = conv_bn(x, 192, 3, "Conv2d_4a_3x3", padding="valid")
    x = conv_bn(x, 256, 3, "Conv2d_4b_3x3", strides=2, padding="valid")

    for i in range(1, 6):
        x = residual_block(x, "Block35", i, 0.17)

    # Mixed_6a (Reduction-A)
    branch_0 = conv_bn(x, 384, 3, "Mixed_6a_Branch_0_Conv2d_1a_3x3", strides=2, padding="valid")
    branch_1 = conv_bn(x, 192, 1, "Mixed_6a_Branch_1_Conv2d_0a_1x1")
    branch_1 = conv_bn(branch_1, 192, 3, "Mixed_6a_Branch_1_Conv2d_0b_3x3")
    branch_1 = conv_bn(branch_1, 256, 3, "Mixed_6a_Branch_1_Conv2d_1a_3x3", strides=2, padding="valid")
    branch_pool = layers.MaxPooling2D(3, strides=2, padding="valid", name="Mixed_6a_Branch_2_MaxPool_1a_3x3")(x)
    x = layers.Concatenate(axis=3, name="Mixed_6a")([branch_0, branch_1, branch_pool])

    for i in range(1, 11):
        x = residual_block(x, "Block17", i, 0.1)

    # Mixed_7a (Reduction-B)
    branch_0 = conv_bn(x, 256, 1, "Mixed_7a_Branch_0_Conv2d_0a_1x1")
    branch_0 = conv_bn(branch_0, 384, 3, "Mixed_7a_Branch_0_Conv2d_1a_3x3", strides=2, padding="valid")
    branch_1 = conv_bn(x, 256, 1, "Mixed_7a_Branch_1_Conv2d_0a_1x1")
    branch_1 = conv_bn(branch_1, 256, 3, "Mixed_7a_Branch_1_Conv2d_1a_3x3", strides=2, padding="valid")
    branch_2 = conv_bn(x, 256, 1, "Mixed_7a_Branch_2_Conv2d_0a_1x1")
    branch_2 = conv_bn(branch_2, 256, 3, "Mixed_7a_Branch_2_Conv2d_0b_3x3")
    branch_2 = conv_bn(branch_2, 256, 3, "Mixed_7a_Branch_2_Conv2d_1a_3x3", strides=2, padding="valid")
    branch_pool = layers.MaxPooling2D(3, strides=2, padding="valid", name="Mixed_7a_Branch_3_MaxPool_1a_3x3")(x)
    x = layers.Concatenate(axis=3, name="Mixed_7a")([branch_0, branch_1, branch_2, branch_pool])

    for i in range(1, 6):
        x = residual_block(x, "Block8", i, 0.2)
    x = residual_block(x, "Block8", 6, 1.0, activation=False)

    x = layers.GlobalAveragePooling2D(name="AvgPool")(x)
    x = layers.Dropout(1.0 - 0.8, name="Dropout")(x)
    x = layers.Dense(embedding_size, use_bias=False, name="Bottleneck")(x)
    x = layers.BatchNormalization(momentum=0.995, epsilon=0.001, scale=False, name="Bottleneck_BatchNorm")(x)
    return keras.Model(inputs, x, name="inception_resnet_v1")


def load_h5_weights(model, path):
    """Copy weights by layer name; every weighted layer on both sides must match."""
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        saved = {}
        for name in root.attrs["layer_names"]:
            name = name.decode() if isinstance(name, bytes) else name
            group = root[name]
            names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
            if names:
                saved[name] = {n.split("/")[-1].split(":")[0]: np.asarray(group[n]) for n in names}
    loaded = 0
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in saved:
            sys.exit(f"export: layer {layer.name} has no weights in {path}")
        arrays = saved.pop(layer.name)
        values = []
        for w in layer.weights:
            key = w.path.split("/")[-1]
            if key not in arrays:
                sys.exit(f"export: {layer.name}: {key} missing in file (has {sorted(arrays)})")
            if tuple(arrays[key].shape) != tuple(w.shape):
                sys.exit(f"export: {layer.name}/{key}: shape {arrays[key].shape} in file, {w.shape} in model")
            values.append(arrays.pop(key))
        if arrays:
            sys.exit(f"export: {layer.name}: unused weights {sorted(arrays)}")
        layer.set_weights(values)
        loaded += 1
    if saved:
        sys.exit(f"export: weights for layers not in the model: {sorted(saved)[:5]}")
    return loaded


def architecture(model):
    """The rebuilt graph as a plain table, checked against the notebook's model.json in Go tests."""
    rows = []
    for layer in model.layers:
        cfg = layer.get_config()
        row = {"name": layer.name, "class": type(layer).__name__, "inbound": []}
        for node in layer._inbound_nodes:
            for t in node.input_tensors:
                row["inbound"].append(t._keras_history.operation.name)
        for key in ("filters", "kernel_size", "strides", "padding", "use_bias", "epsilon", "center", "scale", "pool_size", "units", "activation", "rate"):
            if key in cfg:
                row[key] = cfg[key]
        if isinstance(layer, ScaleSum):
            row["class"] = "Lambda"
            row["scale"] = layer.scale
        rows.append(row)
    return rows


def signature_names(export_dir, tag, signature):
    from tensorflow.python.tools import saved_model_utils

    meta = saved_model_utils.get_meta_graph_def(export_dir, tag)
    sig = meta.signature_def[signature]
    if len(sig.inputs) != 1 or len(sig.outputs) != 1:
        sys.exit(f"export: signature {signature} has {len(sig.inputs)} inputs and {len(sig.outputs)} outputs, want 1 and 1")
    (inp,) = sig.inputs.values()
    (out,) = sig.outputs.values()
    return inp.name, out.name


def tensor_ref(name):
    op, _, index = name.partition(":")
    return {"op": op, "index": int(index or 0)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--spec", required=True, help="models/facenet.json: the manifest template")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    with open(args.spec) as f:
        manifest = json.load(f)
    with open(args.weights, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != manifest["weights_sha256"]:
        sys.exit(f"export: {args.weights} has sha256 {digest}, want {manifest['weights_sha256']}")

    shape = manifest["input"]
    model = inception_resnet_v1(shape["height"], shape["width"], shape["channels"], manifest["embedding_size"])
    if model.count_params() != manifest["parameters"]:
        sys.exit(f"export: model has {model.count_params()} parameters, want {manifest['parameters']}")
    loaded = load_h5_weights(model, args.weights)

    os.makedirs(args.out, exist_ok=True)
    saved_model = os.path.join(args.out, "saved_model")
    model.export(saved_model, format="tf_saved_model", verbose=False)
    tag = manifest["tags"][0]
    input_name, output_name = signature_names(saved_model, tag, manifest["signature"])

    # The model id names the weights actually exported, so a gallery encoded
    # with one export is never silently matched against another.
    h = hashlib.sha256()
    for w in model.weights:
        h.update(w.path.encode())
        h.update(np.ascontiguousarray(w.numpy()).tobytes())
    manifest["model_id"] = f"{manifest['name']}-{h.hexdigest()[:16]}"
    manifest["saved_model"] = "saved_model"
    manifest["input"]["tensor"] = tensor_ref(input_name)
    manifest["output"] = tensor_ref(output_name)
    manifest["weighted_layers"] = loaded
    manifest["exported_with"] = {"tensorflow": tf.__version__, "keras": keras.__version__}

    with open(os.path.join(args.out, "architecture.json"), "w") as f:
        json.dump(architecture(model), f, indent=1)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"export: {manifest['model_id']}: {loaded} weighted layers, {model.count_params()} parameters, "
          f"input {input_name}, output {output_name}")


if __name__ == "__main__":
    main()
