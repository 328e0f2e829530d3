# GAYARI platform. The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CACHE   ?= $(CURDIR)/.cache
TOOLS   := $(CACHE)/tools
UV      := $(TOOLS)/bin/uv
PY      := $(CURDIR)/.venv/bin/python
STACK   := $(PY) deploy/local/stack.py
RUNNER  := $(PY) deploy/local/services.py
# Which services the services-* targets act on (names as `deploy/local/services.py`): all if empty.
SERVICES ?=
UV_VERSION := 0.13.8
export UV_PYTHON_DOWNLOADS := never
export UV_CACHE_DIR ?= $(HOME)/.cache/uv
export GAYARI_API_KEYS_FILE ?= $(CACHE)/auth/api-keys.json
DEV_KEYS := $(CACHE)/auth/dev-keys.json

.PHONY: help install stack-start stack-stop stack-status topics services-start services-stop \
        services-restart services-status demo stop test lint unit dev-keys docs bench replay

help:
	@echo "make demo    whole stack up, a year of a Lamandau programme simulated, the report printed"
	@echo "make test    lint and every test suite against the real stack"
	@echo "make stop    stop the services and the stack"

$(UV):
	@command -v python3 >/dev/null || { echo "python3 (3.11+) is required"; exit 1; }
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Re-synced whenever the lock file changes; pip and uv caches make reruns fast.
.venv/.synced: $(UV) uv.lock pyproject.toml shared/pyproject.toml services/*/pyproject.toml
	$(UV) sync --frozen
	@touch $@

install: .venv/.synced

stack-start: install
	bash deploy/local/ensure-postgresql.sh
	$(STACK) start

stack-stop: install
	$(STACK) stop

stack-status: install
	$(STACK) status

# The local stack's API keys: one per agency, an administrator, a reporting reader.
dev-keys: install
	$(PY) -m gayari_shared.auth --file $(GAYARI_API_KEYS_FILE) dev-keys --out $(DEV_KEYS)
	@test -s $(CACHE)/secrets/hash-secret || { mkdir -p -m 700 $(CACHE)/secrets && \
	  $(PY) -c 'import secrets; print(secrets.token_hex(32))' > $(CACHE)/secrets/hash-secret && \
	  chmod 600 $(CACHE)/secrets/hash-secret; }

# start: launches what is not running (a crashed one again) and leaves the running ones alone;
# restart: after a code change. Either waits until each answers /health/ready.
services-start: stack-start dev-keys
	$(RUNNER) start $(SERVICES)

services-restart: stack-start dev-keys
	$(RUNNER) restart $(SERVICES)

services-stop: install
	$(RUNNER) stop $(SERVICES)

services-status: install
	$(RUNNER) status $(SERVICES)

demo: services-start
	$(PY) deploy/local/demo.py --keys $(DEV_KEYS)
	@echo
	@echo "APIs (OpenAPI pages under /docs):"
	@echo "  registry       http://127.0.0.1:8101/docs"
	@echo "  interventions  http://127.0.0.1:8102/docs"
	@echo "  reporting      http://127.0.0.1:8103/docs"
	@echo "Dashboard (Bahasa Indonesia / English), opens with the local reporting key:"
	@echo "  http://127.0.0.1:8103/dashboard#key=$$($(PY) -c 'import json,sys; print(json.load(open(sys.argv[1]))["reporting"])' $(DEV_KEYS))"
	@echo "Monthly report (print to A4): the dashboard's 'Laporan bulanan', or the link printed"
	@echo "  above (this month's; any other with month=YYYY-MM), with the key above"
	@echo "API keys of the local stack (Authorization: Bearer ...): $(DEV_KEYS)"
	@echo "Logs: $(CACHE)/logs/   Stop everything: make stop"

stop: install
	$(RUNNER) stop
	$(STACK) stop

lint: install
	$(CURDIR)/.venv/bin/ruff check .
	$(CURDIR)/.venv/bin/ruff format --check .
	$(CURDIR)/.venv/bin/mypy shared/src services/registry/src services/interventions/src \
	    services/reporting/src deploy/local tests

# Published contracts: a JSON Schema per event type and an AsyncAPI document per service.
docs: install
	$(PY) -m gayari_shared.events.schemas write docs/schemas >/dev/null
	@mkdir -p docs/asyncapi
	for svc in registry interventions reporting; do \
	  GAYARI_TOPIC_PREFIX=gayari GAYARI_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 GAYARI_KAFKA_SECURITY_PROTOCOL=SASL_SSL \
	  $(PY) -m gayari_$$svc.entrypoints.asyncapi > docs/asyncapi/$$svc.json || exit 1; \
	done

# Benchmarks, not tests (not part of `make test`), on the secured stack, the projection and the
# HTTP writes also on a plaintext stack of their own (other ports, stopped afterwards): each
# prints its figures, then one table of every figure against its target, secured beside
# plaintext; JSON in artifacts/; the latest run rewritten into docs/performance.md.
# BENCH_EVENTS=100000 for a quick run (the targets are stated for 1,000,000);
# BENCH_ARGS=--no-plaintext for the secured stack only.
BENCH_ARGS ?=
bench: stack-start
	$(PY) -m tests.bench.run_all --events $${BENCH_EVENTS:-1000000} \
	    --plaintext-cache $(CACHE)/plaintext-bench --doc docs/performance.md $(BENCH_ARGS)

# Rebuild every reporting read model of the local stack from offset 0 and switch over.
# As reporting's own principal and role (the stack's generated settings; the environment wins).
replay: install
	env $$(cat $(CACHE)/credentials/kafka/service-reporting/gayari.env \
	  $(CACHE)/credentials/postgres/gayari_reporting/gayari.env) \
	  $$(env | grep '^GAYARI_' || true) $(CURDIR)/.venv/bin/gayari-reporting-replay

unit: install
	$(PY) -m pytest tests/unit

# The Kafka boundary (SASL_SSL, SCRAM users, ACLs) proved with Kafka's own console clients as
# the real agency principals, against the running stack. Also part of `make test`.
.PHONY: security-test
security-test: install
	$(PY) -m pytest -m security tests/security

# The deployment artefacts (compose file, Dockerfiles, Kubernetes overlays) checked by real
# validators; deploy/tools/install.sh installs them into $(CACHE)/tools/deploy once.
export GAYARI_DEPLOY_TOOLS_DIR ?= $(CACHE)/tools/deploy
.PHONY: deploy-tools deploy-check test-tools
deploy-tools: install
	CACHE=$(CACHE) UV=$(UV) bash deploy/tools/install.sh

deploy-check: deploy-tools
	$(PY) -m pytest tests/deploy

# The browser tests' npm packages (playwright-core, axe-core), pinned by tests/browser's lock
# file, installed into the cache.
export GAYARI_BROWSER_TOOLS_DIR ?= $(CACHE)/tools/browser
.PHONY: browser-tools
browser-tools:
	DEST=$(GAYARI_BROWSER_TOOLS_DIR) bash tests/browser/install.sh

# What the suites need beside the venv: the deploy validators, Kafka's own command-line clients
# (kafka-tools from Maven Central, external clients for the intake and security tests),
# Chromium, Node.js and poppler-utils (the dashboard and monthly-report tests) and the browser
# tests' npm packages.
test-tools: deploy-tools
	$(STACK) tools
	bash deploy/local/ensure-test-tools.sh
	$(MAKE) browser-tools

# Starts the stack if it is not running, and stops it afterwards only if it started it.
test: lint test-tools
	bash deploy/local/with-stack.sh $(PY) -m pytest
