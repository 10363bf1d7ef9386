# Two commands do everything on a fresh machine (see README.md):
#   make demo   set up .venv, then run the demo study (synthetic data) end to end
#   make test   set up .venv, then run the whole test suite, slow tests included (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATASET ?= skin

.PHONY: setup browser postgres demo test test-fast test-slow benchmarks clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else "medseglab needs Python 3.11, found %d.%d: set PYTHON=python3.11" % v)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# The dashboard's browser tests drive Debian's chromium through Playwright (which downloads no browser
# here); installed once on a fresh Debian machine (CI), a no-op where chromium is on PATH.
browser:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

# The tuning tests start a real PostgreSQL server (tests/tuning/conftest.py): Debian's postgresql, installed
# once on a fresh Debian machine (CI); a no-op where initdb is on PATH or in /usr/lib/postgresql/<version>/bin.
postgres:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update && apt-get install -y postgresql)

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/mlflow run . -P dataset=$(DATASET) --env-manager local

# Everything, slow tests too (real trainings, mlflow run, the DVC pipeline). pytest's exit code 5
# (no tests collected) fails make like any other failure.
test: setup browser postgres
	MEDSEGLAB_NO_PROGRESS=1 $(BIN)/python -m pytest -q --durations=15

# For developers: the quick part (no real trainings), or only the slow part.
test-fast: setup browser
	MEDSEGLAB_NO_PROGRESS=1 $(BIN)/python -m pytest -q -m "not slow"

test-slow: setup browser postgres
	MEDSEGLAB_NO_PROGRESS=1 $(BIN)/python -m pytest -q -m slow --durations=0

clean:
	rm -rf $(VENV) mlflow.db mlartifacts data results reports checkpoints optuna.db tuning
