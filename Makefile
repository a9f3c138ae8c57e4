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

# apt packages the browser tests need (Debian's chromium; never 'playwright install').
system-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing chromium (apt)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null \
		|| echo "warning: chromium could not be installed; browser tests will be skipped"; \
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
