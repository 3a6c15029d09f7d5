# Every target sets up the project's virtual environment first (from pyproject.toml) when it is missing or stale.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/sample.yaml
N ?=
PYTEST_ARGS ?=

.PHONY: venv chromium build-corpus lint test bench train clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

build-corpus: $(STAMP)
	$(BIN)/medregion build $(CONFIG) $(if $(N),--n $(N))

# Headless Chromium for the quality-report test (Debian's package; needs root or sudo when missing).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -q
	$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

chromium: $(CHROMIUM)

# pyflakes, import order, line length 120 (pyproject's [tool.ruff]).
lint: $(STAMP)
	$(BIN)/ruff check .

test: lint $(CHROMIUM)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Trains a small RegionMed-CLIP on the sample corpus (built first when missing) and evaluates it.
train: $(STAMP)
	@test -f out/corpus/manifest.json || $(BIN)/medregion build configs/sample.yaml
	$(BIN)/medregion train configs/train_sample.yaml
	$(BIN)/medregion eval out/train_sample

# `make bench N=10000`: per-stage throughput, peak memory at N and at 1,000 studies, Ray beside a plain loop.
bench: $(STAMP)
	$(BIN)/python benchmarks/scale.py --n $(or $(N),10000)

clean:
	rm -rf out .pytest_cache
