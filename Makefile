# Hookline developer entry points. `make up` runs the stack, `make test` runs the suite;
# both install what they need first (virtualenv, PostgreSQL, RabbitMQ).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV := .venv
VENV_PY := $(VENV)/bin/python
# Touched after a successful install: pip runs again only when pyproject.toml is newer.
VENV_STAMP := $(VENV)/.hookline-installed
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)

PYTEST_ARGS ?=
# `make up` lets the dispatcher deliver to loopback receivers; prod refuses private ranges.
HOOKLINE_ALLOWED_TARGET_CIDRS ?= 127.0.0.0/8

.PHONY: help venv services migrate up test test-tools lint fmt bench bench-history bench-cluster chaos

help:
	@echo "make up        install what is missing, migrate, run ingest + dispatcher + verifier"
	@echo "make test      run the whole suite against real RabbitMQ and PostgreSQL"
	@echo "               (PYTEST_ARGS='-k signing -x' passes options to pytest)"
	@echo "make migrate   apply database migrations"
	@echo "make services  make sure PostgreSQL and RabbitMQ are installed and answering"
	@echo "make venv      create .venv and install hookline[dev] (only when pyproject.toml changed)"
	@echo "make lint      ruff check + ruff format --check"
	@echo "make fmt       ruff format + ruff check --fix"
	@echo "make bench     throughput and latency beside this machine's ceilings (~5 min);"
	@echo "               PEER=1 adds Celery prefork-2 on the same receiver (its own venv)"
	@echo "make bench-history  list routes, dashboard and partition drop on 10M attempts (~10 min)"
	@echo "make bench-cluster  1 vs 4 dispatch shards, then an ordered and an unordered endpoint, on a 3-node RabbitMQ cluster (~1.5 min)"
	@echo "make chaos     faults and abuse (also in make test) plus the isolation ratio (~6 min)"

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	@if [[ -z "$(PYTHON)" ]]; then \
		echo "make venv: no python3.11 or python3 on PATH (Debian: apt-get install python3 python3-venv)" >&2; \
		exit 1; \
	fi
	@"$(PYTHON)" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "make venv: $(PYTHON) is older than Python 3.11; set PYTHON=/path/to/python3.11" >&2; \
		exit 1; \
	}
	@# A venv whose interpreter went away (pyenv upgrade, moved checkout) is rebuilt from scratch.
	@if ! "$(VENV_PY)" -c '' 2>/dev/null; then \
		echo "creating $(VENV) with $(PYTHON)"; \
		"$(PYTHON)" -m venv --clear "$(VENV)" || { \
			echo "make venv: '$(PYTHON) -m venv' failed (Debian: apt-get install python3-venv)" >&2; \
			exit 1; \
		}; \
	fi
	"$(VENV_PY)" -m pip install --quiet --disable-pip-version-check --upgrade pip
	"$(VENV_PY)" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch "$@"

services:
	@bash scripts/ensure-services.sh

migrate: venv services
	"$(VENV_PY)" -m shared.migrate

up: migrate
	HOOKLINE_ALLOWED_TARGET_CIDRS='$(HOOKLINE_ALLOWED_TARGET_CIDRS)' exec "$(VENV_PY)" scripts/devstack.py

# Tools the tests need, installed when missing: kubectl and promtool for tests/deploy,
# Debian's Chromium for the dashboard's browser tests.
test-tools:
	@bash scripts/ensure-kubectl.sh
	@bash scripts/ensure-chromium.sh

# pytest's own exit code is the recipe's: 5 ("no tests ran") fails the target like a failure.
test: venv services test-tools
	"$(VENV_PY)" -m pytest $(PYTEST_ARGS)

# Both checks run even when the first fails, so one pass shows everything to fix.
lint: venv
	@rc=0; \
	"$(VENV)/bin/ruff" check . || rc=$$?; \
	"$(VENV)/bin/ruff" format --check . || rc=$$?; \
	exit $$rc

fmt: venv
	"$(VENV)/bin/ruff" format .
	"$(VENV)/bin/ruff" check --fix .

# Throughput and latency beside this machine's own ceilings (about 5 minutes on 2 cores);
# prints a markdown table and writes bench/results/latest.json.
bench: venv services
	"$(VENV_PY)" -m bench.run $(if $(PEER),--peer,)

# 2 million messages and 10 million attempts loaded with COPY, then the API's list routes, the
# dashboard overview and a partition drop timed against issue 18's goals (~10 min, ~10 GB).
bench-history: venv services
	"$(VENV_PY)" -m bench.history

# A 3-node RabbitMQ cluster of this machine: publish and delivery with 1 and 4 shards (~3 min).
bench-cluster: venv services
	"$(VENV_PY)" -m bench.cluster

# The chaos suite (5,000 messages per fault scenario; `make test` runs it too), plus the
# dispatcher's isolation ratio, a measurement too noisy on a shared machine for `make test`.
chaos: venv services
	"$(VENV_PY)" -m pytest -m "ratio or not ratio" tests/chaos tests/dispatcher/test_isolation.py -rxX $(PYTEST_ARGS)
