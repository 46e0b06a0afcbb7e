#!/usr/bin/env bash
# peer-venv.sh makes the venv the face_recognition peer runs in
# (bench/requirements-peer.txt, every file hash-checked), idempotently, and
# prints its python. A second run checks a stamp and takes a moment.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${FACEBATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/facebatch}
python=${PYTHON:-python3.11}
reqs=$repo/bench/requirements-peer.txt

venv=$cache/peer-venv-$(cat "$reqs" "$0" | sha256sum | cut -c1-12)
if [ ! -f "$venv/.complete" ]; then
	echo "peer-venv.sh: creating $venv (face_recognition 1.3.0, dlib 20.0.1; about a minute)" >&2
	rm -rf "$venv"
	"$python" -m venv "$venv"
	# face_recognition_models is a source archive: it is built with the
	# venv's own setuptools and the pinned wheel, not fresh unpinned ones.
	grep '^wheel==' "$reqs" >"$venv/wheel.txt"
	"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes -r "$venv/wheel.txt"
	"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation --require-hashes -r "$reqs"
	"$venv/bin/python" -c 'import face_recognition, dlib' ||
		{ echo "peer-venv.sh: the peer venv does not import face_recognition" >&2; exit 1; }
	touch "$venv/.complete"
fi
echo "$venv/bin/python"
