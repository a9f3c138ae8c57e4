# digitkit: the two commands are `make test` and `make run`.
# Both create .venv if missing and install everything (apt packages too), idempotently.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
SHARED_DATA := $(abspath ../shared/data/mnist)
export DIGITKIT_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)

.PHONY: test run setup system-deps lint unit serve clean help

help:
	@echo "make test   set up .venv, then ruff + the whole pytest suite"
	@echo "make run    set up, then start the web app on http://127.0.0.1:8000"
	@echo "make train  set up, then train + evaluate the default recipe (cnn-fast)"

# Debian packages: chromium for the browser tests (never 'playwright install'), and the
# libraries Qt's offscreen platform loads. Installed only when something is missing.
APT_PACKAGES := chromium libegl1 libgl1 libxkbcommon0 libfontconfig1 libglib2.0-0 libdbus-1-3

system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="chromium"; \
	for lib in libEGL.so.1 libxkbcommon.so.0 libfontconfig.so.1; do \
		ldconfig -p | grep -q "$$lib" || missing="$$missing $$lib"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages (missing:$$missing)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null \
		|| echo "warning: apt install failed; browser/desktop tests will be skipped"; \
	fi

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

setup: system-deps $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

unit: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

test: setup lint unit

train: setup
	$(VENV)/bin/digitkit train cnn-fast --out runs/cnn-fast-default --overwrite
	$(VENV)/bin/digitkit evaluate runs/cnn-fast-default --split test

run: setup
	$(VENV)/bin/digitkit serve --host 127.0.0.1 --port 8000

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
