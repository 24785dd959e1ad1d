# `make run` runs the default study end to end and builds report.html; `make test` runs the
# test suite; `make cost-plan CONFIG=config/paper-pythia.yaml` prints a study's jobs, FLOPs,
# GPU-hours and peak memory from its config alone (nothing runs).
# All bootstrap .venv first and are idempotent.
#
# TORCH_SPEC picks the torch build: plain `torch` gives PyPI's default (CUDA on Linux x86_64).
# CI and CPU-only machines set e.g. TORCH_SPEC='torch==2.13.0'.
PYTHON ?= python3
TORCH_SPEC ?= torch
CORES ?= all
CONFIG ?= config.yaml
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint cost-plan clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# A first run shows each job's progress lines and Snakemake's "N of M steps", not its rule blocks.
run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --quiet rules host
	$(BIN)/snakemake --report report.html

# Snakemake's linter on every shipped study (each plans its own attack and round rules).
test: $(STAMP)
	$(BIN)/ruff check .
	for study in config.yaml config/*.yaml; do $(BIN)/snakemake --lint --configfile $$study || exit 1; done
	$(BIN)/pytest -n auto --dist loadgroup --no-loadscope-reorder --durations=25

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

cost-plan: $(STAMP)
	$(BIN)/python -m robustness_scaling.cost_plan --configfile $(CONFIG)

clean:
	rm -rf results logs .snakemake report.html
