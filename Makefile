# cardcash: `make run` serves GraphiQL on http://127.0.0.1:8000/graphql; `make test` runs the suite.
# Both create .venv and install the project on first use (and again when pyproject.toml changes).
# The bank provider SDK and kit are their own distribution in sdk/ (cardcash-bank-sdk).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# GraphiQL's pinned files (api/static/vendor.lock.json), downloaded once and verified; without
# them the server still runs and /graphql says how to install them.
ASSETS := api/static/vendor/.verified

.PHONY: install run test schema sdk-reference api-docs settings-docs bench lint clean

$(STAMP): pyproject.toml sdk/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ./sdk -e '.[dev]'
	@touch $(STAMP)

$(ASSETS): api/static/vendor.lock.json $(STAMP)
	@$(BIN)/cardcash assets && touch $@ || \
	  echo "make: GraphiQL's files are not installed; /graphql says how to install them"

install: $(STAMP) $(ASSETS)

run: install
	$(BIN)/cardcash migrate
	$(BIN)/cardcash seed
	$(BIN)/cardcash serve

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

schema: install
	$(BIN)/cardcash export-schema > schema.graphql
	$(BIN)/cardcash export-schema --admin > admin.graphql

# docs/sdk-reference.md, from the SDK's docstrings (a test fails when it is out of date).
sdk-reference: install
	$(BIN)/python -m providers.reference > docs/sdk-reference.md

# docs/api.md: the mini-program's documents walked against a server on the sandbox banks, the
# answers written in (a test fails when they differ from what the server answers now).
api-docs: install
	$(BIN)/python -m tests.docs.api_reference

# README.md's table of settings, from api/settings.py (a test fails when it is out of date).
settings-docs: install
	$(BIN)/python -m api.settings

# `make bench` runs every figure; `make bench BENCH=1,3` picks figures. Load comes from wrk
# (installed from Debian's packages when missing and root) or else a Python load generator.
bench: install
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null 2>&1; } || \
	  echo "bench: wrk not available; using the Python load generator"
	BENCH=$(BENCH) $(BIN)/python -m bench

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .cardcash cardcash.db cardcash.db-*
