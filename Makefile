# Every target here is what CI and the README run. `make test` and `make demo` install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test demo lint bench bench-scale sample clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check src tests flows bench
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile --durations=10

demo: $(STAMP)
	$(BIN)/wow demo

lint: $(STAMP)
	$(BIN)/ruff check src tests flows bench

# Regenerate the bundled synthetic sample (docs/sample.md); byte-identical for the same generator.
sample: $(STAMP)
	rm -rf data/sample
	$(BIN)/wow generate --out data/sample --clinicians 12 --days 45 --seed 7 --start 2026-02-01

bench: $(STAMP)
	$(BIN)/python bench/nightly_increment.py

bench-scale: $(STAMP)
	$(BIN)/python bench/scale.py --sizes 1M,10M --repeats 3

clean:
	rm -rf $(VENV) warehouse .pytest_cache
