"""Write what the PyPI package mtcnn==1.0.0 detects in some images, as JSON.

The Go detector's test (detector/mtcnn_test.go) compares itself with this
file, detector/testdata/mtcnn_reference.json. Regenerate it with the setup
venv (which has the package: scripts/setup.sh installs it):

    $FACEBATCH_VENV/bin/python models/mtcnn_reference.py --root ../shared \
        --out detector/testdata/mtcnn_reference.json IMAGE...

The package gets the pixels facebatch's decoder gives (JPEGs through
libjpeg's accurate integer DCT, as decoder.Decode), so the comparison is of
the detectors alone. Image paths are stored relative to --root. An image
written PATH@X0,Y0,X1,Y1 is cut to that rectangle first (a non-square
input; the Go test takes the same sub-image, whose coordinates start at
X0,Y0, and expects the boxes shifted by that much). Boxes are the package's float
[x1, y1, x2, y2] and its rounded JSON [x, y, width, height]; keypoints are
floats in the package's order (left_eye, right_eye, nose, mouth_left,
mouth_right).
"""

import argparse
import json
import os
import types

import numpy as np
import tensorflow as tf


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="image paths are written relative to this folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("images", nargs="+")
    args = ap.parse_args()

    from mtcnn import MTCNN
    from mtcnn.metadata import __version__ as version
    import mtcnn.utils.bboxes as bboxes

    det = MTCNN()
    numpy_order = bboxes.np
    stable_order = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    stable_order.argsort = lambda a, *args, **kw: np.argsort(a, kind="stable")

    def detect(img, order):
        bboxes.np = order
        try:
            rows = det.detect_faces(img, box_format="xyxy", output_type="numpy")  # [id, x1,y1,x2,y2, conf, lx.., ly..]
        finally:
            bboxes.np = numpy_order
        return rows[np.argsort(-rows[:, 5], kind="stable")] if len(rows) else rows

    images = []
    for spec in args.images:
        path, _, cut = spec.partition("@")
        data = tf.io.read_file(path)
        if path.lower().endswith((".jpg", ".jpeg")):
            img = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE").numpy()
        else:
            img = tf.image.decode_image(data, channels=3).numpy()
        x0 = y0 = 0
        if cut:
            x0, y0, x1, y1 = (int(v) for v in cut.split(","))
            img = np.ascontiguousarray(img[y0:y1, x0:x1])
        rows = detect(img, stable_order)
        default = detect(img, numpy_order)
        ties = default.shape != rows.shape or not np.allclose(default, rows, atol=1e-3)
        faces = []
        for r in rows:
            x1, y1, x2, y2, conf = (float(v) for v in r[1:6])
            faces.append({
                "box_xyxy": [x1 + x0, y1 + y0, x2 + x0, y2 + y0],
                "box": [int(v) for v in np.round([x1, y1, x2 - x1, y2 - y1]) + [x0, y0, 0, 0]],
                "confidence": conf,
                "keypoints": [[float(r[6 + i]) + x0, float(r[11 + i]) + y0] for i in range(5)],
            })
        images.append({
            "image": os.path.relpath(path, args.root),
            "cut": [x0, y0, x0 + int(img.shape[1]), y0 + int(img.shape[0])] if cut else None,
            "width": int(img.shape[1]),
            "height": int(img.shape[0]),
            "tie_order_matters": bool(ties),
            "faces": faces,
        })
        print(f"{spec}: {len(faces)} faces" + (" (numpy's tie order gives another answer)" if ties else ""))
    with open(args.out, "w") as f:
        json.dump({"package": f"mtcnn=={version}", "tensorflow": tf.__version__, "images": images}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
