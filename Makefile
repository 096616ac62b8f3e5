# Two entry points: `make run` starts the SMSC, `make test` runs the whole suite.
# Both create the virtual environment in .venv first when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-venv clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/smsc serve --config configs/default.toml $(ARGS)

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/mypy smsc esme_client
	$(BIN)/python -m pytest $(ARGS)

# The dashboard test drives Debian's chromium and the dissector test Wireshark's tshark;
# install them when missing and we may (root with apt). Otherwise those tests skip and say why.
browser:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v tshark >/dev/null || missing="$$missing tshark"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing for the dashboard and dissector tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			$$missing >/dev/null \
			|| echo "$$missing could not be installed: their tests will skip"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/codec.py

# Throughput depends on how the interpreter was built (docs/benchmarks.md, "The interpreter"):
# .venv-bench runs the project on BENCH_PYTHON, by default the system's optimised build.
BENCH_PYTHON ?= /usr/bin/python3.11
bench-venv:
	test -x .venv-bench/bin/python || $(BENCH_PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet -e .

clean:
	rm -rf $(VENV) .venv-bench build *.egg-info
