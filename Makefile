# Developer commands. `make help` lists them; each target's `##` comment is its help.
#
#   SWIFT_FLAGS   extra flags for swift build, e.g. SWIFT_FLAGS="--scratch-path /tmp/b" or "-c release"
#   DEV_PG_DIR    where db/up keeps its cluster (default /tmp/ledgersync-dev-$USER)
#   DEV_PG_PORT   its port (default 54329)

SHELL := /bin/bash
.DEFAULT_GOAL := help

SWIFT_FLAGS ?=
DEV_PG_DIR ?= /tmp/ledgersync-dev-$(shell id -un)
DEV_PG_PORT ?= 54329

.PHONY: help build test demo queue-demo bench generate verify api-fuzz docs-check dashboard-check compose-check db/up db/down clean

help: ## list the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z_\/-]+:.*## / { printf "  %-10s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## build the package (swift build $(SWIFT_FLAGS))
	swift build $(SWIFT_FLAGS)

test: ## run every test against a throwaway PostgreSQL (scripts/test.sh)
	scripts/test.sh

demo: ## run the main job: a billing month synced to the NetSuite simulator (scripts/demo.sh)
	LEDGERSYNC_BUILD_FLAGS="$(SWIFT_FLAGS)" scripts/demo.sh

queue-demo: ## a demo of the queue alone, with the diagnostic job kinds (scripts/queue-demo.sh)
	LEDGERSYNC_BUILD_FLAGS="$(SWIFT_FLAGS)" scripts/queue-demo.sh

bench: ## Ledgersync vs PgQueuer and Procrastinate, alternated in one run, REPS=3 (scripts/bench.sh; docs/performance.md)
	REPS=$${REPS:-3} scripts/bench.sh

generate: ## write docs/openapi.json (scripts/openapi.py) and embed it and sql/ into Sources/*/Generated/
	python3 scripts/openapi.py
	python3 scripts/embed-sql.py

verify: ## fail if docs/openapi.json or the generated Swift is stale (scripts/test.sh and CI run this too)
	python3 scripts/openapi.py --check
	python3 scripts/embed-sql.py --check

api-fuzz: ## schemathesis against the live API and docs/openapi.json (scripts/api-fuzz.sh)
	scripts/api-fuzz.sh

docs-check: build ## run the README's quick start and the docs' marked examples as written (scripts/docs-check.py)
	scripts/docs-check.py

dashboard-check: ## headless Chromium on the dashboard: screenshot, press Retry, check the database
	scripts/dashboard-check.py

compose-check: ## docker-compose.yml against the Compose Specification schema, and its commands
	scripts/compose-check.py "$$(swift build --show-bin-path)/ledgersync"

db/up: ## start the dev cluster if it is not running (a fresh one: data is throwaway); print DATABASE_URL
	@if [ -f "$(DEV_PG_DIR)/data/postmaster.pid" ]; then \
	    echo "dev cluster already running in $(DEV_PG_DIR)/data" >&2; \
	    echo "export DATABASE_URL=postgresql://postgres@127.0.0.1:$(DEV_PG_PORT)/postgres"; \
	else \
	    mkdir -p "$(DEV_PG_DIR)" && chmod 755 "$(DEV_PG_DIR)" && \
	    url=$$(scripts/pg.sh start "$(DEV_PG_DIR)/data" "$(DEV_PG_PORT)") && \
	    echo "dev cluster started in $(DEV_PG_DIR)/data; eval \"\$$(make -s db/up)\" sets it in your shell" >&2 && \
	    echo "export DATABASE_URL=$$url"; \
	fi

db/down: ## stop the dev cluster (its data stays until the next db/up or clean)
	@scripts/pg.sh stop "$(DEV_PG_DIR)/data"

clean: ## remove build products (swift package clean) and the dev cluster
	swift package $(SWIFT_FLAGS) clean
	@scripts/pg.sh stop "$(DEV_PG_DIR)/data"
	rm -rf "$(DEV_PG_DIR)"
