"""Baseline: Beam Python's RunInference with its TensorFlow model handler,
on the DirectRunner, with the same SavedModel and the same images.

read (fileio) -> decode and resize (Keras load_img, as the notebook) ->
RunInference(TFModelHandlerTensor, batches of 8..32) -> nearest gallery
identity (numpy over the gallery matrix) -> Parquet.

TFModelHandlerTensor loads through tf.keras.models.load_model, which Keras 3
refuses for a SavedModel, so load_model is overridden with
tf.saved_model.load and the inference function calls the serving endpoint.

Prints one JSON line: images, seconds (the pipeline run minus the model
load), total_seconds (including imports).
"""
import argparse
import io
import json
import os
import time

START = time.time()

import apache_beam as beam  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import tensorflow as tf  # noqa: E402
from apache_beam.io import fileio  # noqa: E402
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference  # noqa: E402
from apache_beam.ml.inference.tensorflow_inference import TFModelHandlerTensor  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from keras.utils import img_to_array, load_img  # noqa: E402

LOAD_SECONDS = []


class SavedModelHandler(TFModelHandlerTensor):
    def load_model(self):
        t = time.time()
        model = tf.saved_model.load(self._model_uri)
        LOAD_SECONDS.append(time.time() - t)
        return model


def infer(model, batch, inference_args, model_id=None):
    out = model.serve(tf.stack(batch)).numpy()
    return [PredictionResult(x, y, model_id) for x, y in zip(batch, out)]


def decode(readable_file):
    img = load_img(io.BytesIO(readable_file.read()), target_size=(160, 160))
    return readable_file.metadata.path, tf.constant(img_to_array(img) / 255.0, dtype=tf.float32)


class Match(beam.DoFn):
    def __init__(self, names, matrix):
        self.names, self.matrix = names, matrix

    def process(self, keyed):
        path, result = keyed
        emb = result.inference / np.linalg.norm(result.inference)
        dists = np.linalg.norm(self.matrix - emb, axis=1)
        i = int(np.argmin(dists))
        yield {"image_uri": path, "identity": self.names[i], "distance": float(dists[i])}


def gallery(model_dir, folder):
    model = tf.saved_model.load(model_dir)
    names, encs = [], []
    for ident in sorted(os.listdir(folder)):
        for name in sorted(os.listdir(os.path.join(folder, ident))):
            img = load_img(os.path.join(folder, ident, name), target_size=(160, 160))
            x = np.array([img_to_array(img) / 255.0], dtype=np.float32)
            emb = model.serve(tf.constant(x)).numpy()[0]
            names.append(ident)
            encs.append(emb / np.linalg.norm(emb))
    return names, np.stack(encs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--gallery", required=True)
    ap.add_argument("--list", required=True)
    ap.add_argument("--output", required=True)
    args = ap.parse_args()
    names, matrix = gallery(args.model, args.gallery)
    with open(args.list) as f:
        paths = [line.strip() for line in f if line.strip()]
    handler = SavedModelHandler(args.model, inference_fn=infer, min_batch_size=8, max_batch_size=32)
    schema = pa.schema([("image_uri", pa.string()), ("identity", pa.string()), ("distance", pa.float64())])
    start = time.time()
    with beam.Pipeline(options=PipelineOptions(flags=[], runner="DirectRunner")) as p:
        _ = (
            p
            | beam.Create(paths)
            | fileio.MatchAll()
            | fileio.ReadMatches()
            | beam.Map(decode)
            | RunInference(KeyedModelHandler(handler))
            | beam.ParDo(Match(names, matrix))
            | beam.io.WriteToParquet(os.path.join(args.output, "results"), schema, file_name_suffix=".parquet")
        )
    end = time.time()
    print(json.dumps({
        "images": len(paths),
        "seconds": end - start - sum(LOAD_SECONDS),
        "total_seconds": end - START,
    }))


if __name__ == "__main__":
    main()
