# Passerelle developer commands. Every target installs what it needs into .venv first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)
export AIRFLOW_HOME ?= $(CURDIR)/.airflow

.PHONY: install chromium demo test up up-celery backfill sandbox bench bench-peer compose-env compose-check clean

install: $(VENV)/.installed chromium

# Headless Chromium reads the reports and Data Docs as a reader sees them (tests/browser.py): installed from
# Debian's `chromium` package when missing and apt-get can run (as root); otherwise named as missing.
CHROMIUM_NAMES := chromium chromium-browser google-chrome google-chrome-stable
chromium:  ## Headless Chromium for the browser tests (Debian package chromium; CHROMIUM=path names another)
	@for name in $${CHROMIUM:-} $(CHROMIUM_NAMES); do command -v "$$name" >/dev/null && exit 0; done; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Chromium (Debian package chromium) for the browser tests"; \
	  { apt-get install -y -qq chromium || { apt-get update -qq && apt-get install -y -qq chromium; }; } >/dev/null \
	    && echo "  $$(chromium --version 2>/dev/null)"; \
	else \
	  echo "Chromium is missing: the browser tests (tests/browser.py) need it. As root: apt-get install chromium;"; \
	  echo "  or set CHROMIUM to a Chromium or Chrome executable."; \
	fi

$(VENV)/.installed: requirements.txt requirements-sandbox.txt requirements-dev.txt constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing into $(VENV) (the first time: about 4 minutes, 1.6 GB)"
	@start=$$(date +%s); $(BIN)/pip install --quiet --upgrade pip && \
	  $(BIN)/pip install --progress-bar off -r requirements-dev.txt -c constraints.txt | awk ' \
	    /^Collecting / { if (++n % 50 == 0) { print "  " n " packages resolved..."; fflush() } } \
	    /^Installing collected packages/ { print "  " n " packages resolved; installing them..."; fflush() } \
	    /^Successfully installed/ { print "  installed " NF - 2 " packages" }'; \
	  status=$${PIPESTATUS[0]}; echo "  done in $$(( $$(date +%s) - start ))s"; exit $$status
	@touch $@

demo: install  ## Extract every source for three daily windows, build and validate staging, invoice two months, file compliance (DATASET=file.json: another sandbox dataset; VERBOSE=1: stream the full log)
	@VERBOSE=$(VERBOSE) $(BIN)/python -m passerelle_dev.demo $(if $(DATASET),--dataset "$(DATASET)")

test: install  ## The whole test suite against a real Postgres, the sandbox on loopback and real DAG runs
	$(BIN)/python -m pytest

up: install  ## Airflow standalone (UI on http://localhost:8080) with the sandbox and the warehouse
	$(BIN)/python -m passerelle_dev.devserver

up-celery: install  ## Airflow with the CeleryExecutor and two workers on Redis (127.0.0.1:6379) and Postgres (127.0.0.1:5432), with the sandbox and the warehouse (docs/deployment.md)
	$(BIN)/python -m passerelle_dev.celery_stack

backfill: install  ## Re-extract SOURCE's daily windows from START to END (YYYY-MM-DD): by make up's scheduler if it runs, else here (SANDBOX=1: from the sandbox)
	@$(BIN)/python -m passerelle_dev.backfill "$(SOURCE)" "$(START)" "$(END)" $(if $(SANDBOX),--sandbox)

sandbox: install  ## The vendor API emulators alone, printing base URLs and credentials
	$(BIN)/python -m passerelle_sandbox

bench: install  ## Extract-load; staging transform + validation and invoice lines over 1,000,000 time entries; 1,000 invoices generated and validated; sync of 10,000 deals
	$(BIN)/python -m passerelle_dev.bench
	$(BIN)/python -m passerelle_dev.bench_staging
	$(BIN)/python -m passerelle_dev.bench_invoicing
	$(BIN)/python -m passerelle_dev.bench_sync

PEER := .venv-peer

$(PEER)/.installed: requirements-peer.txt
	@test -x $(PEER)/bin/python || $(PYTHON) -m venv $(PEER)
	$(PEER)/bin/pip install --quiet -r requirements-peer.txt
	@touch $@

bench-peer: install $(PEER)/.installed  ## Passerelle beside dlt (own venv) on the same emulator data and Postgres: full loads and an incremental run
	$(BIN)/python -m passerelle_dev.bench_peer $(ARGS)

compose-env: install  ## Write .env for docker-compose.yml: generated Fernet key, JWT secret and passwords (kept once made), every source's Connection on the sandbox service
	$(BIN)/python -m passerelle_dev.compose_env

compose-check:  ## Parse docker-compose.yml with the Compose client (no Docker engine needed), after make compose-env
	@if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then \
	  echo "make compose-check needs the Docker Compose client, which is not installed (neither 'docker compose'"; \
	  echo "nor 'docker-compose' found): install the Compose plugin, https://docs.docker.com/compose/install/"; \
	  echo "(Debian/Ubuntu with Docker's apt repository: sudo apt-get install docker-compose-plugin)"; exit 1; fi
	@$(MAKE) -s compose-env
	@if docker compose version >/dev/null 2>&1; then docker compose config -q; else docker-compose config -q; fi
	@echo "docker-compose.yml is valid"

clean:  ## Stop the dev server and every embedded Postgres under .passerelle/, then delete .airflow/, .passerelle/, output/
	@if test -x $(BIN)/python; then $(BIN)/python -m passerelle_dev.stop; \
	else echo "no $(VENV): nothing make started can be running"; fi
	rm -rf .airflow .passerelle output
