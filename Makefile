# The two commands of the README's quick start: `make demo` and `make test`.
# Each creates .venv if needed and installs everything into it (editable), so a fresh clone
# needs nothing but Python >= 3.10.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(wildcard plugins/flowhook-*)
PY_DIRS := $(wildcard src hookspec testing plugins tests examples benchmarks docs)
INSTALL_STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck docs benchmarks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALL_STAMP): $(BIN)/python setup.cfg pyproject.toml hookspec/pyproject.toml testing/pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(BIN)/python -m pip install --quiet -e ./hookspec -e ./testing -e '.[test]' $(foreach p,$(PLUGINS),-e '$(p)[test]')
	touch $(INSTALL_STAMP)

install: $(INSTALL_STAMP)

demo: install
	$(BIN)/python examples/demo.py
	$(BIN)/flowhook runs ls --limit 5

lint: install
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)

typecheck: install
	$(BIN)/mypy

# The documentation site (Sphinx, MyST Markdown). Warnings are errors; -E re-reads every page,
# so that a change in the code the pages are generated from (hookspecs, CLI) always shows.
docs: install
	$(BIN)/sphinx-build -E -W --keep-going -b html docs docs/_build/html

test: install lint typecheck docs
	$(BIN)/python -m pytest tests $(foreach p,$(PLUGINS),$(p)/tests)

benchmarks: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info hookspec/src/*.egg-info testing/src/*.egg-info docs/_build
