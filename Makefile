# The two commands of the README's quick start: `make demo` and `make test`.
# Each creates .venv if needed and installs every Python package into it (editable), so a fresh
# clone needs nothing but Python >= 3.10. Only `make test` adds the programs the tests start
# (a PostgreSQL server, a headless Chromium: `make test-tools`); a demo needs neither.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(wildcard plugins/flowhook-*)
PY_DIRS := $(wildcard src hookspec testing plugins tests examples benchmarks docs)
INSTALL_STAMP := $(VENV)/.installed

.PHONY: install test-tools postgres-server chromium demo test lint typecheck docs benchmarks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALL_STAMP): $(BIN)/python setup.cfg pyproject.toml hookspec/pyproject.toml testing/pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(BIN)/python -m pip install --quiet -e ./hookspec -e ./testing -e '.[test]' $(foreach p,$(PLUGINS),-e '$(p)[test]')
	touch $(INSTALL_STAMP)

# The tests run the PostgreSQL store against a real server that they start themselves
# (tests/postgres_server.py): its binaries come from Debian's package, installed here when
# missing and we are root with apt-get (by `make test`, never by `make demo`). Elsewhere install
# PostgreSQL yourself (see the README).
postgres-server:
	@if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing the PostgreSQL server for the tests (apt-get install -y postgresql)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else \
	  echo "No PostgreSQL server found: install it (e.g. apt-get install postgresql, brew install postgresql) to run its tests"; \
	fi

# The web UI's tests drive a real headless browser: Debian's chromium, through Playwright
# (which downloads no browser of its own: the tests launch /usr/bin/chromium).
chromium:
	@if [ -x /usr/bin/chromium ]; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Chromium for the UI tests (apt-get install -y chromium)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "No /usr/bin/chromium found: install it (e.g. apt-get install chromium) to run the UI tests"; \
	fi

# The Python packages only: all a flow, the CLI, the UI and the demo need.
install: $(INSTALL_STAMP)

# The programs the tests start besides Python packages.
test-tools: postgres-server chromium

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

# Most tests wait on real processes, servers and timeouts (the serial suite used a quarter of
# one core): three workers, each module on one of them so that it shares its server or cluster.
test: install test-tools lint typecheck docs
	$(BIN)/python -m pytest -n 3 --dist loadfile tests $(foreach p,$(PLUGINS),$(p)/tests)

benchmarks: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info hookspec/src/*.egg-info testing/src/*.egg-info docs/_build
