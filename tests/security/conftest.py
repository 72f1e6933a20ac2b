"""A private SASL_SSL broker for the session: SCRAM-SHA-512 over TLS, certificates made here.

It never touches the shared stack: its own directory, free ports, and it is stopped at the end.
Set SAGABRIDGE_TEST_SECURE_STACK to the name of a running `orchestrator dev up --security
sasl-ssl --name <name>` stack to reuse it instead of starting one per session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.devstack import LocalStack, throwaway_stack
from orchestrator.devstack.secure_broker import StackSecurity
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.security import KafkaSecurity
from tests.integration.harness import App, create_app


@pytest.fixture(scope="session")
def secure_stack() -> Iterator[LocalStack]:
    reuse = os.environ.get("SAGABRIDGE_TEST_SECURE_STACK")
    if reuse:
        stack = LocalStack(reuse)
        if stack.security is not StackSecurity.SASL_SSL or not stack.status().kafka_running:
            pytest.fail(f"SAGABRIDGE_TEST_SECURE_STACK={reuse} is not a running sasl-ssl stack")
        yield stack
        return
    with throwaway_stack("secure-stack", security=StackSecurity.SASL_SSL, with_registry=False) as stack:
        yield stack


@pytest.fixture(scope="session")
def secure_security(secure_stack: LocalStack) -> KafkaSecurity:
    """The client settings that the secure broker accepts."""
    return secure_stack.client_security()


@pytest.fixture(scope="session")
def secure_admin(secure_stack: LocalStack, secure_security: KafkaSecurity) -> KafkaAdmin:
    return KafkaAdmin(secure_stack.bootstrap_servers, secure_security.client_properties())


@pytest.fixture
def secure_app(
    secure_admin: KafkaAdmin, secure_stack: LocalStack, secure_security: KafkaSecurity, tmp_path: Path
) -> App:
    """An application with its topics on the secure broker; every client of it authenticates."""
    return create_app(secure_admin, secure_stack.bootstrap_servers, tmp_path, security=secure_security)
