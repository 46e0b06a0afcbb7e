#!/bin/sh
# beam-boot.sh: the command of a PROCESS environment (--environment_type=PROCESS
# --environment_config='{"command":"<path>/scripts/beam-boot.sh"}').
# It runs Beam's Go SDK boot loader (bin/beam-boot, built by `make build` from
# github.com/apache/beam/sdks/v2/go/container at the pinned Beam version),
# which fetches the staged worker binary (--worker_binary=bin/facebatch) and
# starts it as an SDK worker.
#
# Prism passes --id='job-001[...]_go' with literal quotes; the boot loader
# would send them on and the runner would not know the worker (the job hangs
# in RUNNING), so they are stripped here.
boot=${FACEBATCH_BEAM_BOOT:-$(dirname "$0")/../bin/beam-boot}
for arg do
	shift
	set -- "$@" "$(printf '%s' "$arg" | sed -e "s/^\(--[a-z_]*=\)[\"']\(.*\)[\"']\$/\1\2/")"
done
exec "$boot" "$@"
