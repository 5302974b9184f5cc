# voipbed: `make run` runs the default scenario, `make test` runs every check.
# Both set up .venv from pyproject.toml first; nothing needs installing by hand.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/default.yaml

.PHONY: setup sysdeps run test lint pytest regression bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "voipbed needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/voipbed run $(SCENARIO)

test: lint pytest regression

# mypy cannot follow setuptools' package-dir mapping (models/ is voipbed.models):
# it checks a tree of links laid out as the installed package.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	rm -rf build/typecheck && mkdir -p build/typecheck/voipbed
	ln -s $(CURDIR)/voipbed/* build/typecheck/voipbed/
	for sub in models sim emulation reports; do ln -s $(CURDIR)/$$sub build/typecheck/voipbed/$$sub; done
	cd build/typecheck && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml voipbed $(CURDIR)/bench

# Debian packages voipbed uses: espeak-ng speaks test speech; the emulation engine runs
# Mininet namespaces with Kamailio, SIPp and baresip (sox and ethtool are its helpers,
# tcpdump captures its media);
# the report tests open the reports in headless Chromium.
# Installed when run as root, as CI is; said otherwise (those tests then skip, saying why).
SYSTEM_PACKAGES := espeak-ng sox ethtool mininet kamailio kamailio-tls-modules sip-tester baresip \
	chromium fonts-dejavu-core \
	bridge-utils iputils-ping openssl nftables conntrack tcpdump
SYSTEM_TOOLS := espeak-ng sox ethtool mnexec kamailio sipp baresip brctl ping openssl chromium \
	nft conntrack tcpdump
KAMAILIO_TLS := /usr/lib/$(shell uname -m)-linux-gnu/kamailio/modules/tls.so
MININET := /usr/lib/python3/dist-packages/mininet

sysdeps: setup
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	[ -e $(KAMAILIO_TLS) ] || missing="$$missing kamailio-tls-modules"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			-o DPkg::Lock::Timeout=300 --no-install-recommends $(SYSTEM_PACKAGES); \
	else \
		echo "note: missing:$$missing (as root: apt-get install $(SYSTEM_PACKAGES));"; \
		echo "      PESQ tests fall back to synthetic speech, emulation tests skip"; \
	fi
	@# Debian's Mininet is a pure-Python package: link that one package into the venv.
	@site=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))'); \
	if [ -d $(MININET) ] && [ ! -e $$site/mininet ]; then ln -s $(MININET) $$site/mininet; fi

pytest: setup sysdeps
	$(BIN)/pytest --junitxml=build/junit/pytest.xml

# The regression scenarios against their recorded figures; JUnit XML for CI.
regression: setup
	rm -rf build/regression
	$(BIN)/voipbed check scenarios/regression --out build/regression --junit build/junit/regression.xml

bench: setup sysdeps
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/sim_throughput.py
	$(BIN)/python bench/mobile_chain.py
	$(BIN)/python bench/vs_ns3.py
	$(BIN)/python bench/userspace_link.py
	$(BIN)/python bench/sip_load.py
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/sweep.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
