"""Session fixtures: one real Kafka broker and one real schema registry per test session.

Set SAGABRIDGE_TEST_BOOTSTRAP (and SAGABRIDGE_TEST_REGISTRY_URL) to reuse a running cluster;
otherwise a private stack is started on free ports and stopped when the session ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import examples.orders  # noqa: F401  (the demo's schemas: many tests use its records)
from orchestrator.devstack import LocalStack, StackPorts
from orchestrator.devstack.processes import free_port
from orchestrator.transport.admin import KafkaAdmin

TopicFactory = Callable[..., str]
BROKER_FIXTURES = frozenset({"_stack", "kafka_bootstrap", "schema_registry_url", "kafka_admin", "topic_factory"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tag every test that needs a broker (any of the stack fixtures) as `broker`, so
    `make unit` (`-m "not broker"`) runs the rest in seconds without starting one."""
    for item in items:
        if BROKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.broker)


@pytest.fixture(scope="session")
def _stack() -> Iterator[tuple[str, str]]:
    bootstrap = os.environ.get("SAGABRIDGE_TEST_BOOTSTRAP")
    if bootstrap:
        registry = os.environ.get("SAGABRIDGE_TEST_REGISTRY_URL", "")
        yield bootstrap, registry
        return
    root = Path(tempfile.mkdtemp(prefix="sagabridge-test-stack-"))
    stack = LocalStack(
        f"test-{os.getpid()}",
        StackPorts(kafka=free_port(), controller=free_port(), registry=free_port()),
        root=root,
    )
    try:
        stack.up(with_registry=True)
        yield stack.bootstrap_servers, stack.registry_url
    finally:
        stack.down()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(_stack: tuple[str, str]) -> str:
    return _stack[0]


@pytest.fixture(scope="session")
def schema_registry_url(_stack: tuple[str, str]) -> str:
    if not _stack[1]:
        pytest.fail("SAGABRIDGE_TEST_BOOTSTRAP is set but SAGABRIDGE_TEST_REGISTRY_URL is not")
    return _stack[1]


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> KafkaAdmin:
    return KafkaAdmin(kafka_bootstrap)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    test = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:40]

    def make(hint: str) -> str:
        return f"{hint}-{test}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def topic_factory(kafka_admin: KafkaAdmin, unique_name: Callable[[str], str]) -> TopicFactory:
    def make(hint: str, partitions: int = 1, config: dict[str, str] | None = None) -> str:
        name = unique_name(hint)
        kafka_admin.create(name, partitions, 1, config or {})
        return name

    return make
