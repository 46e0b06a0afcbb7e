# facebatch: `make demo` runs the job on bundled sample data, `make test` runs
# the tests. Both install what they need first (scripts/setup.sh: idempotent,
# about a second when everything is in place).

SHELL := /bin/bash
ENV_FILE := .facebatch.env
# Every Go command runs with the cgo flags for the TensorFlow C library.
GO := source ./$(ENV_FILE) && go

.PHONY: all setup build test bench demo vet clean eval-open-set loadtest

all: build

setup:
	@scripts/setup.sh $(CURDIR)/$(ENV_FILE)

# bin/beam-boot is Beam's SDK boot loader, for --environment_type=PROCESS
# (see scripts/beam-boot.sh).
build: setup
	$(GO) build -o bin/facebatch ./cmd/facebatch
	$(GO) build -o bin/beam-boot github.com/apache/beam/sdks/v2/go/container

vet: setup
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

test: setup vet
	$(GO) test -count=1 -timeout 60m ./...

# bench: the throughput report (bench/main.go; docs/benchmarks.md). The
# Python baselines and the face_recognition peer run in their own cached
# venvs (bench/venv.sh, bench/peer-venv.sh).
# BENCH_QUICK=1 is a smoke run with tiny sizes; BENCH_SCALE=1m adds the
# million-face nightly loop (section 7); BENCH_FLAGS passes more flags.
BENCH_FLAGS ?=
BENCH_SCALE_1M := -scale 100000,1000000
bench: build
	$(GO) build -o bin/bench ./bench
	py=$$(bench/venv.sh) && peer=$$(bench/peer-venv.sh) && source ./$(ENV_FILE) && \
		bin/bench -facebatch bin/facebatch -python "$$py" -peer-python "$$peer" \
		$(if $(BENCH_QUICK),-quick) $(if $(filter 1m,$(BENCH_SCALE)),$(BENCH_SCALE_1M)) $(BENCH_FLAGS)

# loadtest: identify over 10,000 generated photos on a fake GCS server with
# 5% of requests failing, a 2-minute outage and one killed run; every
# photo must come out exactly once (scripts/loadtest). About 6 minutes.
LOADTEST_FLAGS ?=
loadtest: build
	$(GO) run ./scripts/loadtest -facebatch bin/facebatch $(LOADTEST_FLAGS)

demo: build
	scripts/demo.sh bin/facebatch

# eval-open-set: 1:N identification with strangers on lfw-dev (FNIR at FPIR
# 1% and 0.1%, rank-1, at gallery sizes 100, 300 and all; docs/open-set.md).
# EVAL_FLAGS passes more `facebatch eval` flags.
EVAL_FLAGS ?=
eval-open-set: build
	source ./$(ENV_FILE) && scripts/open-set.sh bin/facebatch "" "" $(EVAL_FLAGS)

clean:
	rm -rf bin out $(ENV_FILE)
