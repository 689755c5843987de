# invoiceportal: `make run` starts the portal over HTTPS; `make test` runs every test.
# Both set everything up first (virtual environment, pinned dependencies, migrations).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PORT ?= 8443
HOST ?= 127.0.0.1
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)
DATA_DIR ?= $(CURDIR)/data
PG_URL ?= postgres://postgres@127.0.0.1:5432/invoiceportal

.PHONY: help setup run test lint check-deploy test-postgres system-deps clean bench bench-deps audit audit-ci

help:
	@echo "make run            set up and start the portal on https://localhost:$(PORT)"
	@echo "make test           set up and run ruff and every test (SQLite)"
	@echo "make test-postgres  the whole suite against PostgreSQL ($(PG_URL))"
	@echo "make bench          the benchmarks of docs/performance.md (about 15 minutes)"
	@echo "make audit          audit the pinned dependencies for known vulnerabilities"

$(STAMP): pyproject.toml scripts/bootstrap-venv
	@scripts/bootstrap-venv
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: $(STAMP)
	@mkdir -p "$(DATA_DIR)" && chmod 700 "$(DATA_DIR)"
	@umask 077 && INVOICEPORTAL_DATA_DIR="$(DATA_DIR)" $(PY) manage.py migrate --noinput -v0
	@INVOICEPORTAL_DATA_DIR="$(DATA_DIR)" $(PY) manage.py collectstatic --noinput -v0
	@INVOICEPORTAL_DATA_DIR="$(DATA_DIR)" $(PY) manage.py tls_selfsigned
	@INVOICEPORTAL_DATA_DIR="$(DATA_DIR)" $(PY) manage.py check --deploy --fail-level WARNING

run: setup
	@echo
	@echo "  invoiceportal is starting on https://localhost:$(PORT)/"
	@echo "  The certificate is self-signed (data/tls/cert.pem): your browser will warn once."
	@echo "  Plain HTTP is not served on this port."
	@echo
	@echo "  First time? Create the consultant's account in another terminal:"
	@echo "      .venv/bin/python manage.py createsuperuser"
	@echo "  then log in at https://localhost:$(PORT)/admin/ . The admin needs two-factor"
	@echo "  authentication: at the first login you scan a QR code with an authenticator app"
	@echo "  and keep the ten backup codes it shows once."
	@echo
	@umask 077 && INVOICEPORTAL_DATA_DIR="$(DATA_DIR)" \
	INVOICEPORTAL_BASE_URL="https://localhost:$(PORT)" \
	GUNICORN_BIND="$(HOST):$(PORT)" \
	GUNICORN_CERTFILE="$(DATA_DIR)/tls/cert.pem" GUNICORN_KEYFILE="$(DATA_DIR)/tls/key.pem" \
	exec $(VENV)/bin/gunicorn -c deploy/gunicorn.conf.py

# ruff with the bandit rules (S) among others; every suppression carries its reason.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Django's deployment checks with the production settings of deploy/invoiceportal.env.example.
check-deploy: $(STAMP)
	@scripts/check-deploy-production

# Known vulnerabilities in the pinned dependencies (pip-audit against PyPI's advisories).
# Fails when a package could not be looked up: an audit that did not run is not clean.
audit: $(STAMP)
	@$(PY) scripts/audit-deps

# CI: the same audit when the service answers; a loud banner (not a failure) when it does not.
audit-ci: $(STAMP)
	@$(PY) scripts/audit-deps --if-reachable

# Debian packages the tests use (pdftoppm renders invoice pages to PNG).
system-deps:
	@scripts/system-deps

test: $(STAMP) system-deps lint check-deploy
	$(VENV)/bin/pytest

# Fails loudly when PostgreSQL is not reachable: a leg is never skipped in silence.
test-postgres: $(STAMP) system-deps
	@$(PY) scripts/wait-for-postgres "$(PG_URL)"
	DATABASE_URL="$(PG_URL)" $(VENV)/bin/pytest

# Benchmarks (issue 7): the package benchmarks/, each run as `python -m benchmarks.<name>`,
# never timing assertions in the tests. Each writes $(BENCH_OUT)/<name>.json and <name>.md;
# docs/performance.md quotes them and names the command beside every figure. Every
# benchmark stops every process it started.
BENCH_OUT ?= bench-output
BENCH_PG_URL ?= $(PG_URL)

bench-deps: $(STAMP)
	@scripts/bench-deps

bench: bench-deps
	@mkdir -p $(BENCH_OUT)
	$(PY) -m benchmarks.download --out $(BENCH_OUT)
	$(PY) -m benchmarks.memory --out $(BENCH_OUT)
	$(PY) -m benchmarks.history --out $(BENCH_OUT) --pg-url "$(BENCH_PG_URL)"
	$(PY) -m benchmarks.pdf_render --out $(BENCH_OUT)
	$(PY) -m benchmarks.month_end --out $(BENCH_OUT) --pg-url "$(BENCH_PG_URL)"
	$(PY) -m benchmarks.login --out $(BENCH_OUT)
	$(PY) -m benchmarks.reset_timing --json $(BENCH_OUT)/reset_timing.json
	@echo "Results in $(BENCH_OUT)/ (docs/performance.md explains each figure)."

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache *.egg-info $(BENCH_OUT)
