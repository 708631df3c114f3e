# The two commands of the README. Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test bench

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

test: $(VENV)/.test-installed  ## lint, type-check, then every test with coverage (CLI subprocesses too)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q --cov=evoprompt --durations=15 $(ARGS)

bench: $(VENV)/.test-installed  ## the performance benchmark; writes benchmarks/RESULTS.md
	$(PY) benchmarks/run.py $(ARGS)
