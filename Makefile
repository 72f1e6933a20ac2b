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

demo: stack
	@echo
	@echo "The local stack is up:"
	@echo "  export SAGABRIDGE_BOOTSTRAP_SERVERS=127.0.0.1:19092"
	@echo "  export SAGABRIDGE_SCHEMA_REGISTRY_URL=http://127.0.0.1:18081/apis/ccompat/v7"
	@echo "Next: $(BIN)/orchestrator topics apply --file topics/orders.toml"
	@echo "The end-to-end order-fulfilment demo lands with issue 5 (see docs/)."

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
