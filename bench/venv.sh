#!/usr/bin/env bash
# venv.sh makes the Python venv the benchmark baselines run in (apache-beam
# 2.77.0 beside the tensorflow-cpu 2.21.0 wheel setup.sh downloaded and
# verified), idempotently, and prints its python. It is separate from the
# setup venv, which the build and tests use and which must not change for a
# benchmark. A second run checks a stamp and takes a moment.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${FACEBATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/facebatch}
python=${PYTHON:-python3.11}
wheel=$cache/downloads/tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl
reqs=$repo/bench/requirements.txt

venv=$cache/bench-venv-$(cat "$reqs" "$0" | sha256sum | cut -c1-12)
if [ ! -f "$venv/.complete" ]; then
	[ -f "$wheel" ] || { echo "venv.sh: $wheel missing: run scripts/setup.sh first" >&2; exit 1; }
	echo "venv.sh: creating $venv (apache-beam 2.77.0; a few minutes)" >&2
	rm -rf "$venv"
	"$python" -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check -c "$reqs" "$wheel" apache-beam==2.77.0 pillow
	"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -c "$reqs" tensorflow-hub tf_keras
	"$venv/bin/python" -c 'import apache_beam.ml.inference.tensorflow_inference, keras.utils, pyarrow' 2>/dev/null ||
		{ echo "venv.sh: the baseline venv does not import Beam's TensorFlow handler" >&2; exit 1; }
	touch "$venv/.complete"
fi
echo "$venv/bin/python"
