# BackSoon — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 5000

.PHONY: help install demo test test-unit test-plugin plugin-zip test-integration lint format typecheck check bench migrate worker cron clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "; printf "BackSoon make targets:\n"} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install BackSoon with its dev tools

demo: $(STAMP) ## Run the demo: SQLite, in-process jobs, seeded demo store on http://127.0.0.1:$(PORT)
	PORT=$(PORT) BACKSOON_DEMO=1 $(BIN)/backsoon demo

test: $(STAMP) ## Run the whole test suite (PostgreSQL + Redis from TEST_DATABASE_URL / TEST_REDIS_URL)
	$(BIN)/pytest

test-unit: $(STAMP) ## Run only the unit tests (no services needed)
	$(BIN)/pytest tests/unit

test-plugin: ## Lint (php -l) and test the WordPress companion plugin (needs php-cli)
	bash integrations/woocommerce/wordpress-plugin/tests/run.sh

plugin-zip: $(STAMP) ## Build dist/backsoon-woocommerce.zip, the WordPress plugin to upload (no tests, same bytes each build)
	$(BIN)/python -m app.services.merchant.plugin_zip dist/backsoon-woocommerce.zip

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy (strict)
	$(BIN)/mypy

check: lint typecheck test ## Everything CI runs

bench: $(STAMP) ## Run the benchmarks (PostgreSQL; BENCH_DATABASE_URL overrides; Lighthouse needs node and chromium)
	$(BIN)/python benchmarks/recompute.py
	$(BIN)/python benchmarks/webhook_ingest.py
	$(BIN)/python benchmarks/bulk_sync.py
	$(BIN)/python benchmarks/paged_sync_shopify.py
	$(BIN)/python benchmarks/woo_sync.py
	$(BIN)/python benchmarks/storefront_read.py
	$(BIN)/python benchmarks/fanout.py
	$(BIN)/python benchmarks/restock_latency.py
	test -d benchmarks/lighthouse/node_modules || (cd benchmarks/lighthouse && npm ci --no-audit --no-fund)
	$(BIN)/python benchmarks/storefront_lighthouse.py

migrate: $(STAMP) ## Apply database migrations to DATABASE_URL
	$(BIN)/backsoon migrate

worker: $(STAMP) ## Run an RQ worker (needs REDIS_URL)
	$(BIN)/backsoon worker

cron: $(STAMP) ## Run the one rq cron process (needs REDIS_URL)
	$(BIN)/rq cron --url "$$REDIS_URL" jobs.cron

clean: ## Remove the virtualenv, caches and the demo database
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache instance/backsoon.db*
