# The two commands the README opens with: `make run` and `make test`.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
export SIAGA_DATA_DIR ?= .siaga
PYTEST_WORKERS ?= auto

.PHONY: run test lint typecheck unit bench docs clean

$(STAMP): pyproject.toml
	@bash scripts/ensure-python.sh
	@test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	@bash scripts/demo.sh

test: $(STAMP)
	@bash scripts/ensure-test-services.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

docs: $(STAMP)
	$(BIN)/python scripts/gen_spec_docs.py

bench: $(STAMP)
	@bash scripts/ensure-test-services.sh
	@bash scripts/ensure-bench-tools.sh
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/probes.py

clean:
	rm -rf $(VENV) .siaga .pytest_cache .mypy_cache .ruff_cache
