#!/usr/bin/env bash
# open-set.sh lays out the open-set identification protocol over an
# LFW-style folder (<Name>/<Name>_NNNN.jpg; default ../shared/lfw-dev, the
# dev folds 1-5) as a gallery and a probe folder of links, then runs
# `facebatch eval` on them (docs/open-set.md):
#   gallery: the first photo of every identity with at least two photos;
#   probes:  their other photos (mated searches), and every photo of the
#            identities with a single photo (strangers, non-mated searches).
# With REFS=k, the gallery holds the first k photos of every identity with
# more than k, and the identities with k or fewer are the strangers.
# Usage: [REFS=k] scripts/open-set.sh FACEBATCH [IMAGES] [OUT] [eval flags...]
set -euo pipefail
facebatch=$1
repo=$(cd "$(dirname "$0")/.." && pwd)
images=${2:-$repo/../shared/lfw-dev/images}
out=${3:-$repo/out/eval-open-set}
shift $(($# < 3 ? $# : 3))
refs=${REFS:-1}
[ -d "$images" ] || { echo "open-set.sh: no image folder $images" >&2; exit 1; }

layout=$out/protocol
rm -rf "$layout"
mkdir -p "$layout/gallery" "$layout/probes"
for dir in "$images"/*/; do
	name=$(basename "$dir")
	mapfile -t photos < <(find "$dir" -maxdepth 1 -type f -name '*.jpg' | sort)
	[ ${#photos[@]} -gt 0 ] || continue
	mkdir -p "$layout/probes/$name"
	if [ ${#photos[@]} -le "$refs" ]; then
		for p in "${photos[@]}"; do ln -s "$p" "$layout/probes/$name/"; done
		continue
	fi
	mkdir -p "$layout/gallery/$name"
	for p in "${photos[@]:0:$refs}"; do ln -s "$p" "$layout/gallery/$name/"; done
	for p in "${photos[@]:$refs}"; do ln -s "$p" "$layout/probes/$name/"; done
done
exec "$facebatch" eval --gallery "$layout/gallery" --probes "$layout/probes" --out "$out" \
	--gallery-sizes 100,300 "$@"
