# Two entry points: `make demo` (the main job, no download) and `make test` (the whole suite).
# Also: `make docs` (the site in docs/_build/html; the suite builds it too, tests/test_docs.py)
# and `make lab` (JupyterLab on notebooks/ with this environment).
# Each creates .venv when missing; torch==2.13.0 goes first (a local CPU build on these machines;
# an unpinned torch would pull a multi-GB CUDA build).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.featx-installed

# The options tests/test_docs.py uses too: fresh read, nitpicky references, full traceback (shows
# a failing notebook cell), warnings are errors (all of them listed), quiet.
SPHINXOPTS ?= -E -n -T -W --keep-going -q

.PHONY: demo test lint docs lab

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,widgets,scale,convert,docs]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/featx demo

lint: $(STAMP)
	$(VENV)/bin/ruff check featx tests benchmarks conftest.py docs

test: lint
	$(PY) -m pytest -q

docs: $(STAMP)
	$(PY) -m sphinx -b html $(SPHINXOPTS) docs docs/_build/html
	@echo "open docs/_build/html/index.html"

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/
