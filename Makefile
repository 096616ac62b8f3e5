# Two entry points: `make run` starts the SMSC, `make test` runs the whole suite.
# Both create the virtual environment in .venv first when it is missing or stale: `run`
# installs only what serving needs, `test` adds the test tools (pytest, mypy, schemathesis...).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVE_STAMP := $(VENV)/.installed-serve
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint bench bench-venv clean browser node-smpp

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(SERVE_STAMP)

# exec: the server replaces the shell, so SIGTERM reaches it and its exit code is make's.
# Ctrl-C on a terminal also interrupts make itself, which then reports its own 130.
run: $(SERVE_STAMP)
	exec $(BIN)/smsc serve --config configs/default.toml $(ARGS)

test: $(TEST_STAMP) browser node-smpp
	$(BIN)/ruff check .
	$(BIN)/mypy smsc esme_client
	$(BIN)/python -m pytest $(ARGS)

# The dashboard test drives Debian's chromium and the dissector test Wireshark's tshark.
# When they are missing and this runs as root with apt, they are installed (say NO_APT=1 to
# skip); otherwise those tests skip and say why.
browser:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v tshark >/dev/null || missing="$$missing tshark"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ -z "$(NO_APT)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "make test: installing$$missing with apt-get (system packages, as root):"; \
		echo "  chromium runs the dashboard test, tshark the SMPP dissector test;"; \
		echo "  NO_APT=1 skips this, and those tests then skip"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			$$missing >/dev/null \
			|| echo "make test:$$missing could not be installed: their tests will skip"; \
	else \
		echo "make test:$$missing not installed: the dashboard (chromium) and dissector" \
			"(tshark) tests that need them will skip"; \
	fi

# The SMPP 5.0 interop test drives node-smpp (npm "smpp"), installed into .venv/node when npm
# is there; otherwise that test skips and says why.
node-smpp:
	@if [ -f $(VENV)/node/node_modules/smpp/package.json ]; then exit 0; fi; \
	if command -v npm >/dev/null; then \
		npm install --silent --no-audit --no-fund --prefix $(VENV)/node smpp@0.5.1 \
			|| echo "make test: node-smpp could not be installed: its test will skip"; \
	else \
		echo "make test: npm not installed: the node-smpp test will skip"; \
	fi

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

bench: $(SERVE_STAMP)
	$(BIN)/python benchmarks/codec.py

# Throughput depends on how the interpreter was built (docs/benchmarks.md, "The interpreter"):
# .venv-bench runs the project on BENCH_PYTHON, by default the system's optimised build.
BENCH_PYTHON ?= /usr/bin/python3.11
bench-venv:
	test -x .venv-bench/bin/python || $(BENCH_PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet -e .

clean:
	rm -rf $(VENV) .venv-bench build *.egg-info
