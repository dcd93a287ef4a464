# posepipe: `make convert MODEL=hourglass` and `make test` work on a fresh clone.
# The first target that needs Python creates .venv and installs the project into it;
# it reinstalls when pyproject.toml changes.

MODEL ?= hourglass
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
# every precision that builds on any OS (a8w8 calibrates through Core ML predict: macOS only)
BENCH_PRECISIONS ?= fp32,fp16,int8,dynamic-int8,int16x8,w8,palette4,palette6,palette8

.PHONY: convert bench test test-slow lint list clean help

help:
	@echo "make convert MODEL=hourglass   train or reuse a checkpoint, convert, verify (artifacts/MODEL/)"
	@echo "make bench MODEL=hourglass     every precision built, verified, timed per target, profiled (budgets reported)"
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

# The run's exit status is kept for last, so a failed check still gets its numbers printed.
# Budgets are reported, not enforced, here: bench measures every precision, including
# ones built to be looked at rather than shipped (int16x8 runs reference kernels on x86).
# `make convert` enforces them.
bench: $(STAMP)
	$(BIN)/posepipe run $(MODEL) --precisions $(BENCH_PRECISIONS) --budgets-report-only $(ARGS); status=$$?; \
	$(BIN)/posepipe bench $(MODEL) --budgets-report-only --json artifacts/$(MODEL)/bench.json && exit $$status

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
