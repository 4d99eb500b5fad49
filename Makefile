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

.PHONY: demo dev test lint bench install bytecode lock check-lock clean

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

install: $(STAMP) bytecode

## The project's own modules compiled to bytecode, as an installed wheel's are. The editable install
## leaves them as sources, and where PYTHONDONTWRITEBYTECODE is set (this machine, many CI images) every
## command compiled ~150 of them again: ~0.12 s of CPU in each CLI's start-up. Up to date it costs
## ~0.04 s; a module edited since is compiled again here.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q sync_platform

## Re-resolve every dependency to its newest allowed version and install the result.
lock: $(UV)
	$(UV) lock --upgrade --python $(PYTHON)
	$(UV) sync --locked --extra dev --python $(PYTHON) --quiet
	@touch $(STAMP)

## The main job on embedded defaults: no server, no key, no setup.
## Options go in ARGS, e.g. make demo ARGS="--destination google_sheets".
demo: $(STAMP) bytecode
	$(BIN)/sync-platform demo $(ARGS)

## The local platform: Dagster UI + daemon, webhook receiver, emulator, embedded PostgreSQL.
dev: $(STAMP) bytecode
	$(BIN)/sync-platform dev $(ARGS)

## The whole test suite, slow end-to-end tests included, on two workers (each with its own
## embedded PostgreSQL); PYTEST_ARGS adds options, e.g. make test PYTEST_ARGS="-k runner -n 0".
## Each run gets its own temporary directory: pytest's shared /tmp/pytest-of-<user> keeps only the
## last three runs' directories, so a second suite started meanwhile would delete this one's.
test: $(STAMP) bytecode
	$(BIN)/ruff check .
	@tmp=$$(mktemp -d -t sync-platform-tests.XXXXXX); \
	$(BIN)/python -m pytest -n 2 --dist worksteal --basetemp="$$tmp" $(PYTEST_ARGS); \
	status=$$?; rm -rf "$$tmp"; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP) bytecode
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache
