"""face_recognition (dlib) on facebatch's open-set protocol, for comparison.

Runs the tool users would pick instead of facebatch on the same gallery and
probe folders `facebatch eval` scores (scripts/open-set.sh lays them out):
dlib's HOG detector finds the faces (upsampling once, face_recognition's
default), the photo's subject is the face facebatch would pick (largest
area less twice the squared distance of its centre from the photo's
centre), a photo without a face is encoded whole (as facebatch does), and
dlib's ResNet encodes it. Distances are face_recognition's: Euclidean
between its raw encodings. The open-set arithmetic is facebatch's
(evaluation/openset.go): FNIR (mated searches not named right) at the
largest threshold whose FPIR (strangers named) is at most the target.

Usage: python face_recognition_peer.py GALLERY PROBES OUT.json [--cpus N]
       python face_recognition_peer.py encode LIST OUT.json [--cpus N]

The second form encodes the photos a list file names, one per line, the
same way, and writes {"encodings": [[...128 floats]...], "found": [...],
"seconds": ...} in list order: `make bench` scores them on lfw-dev's pairs
with facebatch's own k-fold arithmetic (evaluation.KFold), so the peer's
accuracy and facebatch eval's come from one protocol.
Runs in bench/peer-venv.sh's venv; nothing in facebatch needs it.
"""

import argparse
import json
import math
import multiprocessing
import os
import sys
import time

import face_recognition
import numpy as np

FPIRS = (0.01, 0.001)


def photos(root):
    """(identity, path) for <identity>/<photo> under root, sorted."""
    out = []
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if name.startswith(".") or not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if f.lower().endswith((".jpg", ".jpeg", ".png")):
                out.append((name, os.path.join(d, f)))
    return out


def encode(path):
    """The subject's encoding, and whether a face was found."""
    img = face_recognition.load_image_file(path)
    h, w = img.shape[:2]
    boxes = face_recognition.face_locations(img)  # (top, right, bottom, left)

    def score(b):
        top, right, bottom, left = b
        dx, dy = (left + right - w) / 2, (top + bottom - h) / 2
        return (right - left) * (bottom - top) - 2 * (dx * dx + dy * dy)

    found = bool(boxes)
    box = max(boxes, key=score) if found else (0, w, h, 0)
    enc = face_recognition.face_encodings(img, known_face_locations=[box])
    return enc[0].astype(np.float32), found


def at_fpir(mated, nonmated, target):
    """facebatch's AtFPIR: threshold, FNIR, FPIR."""
    k = int(math.floor(target * len(nonmated) + 1e-9))
    s = np.sort(nonmated)
    t = float(s[k]) if k < len(s) else float("inf")
    fpir = float(np.mean(nonmated < t))
    fnir = 1 - float(np.mean(mated < t))
    return {"target_fpir": target, "threshold": t, "fpir": fpir, "fnir": fnir}


def encode_all(cpus, *path_lists):
    """encode over each list on one pool of cpus processes; the results per
    list, and the seconds it all took."""
    start = time.time()
    with multiprocessing.Pool(cpus) as pool:
        res = [pool.map(encode, paths, chunksize=8) for paths in path_lists]
    return res, time.time() - start


def encode_list():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("list")
    ap.add_argument("out")
    ap.add_argument("--cpus", type=int, default=os.cpu_count())
    a = ap.parse_args()
    with open(a.list) as f:
        paths = [line.strip() for line in f if line.strip()]
    (res,), secs = encode_all(a.cpus, paths)
    with open(a.out, "w") as f:
        json.dump({"encodings": [e.tolist() for e, _ in res], "found": [bool(x) for _, x in res], "seconds": secs}, f)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "encode":
        return encode_list()
    ap = argparse.ArgumentParser()
    ap.add_argument("gallery")
    ap.add_argument("probes")
    ap.add_argument("out")
    ap.add_argument("--cpus", type=int, default=os.cpu_count())
    a = ap.parse_args()

    gal, probes = photos(a.gallery), photos(a.probes)
    (g, p), secs = encode_all(a.cpus, [p for _, p in gal], [p for _, p in probes])

    ids = [i for i, _ in gal]
    genc = np.stack([e for e, _ in g])
    enrolled = set(ids)
    mated, nonmated, right = [], [], 0
    for (identity, _), (enc, _) in zip(probes, p):
        d = np.linalg.norm(genc - enc, axis=1)
        # An identity's distance is the minimum over its photos.
        best = {}
        for i, v in zip(ids, d):
            best[i] = min(best.get(i, math.inf), float(v))
        nearest = min(best, key=best.get)
        if identity in enrolled:
            ok = nearest == identity
            right += ok
            mated.append(best[nearest] if ok else math.inf)
        else:
            nonmated.append(best[nearest])
    mated, nonmated = np.array(mated), np.array(nonmated)
    res = {
        "tool": "face_recognition 1.3.0 (dlib %s, HOG detector, upsample 1)" % face_recognition.api.dlib.__version__,
        "gallery_identities": len(enrolled),
        "gallery_photos": len(gal),
        "gallery_without_face": sum(not f for _, f in g),
        "probes": len(probes),
        "probes_without_face": sum(not f for _, f in p),
        "mated_searches": len(mated),
        "non_mated_searches": len(nonmated),
        "rank1_rate": right / len(mated),
        "at_fpir": [at_fpir(mated, nonmated, f) for f in FPIRS],
        "encode_seconds": secs,
        "photos_per_second": (len(gal) + len(probes)) / secs,
        "cpus": a.cpus,
    }
    with open(a.out, "w") as f:
        json.dump(res, f, indent=2)
    print(
        "face_recognition: %d identities, %d mated, %d strangers; rank-1 %.2f%%; %s; %.1f photos/s on %d processes"
        % (
            len(enrolled), len(mated), len(nonmated), 100 * res["rank1_rate"],
            ", ".join("FNIR %.2f%% at FPIR %g%% (%.3f)" % (100 * x["fnir"], 100 * x["target_fpir"], x["threshold"]) for x in res["at_fpir"]),
            res["photos_per_second"], a.cpus,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
