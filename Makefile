# Careweave — run `make help` for the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
UV := .tools/bin/uv
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

help:  ## List targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==0.13.9"

install: $(UV)  ## Create .venv from the lock file (runtime and test dependencies)
	$(UV) sync --frozen --python python3

up: install  ## Start Careweave on SQLite with demo data (command 1)
	CAREWEAVE_MFA_REQUIRED=$${CAREWEAVE_MFA_REQUIRED:-false} \
	CAREWEAVE_MAIL_TRANSPORT=$${CAREWEAVE_MAIL_TRANSPORT:-file} \
	CAREWEAVE_SMS_TRANSPORT=$${CAREWEAVE_SMS_TRANSPORT:-file} \
	CAREWEAVE_BASE_URL=$${CAREWEAVE_BASE_URL:-http://$(HOST):$(PORT)} \
	.venv/bin/careweave up --host $(HOST) --port $(PORT)

test-deps: install  ## Install what the tests need beyond Python (Debian chromium, PostgreSQL running)
	bash scripts/test-deps.sh

lint: install  ## ruff lint and format check
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

test-sqlite: install  ## The whole suite on SQLite
	.venv/bin/pytest --db=sqlite

test-pg: install  ## The whole suite on PostgreSQL (a fresh database, dropped afterwards)
	.venv/bin/pytest --db=postgresql

test: test-deps lint  ## Everything: lint, then the suite on SQLite and PostgreSQL side by side (command 2; CI runs this)
	bash scripts/test-suites.sh

fmt: install  ## Format and autofix
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

bench: install  ## Matching benchmark, 100,000 synthetic providers, SQLite and PostgreSQL (ARGS="--providers 5000": quick)
	$(PY) -m benchmarks $(ARGS)

bench-booking: install  ## Booking throughput (raw claim / service / HTTP, PostgreSQL) and slot listing
	.venv/bin/python -m benchmarks.booking $(ARGS)

bench-audit: install  ## Audited commits/s on PostgreSQL with one audit chain vs sixteen (ADR 0018)
	.venv/bin/python -m benchmarks.audit_chain $(ARGS)

bench-registry: install  ## Measurement-based care registry, 1M patients / 10M scores, SQLite and PostgreSQL (ARGS="--patients 20000": quick)
	$(PY) -m benchmarks.registry $(ARGS)

clean:  ## Remove virtualenvs and local data (var/)
	rm -rf .venv .tools var test-artifacts

.PHONY: help install up test-deps lint test-sqlite test-pg test fmt bench bench-booking bench-audit bench-registry clean
