# Two commands matter: `make test` and `make demo`. Both set up their own environment.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv stack stack-down lint test demo demo-saga e2e-jaeger bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The shared dev stack (Kafka 19092, registry 18081); artifacts cached in ~/.cache/sagabridge.
stack: venv
	$(BIN)/orchestrator dev up

stack-down: venv
	$(BIN)/orchestrator dev down

lint: venv
	$(BIN)/ruff check orchestrator tests benchmarks examples
	$(BIN)/ruff format --check orchestrator tests benchmarks examples
	$(BIN)/mypy

# pytest starts a private broker + registry on free ports for the session (or reuses the
# cluster named by SAGABRIDGE_TEST_BOOTSTRAP / SAGABRIDGE_TEST_REGISTRY_URL) and stops it after.
test: venv lint
	$(BIN)/orchestrator dev fetch
	$(BIN)/pytest -q

# The bridge end to end (examples/choreography/story.py): the shop's services choreograph on their
# own; shadow mode draws the flow they really run and reports where it differs from the
# order-fulfilment workflow; the cutover moves new orders to the workflow (half, back, then all)
# while services lose messages and inventory goes down; every order accounted for at the end.
# STORY_ARGS="--orders-before 40 --orders-after 100" for a shorter run; --kill-during-switch too.
STORY_ARGS ?=
demo: stack
	$(BIN)/python -m examples.choreography.story $(STORY_ARGS)

# The order-fulfilment saga on its own: orchestrator + 3 protocol services as processes, 200 orders,
# transient failures, payment declines and a 20 s inventory outage. ORDERS=50 for a shorter run.
ORDERS ?= 200
demo-saga: stack
	SAGABRIDGE_SCHEMA_REGISTRY_URL=http://127.0.0.1:18081/apis/ccompat/v7 \
	  $(BIN)/orchestrator schemas register
	@if $(BIN)/orchestrator jaeger url >/dev/null 2>&1; then \
	  echo "Jaeger is running: traces at $$($(BIN)/orchestrator jaeger url)"; \
	  export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318; \
	  $(BIN)/python -m examples.orders.demo --orders $(ORDERS); \
	else $(BIN)/python -m examples.orders.demo --orders $(ORDERS); fi

# Jaeger v2 built from the Go module proxy (cached in ~/.cache/sagabridge/jaeger; the first build
# takes ~12 min on 2 cores), then a saga exported over OTLP and checked through Jaeger's query API.
e2e-jaeger: venv
	$(BIN)/orchestrator jaeger build
	SAGABRIDGE_E2E_JAEGER=1 $(BIN)/pytest -q -m jaeger tests/tracing/test_jaeger_e2e.py

# Benchmarks against a raw-Kafka ceiling measured in the same run (see benchmarks/README.md):
# results/<timestamp>.json + BENCHMARKS.md. BENCH_SIZE=tiny|small|full.
BENCH_SIZE ?= small
bench: stack
	$(BIN)/python -m benchmarks run --size $(BENCH_SIZE)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
