# Emporium's commands. Every target installs what it needs (uv via pip when missing).
SHELL := /bin/bash
.DEFAULT_GOAL := help
# uv on PATH, else the one `make uv` installs with pip (run as a module: no PATH needed).
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
export UV_LINK_MODE ?= copy

.PHONY: help uv sync dev up seed down status test test-fast test-compose lint format bench contracts clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || { echo "[make] installing uv with pip"; python3 -m pip install --quiet uv; }

sync: uv ## install the workspace from uv.lock
	@$(UV) sync --frozen --quiet

dev: sync ## run the platform on its embedded default (SQLite, in-process bus), gateway on :8000
	$(UV) run --frozen python scripts/dev.py

up: sync ## start PostgreSQL, Kafka, Redis, SeaweedFS, then every service and the gateway
	bash deploy/local/infra.sh up
	bash deploy/local/services.sh up

seed: sync ## the demo shop (products, a demo customer's orders) on a running one; idempotent
	$(UV) run --frozen python -m emporium.storefront.seed

down: ## stop what `make up` started
	-bash deploy/local/services.sh down
	bash deploy/local/infra.sh down

status: ## what is running
	@bash deploy/local/infra.sh status; bash deploy/local/services.sh status

test: sync ## the whole suite: lint, unit, integration and e2e on the real infrastructure
	bash scripts/test.sh

test-fast: sync ## the tests that need no infrastructure (the rest are skipped)
	$(UV) run --frozen pytest -q -m "not integration and not e2e"

test-compose: sync ## docker-compose.yml as committed, in podman: e2e, S3, restart (root; ~15 min first time)
	bash scripts/test-compose.sh

lint: sync ## ruff and mypy --strict
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy libs/kit/src libs/contracts/src services/*/src gateway/src storefront/src

format: sync
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

contracts: sync ## record new event versions and refresh docs/asyncapi.json
	$(UV) run --frozen emporium-contracts-lock
	$(UV) run --frozen emporium-asyncapi --write docs/asyncapi.json

bench: sync ## load the platform of `make up` (started if needed), ~12 min: bench/results/latest.md
	bash scripts/bench.sh $(BENCH_ARGS)

clean: down
	rm -rf var
