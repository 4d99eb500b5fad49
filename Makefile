# Every target installs exactly what uv.lock pins into .venv on first use (and again whenever
# pyproject.toml or uv.lock changes), so a fresh clone runs with the versions the suite was run with.
# uv itself is pinned here and bootstrapped into .tools with the machine's Python.
PYTHON     ?= python3
UV_VERSION := 0.13.9
TOOLS      := .tools
UV         := $(TOOLS)/bin/uv
VENV       := .venv
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.installed

# Use the machine's Python (never a download), install into .venv, from the lock only. Compile
# bytecode at install: where PYTHONDONTWRITEBYTECODE is set (CI images often set it), nothing would
# ever be cached and every command would compile its imports again (~0.9 s of a CLI's start-up).
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_COMPILE_BYTECODE := 1

LOCK_DRIFT := uv.lock does not match pyproject.toml (a dependency was added, removed or re-bounded). \
Run 'make lock' and commit uv.lock.

.PHONY: demo dev test lint bench install lock check-lock clean

$(UV):
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --only-binary :all: uv==$(UV_VERSION)

## Fails, naming the fix, when pyproject.toml and uv.lock disagree.
check-lock: $(UV)
	@$(UV) lock --check --python $(PYTHON) --quiet || { echo "error: $(LOCK_DRIFT)" >&2; exit 1; }

$(STAMP): pyproject.toml uv.lock | $(UV)
	@$(MAKE) --no-print-directory check-lock
	$(UV) sync --locked --extra dev --python $(PYTHON) --quiet
	@touch $(STAMP)

install: $(STAMP)

## Re-resolve every dependency to its newest allowed version and install the result.
lock: $(UV)
	$(UV) lock --upgrade --python $(PYTHON)
	$(UV) sync --locked --extra dev --python $(PYTHON) --quiet
	@touch $(STAMP)

## The main job on embedded defaults: no server, no key, no setup.
## Options go in ARGS, e.g. make demo ARGS="--destination google_sheets".
demo: $(STAMP)
	$(BIN)/sync-platform demo $(ARGS)

## The local platform: Dagster UI + daemon, webhook receiver, emulator, embedded PostgreSQL.
dev: $(STAMP)
	$(BIN)/sync-platform dev $(ARGS)

## The whole test suite, slow end-to-end tests included, on two workers (each with its own
## embedded PostgreSQL); PYTEST_ARGS adds options, e.g. make test PYTEST_ARGS="-k runner -n 0".
## Each run gets its own temporary directory: pytest's shared /tmp/pytest-of-<user> keeps only the
## last three runs' directories, so a second suite started meanwhile would delete this one's.
test: $(STAMP)
	$(BIN)/ruff check .
	@tmp=$$(mktemp -d -t sync-platform-tests.XXXXXX); \
	$(BIN)/python -m pytest -n 2 --dist worksteal --basetemp="$$tmp" $(PYTEST_ARGS); \
	status=$$?; rm -rf "$$tmp"; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache
