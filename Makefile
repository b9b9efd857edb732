# Every target bootstraps its own virtual environment from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: up test bench bench-ingest bench-score bench-query bench-dashboard duckdb schemas venv clean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements.lock
	$(PIP) install --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

up: $(STAMP)  ## run the whole stack in the foreground (Ctrl-C stops it)
	$(BIN)/python -m services.stack

test: $(STAMP)  ## the whole test suite
	$(BIN)/python -m pytest

bench: $(STAMP)  ## all benchmarks; figures go to stdout
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.score
	$(BIN)/python -m bench.query
	$(BIN)/python -m bench.dashboard
	$(BIN)/python -m bench.snapshot

bench-ingest: $(STAMP)
	$(BIN)/python -m bench.ingest

bench-score: $(STAMP)
	$(BIN)/python -m bench.score

bench-query: $(STAMP)  ## builds (once) a 10M-result store under data/bench-query
	$(BIN)/python -m bench.query

bench-dashboard: $(STAMP)  ## dashboard pages on the bench-query store (built once)
	$(BIN)/python -m bench.dashboard

duckdb: $(STAMP)  ## the current snapshot as DuckDB views (docs/analytics.md), opened in a shell
	$(BIN)/python -m services.query.snapshot --open

schemas: $(STAMP)  ## regenerate the committed JSON Schema files
	$(BIN)/python -m schemas.generate

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
