# posepipe: `make convert MODEL=hourglass` and `make test` work on a fresh clone.
# The first target that needs Python creates .venv and installs the project into it;
# it reinstalls when pyproject.toml changes.

MODEL ?= hourglass
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: convert test test-slow lint list clean help

help:
	@echo "make convert MODEL=hourglass   train or reuse a checkpoint, convert, verify (artifacts/MODEL/)"
	@echo "make test                      the test suite (tiny models)"
	@echo "make test-slow                 the slow tests (full-size models)"
	@echo "make lint                      ruff"
	@echo "make list                      the model zoo"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

convert: $(STAMP)
	$(BIN)/posepipe run $(MODEL) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

list: $(STAMP)
	$(BIN)/posepipe list

clean:
	rm -rf artifacts .cache
