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
# Debian packages the tests use: headless Chromium renders the report, shellcheck
# checks the workflow's run: scripts under actionlint. Installed when missing.
SYSTEM_PACKAGES := chromium shellcheck
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: convert artifacts bench test test-slow lint list clean help system-packages docs

help:
	@echo "make convert MODEL=hourglass   train or reuse a checkpoint, convert, verify (artifacts/MODEL/)"
	@echo "make artifacts                 make convert for every zoo model, then artifacts/index.json"
	@echo "make bench MODEL=hourglass     every precision built, verified, timed per target, profiled (budgets reported);"
	@echo "                               a rerun's time; the training input pipeline against the training steps"
	@echo "make test                      the test suite (tiny models)"
	@echo "make test-slow                 the slow tests (full-size models)"
	@echo "make lint                      ruff"
	@echo "make docs                      regenerate the reference pages from the code, build the site into site/ (--strict)"
	@echo "make list                      the model zoo"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

convert: $(STAMP)
	$(BIN)/posepipe run $(MODEL) $(ARGS)

# Every model is converted even when one fails; the index lists what was built and
# the exit status says whether everything passed.
artifacts: $(STAMP)
	status=0; for model in $$($(BIN)/posepipe list --names); do \
		$(BIN)/posepipe run $$model $(ARGS) || status=1; \
	done; \
	$(BIN)/posepipe index && exit $$status

# The run's exit status is kept for last, so a failed check still gets its numbers printed.
# Budgets are reported, not enforced, here: bench measures every precision, including
# ones built to be looked at rather than shipped (int16x8 runs reference kernels on x86).
# `make convert` enforces them.
# The same run again measures a rerun with nothing changed (wall time, and the part
# of it spent importing TensorFlow); bench-train times the training input pipeline
# against the model's training steps.
bench: $(STAMP)
	$(BIN)/posepipe run $(MODEL) --precisions $(BENCH_PRECISIONS) --budgets-report-only $(ARGS); status=$$?; \
	start=$$(date +%s%N); \
	line=$$($(BIN)/posepipe run $(MODEL) --precisions $(BENCH_PRECISIONS) --budgets-report-only $(ARGS) 2>&1 \
		| grep '^> stages:'); \
	rerun="$$(( ($$(date +%s%N) - start) / 1000000 )) ms wall; $${line#> }"; \
	echo "rerun with nothing changed: $$rerun"; \
	rm -f artifacts/$(MODEL)/bench-train.json; \
	$(BIN)/posepipe bench-train $(MODEL) --json artifacts/$(MODEL)/bench-train.json || status=1; \
	$(BIN)/posepipe bench $(MODEL) --budgets-report-only --json artifacts/$(MODEL)/bench.json && \
	$(BIN)/python scripts/docs_pages.py --bench artifacts/$(MODEL)/bench.json \
		--bench-train artifacts/$(MODEL)/bench-train.json --command 'make bench MODEL=$(MODEL)$(if $(ARGS), ARGS="$(ARGS)")' \
		--rerun "$$rerun" && exit $$status

# The reference pages (CLI, exit codes, zoo, formats) are generated from the code, then the
# site is built offline; --strict fails on any warning (a broken link or anchor, a page not
# in the nav). Never -q: mkdocs then drops the warnings and --strict has nothing to count.
docs: $(STAMP)
	$(BIN)/python scripts/docs_pages.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: $(STAMP) system-packages
	$(BIN)/python -m pytest -q $(ARGS)

system-packages:
	@missing=""; for package in $(SYSTEM_PACKAGES); do \
		command -v $$package >/dev/null || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

list: $(STAMP)
	$(BIN)/posepipe list

clean:
	rm -rf artifacts .cache
