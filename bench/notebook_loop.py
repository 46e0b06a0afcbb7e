"""Baseline: the course notebook's way of identifying photos, on the same
SavedModel the Go jobs use.

For each image: Keras' load_img (whole image, NEAREST resize to 160x160),
x/255, the model on a batch of one, L2 normalisation, then who_is_it: a
Python loop over the gallery dict with np.linalg.norm. The gallery dict is
built the same way from the gallery photos, before the clock starts.

Prints one JSON line: images, seconds (the loop), total_seconds (including
imports and model load).
"""
import argparse
import json
import os
import time

START = time.time()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras.utils import img_to_array, load_img  # noqa: E402


def img_to_encoding(path, model):
    img = load_img(path, target_size=(160, 160))
    x = np.array([img_to_array(img) / 255.0], dtype=np.float32)
    emb = model.serve(tf.constant(x)).numpy()
    return emb / np.linalg.norm(emb)


def who_is_it(encoding, database):
    min_dist, identity = 100.0, None
    for name, db_enc in database.items():
        dist = np.linalg.norm(encoding - db_enc)
        if dist < min_dist:
            min_dist, identity = dist, name
    return min_dist, identity


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="SavedModel folder")
    ap.add_argument("--gallery", required=True, help="folder of <identity>/<photo>")
    ap.add_argument("--list", required=True, help="file of image paths, one per line")
    args = ap.parse_args()
    model = tf.saved_model.load(args.model)
    database = {}
    for ident in sorted(os.listdir(args.gallery)):
        folder = os.path.join(args.gallery, ident)
        for name in sorted(os.listdir(folder)):
            database[f"{ident}/{name}"] = img_to_encoding(os.path.join(folder, name), model)
    with open(args.list) as f:
        paths = [line.strip() for line in f if line.strip()]
    start = time.time()
    for path in paths:
        who_is_it(img_to_encoding(path, model), database)
    end = time.time()
    print(json.dumps({"images": len(paths), "seconds": end - start, "total_seconds": end - START}))


if __name__ == "__main__":
    main()
