# The two commands of the README, and the fast tier. Each creates .venv and installs what it
# needs on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The fast tier: every test but the heavy ones, which carry these markers (docs/testing.md).
FAST := not slow and not local_model and not ray and not llama_server and not mlflow
# Workers: the fast tests mostly wait (sleeps, subprocesses, loopback servers), so twice the
# cores of a 2-core machine keeps both busy. The full suite also runs the embedded model and
# llama.cpp, which want the cores: one worker per core (4 timed out there on a loaded machine).
# A file's tests stay on one worker (--dist loadfile): its module-scoped fixtures (experiments
# made by real runs, a started server) are built once. Files are handed out heaviest first
# (--no-loadscope-reorder keeps the order tests/conftest.py sets), so no long file starts last.
WORKERS ?= 4
TEST_WORKERS ?= auto

.PHONY: run check test coverage bench lint types fast-tests all-tests

$(VENV)/.run-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[local,report]'
	touch $@

$(VENV)/.test-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[local,test,ray]'
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed  ## an experiment on the default config (ARGS="--flags ...")
	$(PY) main.py $(ARGS)

check: $(VENV)/.test-installed  ## lint, type-check and the fast tests, side by side (< 3 min)
	@$(MAKE) --no-print-directory -j3 --output-sync=target lint types fast-tests

test: $(VENV)/.test-installed  ## lint, type-check, every test
	@$(MAKE) --no-print-directory -j3 --output-sync=target lint types all-tests

# Coverage is its own target: following every CLI subprocess costs about half again their CPU,
# and the full suite is CPU-bound (docs/testing.md).
coverage: $(VENV)/.test-installed  ## every test, with the coverage of evoprompt (CLI subprocesses too)
	@$(MAKE) --no-print-directory all-tests COV="--cov=evoprompt"

lint:
	$(VENV)/bin/ruff check .

types:
	$(VENV)/bin/mypy

fast-tests:
	$(PY) -m pytest -q -n $(WORKERS) -m "$(FAST)" $(ARGS)

all-tests:
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(COV) \
		--durations=15 $(ARGS)

bench: $(VENV)/.test-installed  ## the performance benchmark; writes benchmarks/RESULTS.md
	$(PY) benchmarks/run.py $(ARGS)
