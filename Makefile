# Two commands matter: `make test` and `make demo`. Both set up their own environment.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv stack stack-down lint test demo clean

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
	$(BIN)/ruff check orchestrator tests benchmarks
	$(BIN)/mypy

# pytest starts a private broker + registry on free ports for the session (or reuses the
# cluster named by SAGABRIDGE_TEST_BOOTSTRAP / SAGABRIDGE_TEST_REGISTRY_URL) and stops it after.
test: venv lint
	$(BIN)/orchestrator dev fetch
	$(BIN)/pytest -q

# The order-fulfilment saga end to end: orchestrator + 3 services as processes, 200 orders,
# transient failures, payment declines and a 20 s inventory outage. ORDERS=50 for a shorter run.
ORDERS ?= 200
demo: stack
	SAGABRIDGE_SCHEMA_REGISTRY_URL=http://127.0.0.1:18081/apis/ccompat/v7 \
	  $(BIN)/orchestrator schemas register
	$(BIN)/python -m examples.orders.demo --orders $(ORDERS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
