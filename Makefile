# linkage guard — one command per job. Everything a fresh machine needs is installed here.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo serve test test-unit bench bench-quality bench-rate install clean help

help:
	@echo "make demo    - run the whole pipeline on a local broker and print a summary"
	@echo "make test    - install dev dependencies and run the whole suite"
	@echo "make bench   - throughput and memory benchmarks (figures printed)"
	@echo "make bench-quality - recall and false holds of the rules on a labelled corpus"
	@echo "make bench-rate - a steady 1,000 records/s for 60 s: end-to-end latency p50/p99 and the lag curve"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/linkguard demo

serve: $(STAMP)
	$(BIN)/linkguard demo --serve

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest -m "not integration" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.throughput $(BENCH_ARGS)

bench-quality: $(STAMP)
	$(BIN)/python -m bench.quality $(BENCH_ARGS)

bench-rate: $(STAMP)
	$(BIN)/python -m bench.rate $(BENCH_ARGS)

clean:
	rm -rf var out .pytest_cache
