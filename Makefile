# Every target creates .venv on first use and installs the project into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo dev test lint bench install clean

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## The main job on embedded defaults: no server, no key, no setup.
## Options go in ARGS, e.g. make demo ARGS="--destination google_sheets".
demo: $(STAMP)
	$(BIN)/sync-platform demo $(ARGS)

## The local platform: Dagster UI + daemon, webhook receiver, emulator, embedded PostgreSQL.
dev: $(STAMP)
	$(BIN)/sync-platform dev $(ARGS)

## The whole test suite, slow end-to-end tests included.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
