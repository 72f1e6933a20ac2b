# Two commands matter: `make test` and `make demo`. Both set up their own environment.
# `make help` lists every target (the `## ` comment after a target is its help line).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SRC := orchestrator tests benchmarks examples chaos

.DEFAULT_GOAL := help
.PHONY: help venv stack stack-down lint format unit test demo demo-saga screenshots e2e-jaeger bench chaos clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: $(VENV)/.installed ## the .venv with an editable install and the dev tools

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The shared dev stack (Kafka 19092, registry 18081); artifacts cached in ~/.cache/sagabridge.
stack: venv ## start the shared dev stack (idempotent)
	$(BIN)/orchestrator dev up

stack-down: venv ## stop the dev stack
	$(BIN)/orchestrator dev down

# ruff (incl. pydocstyle D1 on the public API), the format, mypy strict (tests too) and the
# layering contract (import-linter, pyproject.toml): Kafka only at the edge.
lint: venv ## ruff check + ruff format --check + mypy + the import-linter layering contract
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy
	$(BIN)/lint-imports

format: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix $(SRC)
	$(BIN)/ruff format $(SRC)

# Everything that needs no broker (workflow runtime, engine over RocksDB, serialization, ...).
unit: venv ## the tests that need no broker: fast, nothing started
	$(BIN)/pytest -q -m "not broker and not jaeger"

# pytest starts a private broker + registry on free ports for the session (or reuses the
# cluster named by SAGABRIDGE_TEST_BOOTSTRAP / SAGABRIDGE_TEST_REGISTRY_URL) and stops it after.
test: venv lint ## lint, then the whole suite against a real broker and registry
	$(BIN)/orchestrator dev fetch
	$(BIN)/pytest -q

# The bridge end to end (examples/choreography/story.py): the shop's services choreograph on their
# own; shadow mode draws the flow they really run and reports where it differs from the
# order-fulfilment workflow; the cutover moves new orders to the workflow (half, back, then all)
# while services lose messages and inventory goes down; every order accounted for at the end.
# STORY_ARGS="--orders-before 40 --orders-after 100" for a shorter run; --kill-during-switch too.
STORY_ARGS ?=
demo: stack ## the bridge story: choreography, shadow mode, cutover, the saga under failures
	$(BIN)/python -m examples.choreography.story $(STORY_ARGS)

# The order-fulfilment saga on its own: orchestrator + 3 protocol services as processes, 200 orders,
# transient failures, payment declines and a 20 s inventory outage. ORDERS=50 for a shorter run.
ORDERS ?= 200
demo-saga: stack ## the order-fulfilment saga on its own (ORDERS=50 for a shorter run)
	SAGABRIDGE_SCHEMA_REGISTRY_URL=http://127.0.0.1:18081/apis/ccompat/v7 \
	  $(BIN)/orchestrator schemas register --schemas-dir examples/orders/schemas
	@if $(BIN)/orchestrator jaeger url >/dev/null 2>&1; then \
	  echo "Jaeger is running: traces at $$($(BIN)/orchestrator jaeger url)"; \
	  export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318; \
	  $(BIN)/python -m examples.orders.demo --orders $(ORDERS); \
	else $(BIN)/python -m examples.orders.demo --orders $(ORDERS); fi

# The web UI's screenshots in docs/images/, taken by its browser test (headless Debian Chromium)
# on the shared dev stack: the pictures docs/visibility.md shows.
screenshots: stack ## retake docs/images/ (the web UI's browser test on the dev stack)
	SAGABRIDGE_TEST_BOOTSTRAP=127.0.0.1:19092 SAGABRIDGE_TEST_REGISTRY_URL=http://127.0.0.1:18081/apis/ccompat/v7 \
	  SAGABRIDGE_UI_SCREENSHOTS=docs/images $(BIN)/pytest -q tests/visibility/test_ui_browser.py

# Jaeger v2 built from the Go module proxy (cached in ~/.cache/sagabridge/jaeger; the first build
# takes ~12 min on 2 cores), then a saga exported over OTLP and checked through Jaeger's query API.
e2e-jaeger: venv ## build Jaeger v2 and check a saga's trace in it
	$(BIN)/orchestrator jaeger build
	SAGABRIDGE_E2E_JAEGER=1 $(BIN)/pytest -q -m jaeger tests/tracing/test_jaeger_e2e.py

# Benchmarks against a raw-Kafka ceiling measured in the same run (see benchmarks/README.md):
# results/<timestamp>.json + BENCHMARKS.md. BENCH_SIZE=tiny|small|full.
BENCH_SIZE ?= small
bench: stack ## benchmarks against the raw-Kafka ceiling (BENCH_SIZE=tiny|small|full)
	$(BIN)/python -m benchmarks run --size $(BENCH_SIZE)

# The project's own chaos run (docs/chaos.md): orchestrators, services and a private broker of its
# own on free ports (never the shared stack), under SIGKILLs, a wiped state dir, a frozen instance,
# a broker restart, a service outage and bad input; then the committed topics are audited. Exits
# non-zero on any loss, duplicate or stuck workflow. chaos/results/<run>.json + .md.
# CHAOS_SIZE=long for the issue's scale; CHAOS_ARGS="--seed N" repeats a run's fault schedule.
CHAOS_SIZE ?= default
chaos: venv ## chaos run + audit of the committed topics (CHAOS_SIZE=tiny|default|long)
	$(BIN)/orchestrator dev fetch
	$(BIN)/python -m chaos run --size $(CHAOS_SIZE) $(CHAOS_ARGS)

clean: ## remove the venv and the tool caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache .grimp_cache .hypothesis
