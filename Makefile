# BackSoon — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two installs: the app alone (what `make demo` and an operator need), and the app with its dev tools (tests, lint,
# mypy, Playwright, schemathesis) for `make install` / `make test`. The dev stamp implies the runtime one.
RUNTIME_STAMP := $(VENV)/.runtime-stamp
STAMP := $(VENV)/.installed-stamp
# The node tools (package.json, pinned by package-lock.json), below: `make test` needs them for axe-core.
NODE_STAMP := node_modules/.installed-stamp
PORT ?= 5000

.PHONY: help install install-app demo test test-unit test-plugin plugin-zip test-integration lint format typecheck check bench migrate worker cron clean \
	widget widget-check theme-check

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "; printf "BackSoon make targets:\n"} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(RUNTIME_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $(RUNTIME_STAMP)

$(STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install BackSoon with its dev tools

install-app: $(RUNTIME_STAMP) ## Create .venv and install BackSoon alone (what the demo and a deployment need)

demo: $(RUNTIME_STAMP) ## Run the demo: SQLite, in-process jobs, seeded demo store on http://127.0.0.1:$(PORT)
	PORT=$(PORT) BACKSOON_DEMO=1 $(BIN)/backsoon demo

test: $(STAMP) $(NODE_STAMP) ## Run the whole test suite (PostgreSQL + Redis from TEST_DATABASE_URL / TEST_REDIS_URL)
	$(BIN)/pytest

test-unit: $(STAMP) ## Run only the unit tests (no services needed)
	$(BIN)/pytest tests/unit

test-plugin: ## Lint (php -l) and test the WordPress companion plugin (needs php-cli)
	bash integrations/woocommerce/wordpress-plugin/tests/run.sh

plugin-zip: $(RUNTIME_STAMP) ## Build dist/backsoon-woocommerce.zip, the WordPress plugin to upload (no tests, same bytes each build)
	$(BIN)/python -m app.services.merchant.plugin_zip dist/backsoon-woocommerce.zip

# Node tools, pinned by package-lock.json: esbuild and Theme Check for the storefront widget, and axe-core, which the
# accessibility tests inject into each page (so `make test` installs them). `make demo` and the app never need them:
# the built files are committed.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NODE_STAMP)

widget: $(NODE_STAMP) ## Rebuild the storefront widget from widget/src (app/static/widget.js, the Shopify extension's assets)
	node widget/build.mjs

theme-check: $(NODE_STAMP) ## Theme Check (theme-app-extension preset) on the Shopify theme app extension: 0 errors
	node tools/theme-check.mjs

widget-check: widget theme-check ## CI: the committed widget builds equal a fresh build, and Theme Check passes
	@git diff --exit-code -- app/static/widget.js integrations/shopify/extensions/backsoon-theme \
	  && test -z "$$(git status --porcelain -- app/static/widget.js integrations/shopify/extensions/backsoon-theme)" \
	  || { git status --short -- app/static/widget.js integrations/shopify/extensions/backsoon-theme; \
	       echo "The built widget differs from the committed one: run make widget and commit the result."; exit 1; }

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
	$(BIN)/python benchmarks/spike.py
	$(BIN)/python benchmarks/bulk_sync.py
	$(BIN)/python benchmarks/paged_sync_shopify.py
	$(BIN)/python benchmarks/woo_sync.py
	$(BIN)/python benchmarks/storefront_read.py
	$(BIN)/python benchmarks/fanout.py
	$(BIN)/python benchmarks/restock_latency.py
	$(BIN)/python benchmarks/fleet.py
	test -d benchmarks/lighthouse/node_modules || (cd benchmarks/lighthouse && npm ci --no-audit --no-fund)
	$(BIN)/python benchmarks/storefront_lighthouse.py

migrate: $(RUNTIME_STAMP) ## Apply database migrations to DATABASE_URL
	$(BIN)/backsoon migrate

worker: $(RUNTIME_STAMP) ## Run an RQ worker (needs REDIS_URL)
	$(BIN)/backsoon worker

cron: $(RUNTIME_STAMP) ## Run the one rq cron process (needs REDIS_URL)
	$(BIN)/rq cron --url "$$REDIS_URL" jobs.cron

clean: ## Remove the virtualenv, node_modules, caches and the demo database
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache instance/backsoon.db*
