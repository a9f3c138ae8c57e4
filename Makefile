# digitkit: the two commands are `make test` and `make run`.
# Both create .venv if missing and install everything (apt packages too), idempotently.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
# Development and CI install the exact, hash-pinned versions of requirements/dev.lock (made by
# pip-tools from pyproject.toml's ranges and constraints.txt; 'make lock' updates it).
LOCK := requirements/dev.lock
LOCK_FLAGS := --quiet --generate-hashes --extra dev --constraint constraints.txt \
	--no-emit-index-url --no-emit-find-links --strip-extras --unsafe-package digitkit
SHARED_DATA := $(abspath ../shared/data/mnist)
export DIGITKIT_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)

.PHONY: test run setup system-deps check-lock lock lock-upgrade lint unit serve clean help

help:
	@echo "make test   set up .venv, then ruff + the whole pytest suite"
	@echo "make run    set up, then start the web app on http://127.0.0.1:8000"
	@echo "make train  set up, then train + evaluate the default recipe (cnn-fast)"
	@echo "make lock   update requirements/dev.lock after changing dependencies in pyproject.toml"

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

# The lock must come from the dependencies pyproject.toml declares now (one line if not).
check-lock:
	@$(PYTHON) requirements/lockcheck.py

$(STAMP): pyproject.toml constraints.txt $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --require-hashes -r $(LOCK)
	$(PIP) install -q --no-deps -e .
	@touch $(STAMP)

setup: check-lock system-deps $(STAMP)

# Re-resolve the lock after a dependency change (keeps the pins that still fit);
# lock-upgrade moves every pin to the newest release the ranges allow.
lock:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q pip-tools
	$(VENV)/bin/pip-compile $(LOCK_FLAGS) -o $(LOCK) pyproject.toml
	@$(PY) requirements/lockcheck.py --stamp

lock-upgrade:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q pip-tools
	$(VENV)/bin/pip-compile $(LOCK_FLAGS) --upgrade -o $(LOCK) pyproject.toml
	@$(PY) requirements/lockcheck.py --stamp

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

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
