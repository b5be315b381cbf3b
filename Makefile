# Two commands matter (see README): `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint screenshots bench system-packages

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; assert sys.version_info >= (3, 11), "Signet needs Python 3.11+"'
	@$(PY) -m venv $(VENV) 2>/dev/null || { $(MAKE) --no-print-directory system-packages && $(PY) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

# Debian packages the tests need: the real registry (distribution v2), PostgreSQL 15's server binaries
# (tests run their own throwaway server from them) and venv support. No system service is started or
# left configured: policy-rc.d refuses every start during the install, and no default cluster is made.
PG_BIN := /usr/lib/postgresql/15/bin
system-packages:
	@if ! command -v docker-registry >/dev/null || ! [ -x $(PG_BIN)/initdb ] || ! $(PY) -c 'import ensurepip' 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    policy=/usr/sbin/policy-rc.d; \
	    if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy; chmod 755 $$policy; trap 'rm -f '$$policy EXIT; fi; \
	    mkdir -p /etc/postgresql-common; \
	    [ -e /etc/postgresql-common/createcluster.conf ] || echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confold \
	      docker-registry postgresql python3-venv >/dev/null; \
	  else \
	    echo "missing Debian packages: run 'sudo apt-get install docker-registry postgresql python3-venv'" >&2; exit 1; \
	  fi; \
	fi

demo: $(STAMP)
	$(BIN)/signet demo

test: system-packages $(STAMP) lint
	$(BIN)/python -m pytest

# Part of `make test` (so CI): configured in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

screenshots: $(STAMP)
	$(BIN)/python -m tui.screenshots

bench: $(STAMP)
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script; done
