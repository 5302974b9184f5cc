# voipbed: `make run` runs the default scenario, `make test` runs every check.
# Both set up .venv from pyproject.toml first; nothing needs installing by hand.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/default.yaml

.PHONY: setup sysdeps run test lint pytest bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "voipbed needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/voipbed run $(SCENARIO)

test: lint pytest

# mypy cannot follow setuptools' package-dir mapping (models/ is voipbed.models):
# it checks a tree of links laid out as the installed package.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	rm -rf build/typecheck && mkdir -p build/typecheck/voipbed
	ln -s $(CURDIR)/voipbed/* build/typecheck/voipbed/
	for sub in models sim emulation reports; do ln -s $(CURDIR)/$$sub build/typecheck/voipbed/$$sub; done
	cd build/typecheck && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml voipbed $(CURDIR)/bench

# Debian packages the tests use: espeak-ng speaks the PESQ tests' speech (without it they
# use a synthetic speech-like signal). Installed when run as root, as CI is; said otherwise.
SYSTEM_PACKAGES := espeak-ng

sysdeps:
	@missing=""; for tool in $(SYSTEM_PACKAGES); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
		echo "note: not installed:$$missing (apt-get install$$missing as root); tests fall back to synthetic speech"; \
	fi

pytest: setup sysdeps
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/sim_throughput.py
	$(BIN)/python bench/mobile_chain.py
	$(BIN)/python bench/vs_ns3.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
