# Two entry points: `make demo` (the main job, no download) and `make test` (the whole suite).
# Each creates .venv when missing; torch==2.13.0 goes first (a local CPU build on these machines;
# an unpinned torch would pull a multi-GB CUDA build).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.featx-installed

.PHONY: demo test lint

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,widgets,scale,convert]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/featx demo

lint: $(STAMP)
	$(VENV)/bin/ruff check featx tests benchmarks conftest.py

test: lint
	$(PY) -m pytest -q
