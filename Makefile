# linkage guard — one command per job. Everything a fresh machine needs is installed here.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
# The browser tests drive Debian's Chromium (Playwright never downloads one) and the
# screens use the BIZ UD Gothic font; both come from Debian, installed once when missing.
CHROMIUM := /usr/bin/chromium
JA_FONT  := /usr/share/fonts/truetype/bizud-gothic/BIZUDPGothic-Regular.ttf
DEBIAN_PACKAGES := chromium fonts-morisawa-bizud-gothic

.PHONY: demo serve web test test-unit bench bench-quality bench-inspect bench-inspect-floor bench-rate bench-sink install native pure browser clean help

help:
	@echo "make demo    - run the whole pipeline on a local broker and print a summary"
	@echo "make serve   - the demo pipeline kept running, with the reviewers' web screen on localhost"
	@echo "make test    - install dev dependencies (and Chromium) and run the whole suite"
	@echo "make bench   - throughput and memory benchmarks (figures printed)"
	@echo "make bench-quality - recall and false holds of the rules on a labelled corpus"
	@echo "make bench-inspect - linkguard inspect on 244,246 records against a naive exact comparison"
	@echo "make bench-inspect-floor - the same inspection stage by stage: how close it comes with reading free"
	@echo "make bench-rate - a steady 1,000 records/s for 60 s: end-to-end latency p50/p99 and the lag curve"
	@echo "make bench-sink - sink writer rows/s, batched against the previous writer (SQLite; PostgreSQL with LINKGUARD_TEST_DATABASE_URL)"
	@echo "make native  - compile the hot modules again (mypyc; make install and make test do it when a source changed)"
	@echo "make pure    - remove the compiled modules and run the Python sources"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The install also compiles the hot modules with mypyc (setup.py: gcc and the Python headers, about a
# minute); LINKGUARD_PURE_PYTHON=1 leaves them as Python.
$(STAMP): pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	@[ -f $(NATIVE_BUILD) ] || [ "$(LINKGUARD_PURE_PYTHON)" = 1 ] || touch $(NATIVE_UNAVAILABLE)
	touch $(STAMP)

install: $(STAMP) native

# Compiles again where a source of guards changed since the build (importing guards then refuses
# to run: guards/native.py) or there is no build; removes the build under LINKGUARD_PURE_PYTHON=1.
# Where the install could not compile (no C compiler: the Python sources run), other targets do not
# try again each time; `make native` asked for by name does.
NATIVE_BUILD := guards/native-build.json
NATIVE_UNAVAILABLE := $(VENV)/.native-unavailable
native: $(STAMP)
ifeq ($(LINKGUARD_PURE_PYTHON),1)
	@$(MAKE) --no-print-directory pure
else
	@if [ -f $(NATIVE_BUILD) ] && $(BIN)/python -c "import guards" 2>/dev/null; then exit 0; fi; \
	if [ ! -f $(NATIVE_BUILD) ] && [ -f $(NATIVE_UNAVAILABLE) ] && [ -z "$(filter native,$(MAKECMDGOALS))" ]; then exit 0; fi; \
	echo "compiling the hot modules (mypyc, about a minute)"; \
	rm -f $(NATIVE_UNAVAILABLE); \
	$(BIN)/pip install --quiet --no-deps -e . || { echo "the build failed (above): mend what it says, or run make pure"; exit 1; }; \
	[ -f $(NATIVE_BUILD) ] || { touch $(NATIVE_UNAVAILABLE); echo "warning: not compiled (gcc and the Python headers?): the Python sources run"; }
endif

# the Python sources only (until the next `make native`, `make install` or `make test`); the
# packages' folders are setup.py's PACKAGES
pure:
	rm -f $(NATIVE_BUILD) linkguard_native__mypyc.*.so
	find guards schemas streams sinks linkguard -name '*.so' -delete

# Installs the Debian packages only where they are missing (root, or sudo without a password).
$(CHROMIUM) $(JA_FONT) &:
	@if command -v apt-get >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
	  echo "installing $(DEBIAN_PACKAGES) from Debian (browser tests, Japanese font)"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null \
	    || echo "warning: could not install $(DEBIAN_PACKAGES); the browser tests will skip (or fail under LINKGUARD_REQUIRE_SERVICES=1)"; \
	else echo "warning: no apt-get; install Chromium at $(CHROMIUM) for the browser tests"; fi

browser: $(CHROMIUM) $(JA_FONT)

demo: $(STAMP) native
	$(BIN)/linkguard demo

# a small demo, so that one reviewer can clear the held queue by hand (about ten records)
SERVE_ARGS ?= --residents 2000 --records 100
serve: $(STAMP) native
	$(BIN)/linkguard demo --serve $(SERVE_ARGS)

web: $(STAMP) native
	$(BIN)/linkguard web

test: $(STAMP) browser native
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP) native
	$(BIN)/python -m pytest -m "not integration" $(PYTEST_ARGS)

bench: $(STAMP) native
	$(BIN)/python -m bench.throughput $(BENCH_ARGS)

bench-quality: $(STAMP) native
	$(BIN)/python -m bench.quality $(BENCH_ARGS)

# linkguard inspect on a prefecture-size corpus against a naive exact 4-item comparison (same run)
bench-inspect: $(STAMP) native
	$(BIN)/python -m bench.inspect_speed $(BENCH_ARGS)

# the same corpus, the inspection's stages timed one by one with the files in memory (same run as the naive script)
bench-inspect-floor: $(STAMP) native
	$(BIN)/python -m bench.inspect_floor $(BENCH_ARGS)

bench-rate: $(STAMP) native
	$(BIN)/python -m bench.rate $(BENCH_ARGS)

bench-sink: $(STAMP) native
	$(BIN)/python -m bench.sink $(if $(LINKGUARD_TEST_DATABASE_URL),--postgresql $(LINKGUARD_TEST_DATABASE_URL)) $(BENCH_ARGS)

clean:
	rm -rf var out .pytest_cache
