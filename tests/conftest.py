"""Session fixtures: one real Kafka broker, one real schema registry and, for the tests that ask
for it, one real PostgreSQL server per test session.

Set SAGABRIDGE_TEST_BOOTSTRAP (and SAGABRIDGE_TEST_REGISTRY_URL) to reuse a running cluster;
otherwise a private stack is started on free ports and stopped when the session ends. PostgreSQL
(Debian's `postgresql` package) gets a private cluster initdb'd into a temporary directory on a
free port, or SAGABRIDGE_TEST_POSTGRES_URL names a server whose role may create databases.
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
from orchestrator.devstack import throwaway_stack
from orchestrator.devstack.postgres import LocalPostgres
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
    with throwaway_stack("test-stack") as stack:
        yield stack.bootstrap_servers, stack.registry_url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Callable[[str], str]]:
    """A factory of fresh, empty databases on a real PostgreSQL server: `make(hint) -> url`."""
    external = os.environ.get("SAGABRIDGE_TEST_POSTGRES_URL")
    if external:
        import psycopg

        def create_external(hint: str) -> str:
            name = f"sb_{hint}_{uuid.uuid4().hex[:8]}".lower().replace("-", "_")
            with psycopg.connect(external, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            return external.rsplit("/", 1)[0] + f"/{name}"

        yield create_external
        return
    root = Path(tempfile.mkdtemp(prefix="sagabridge-test-pg-"))
    server = LocalPostgres(root, free_port())
    try:
        server.up()

        def create(hint: str) -> str:
            return server.create_database(f"sb_{hint}_{uuid.uuid4().hex[:8]}".lower().replace("-", "_"))

        yield create
    finally:
        server.down()
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
