"""Credentials that stop working while running end the process with the auth error, not a silent wait.

A rotated password does not touch connections already authenticated; it bites when the clients
connect again, here after a broker restart. librdkafka then reports `_AUTHENTICATION` only to the
error callback, and every broker call times out exactly like an outage, which the orchestrator's
retries wait out and an idle loop never notices. Without transport/auth_watch.py both processes
below would keep running (liveness fresh) until the test's deadline.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
from pydantic import SecretStr

from orchestrator.devstack import LocalStack
from orchestrator.engine.liveness import read_status
from orchestrator.errors import KafkaAuthenticationError
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.transport.security import KafkaSecurity
from orchestrator.worker import Service
from tests.integration.harness import App, OrchestratorProcess

pytestmark = pytest.mark.broker  # the session's private SASL_SSL broker (restarted here)
serde = SingleObjectSerde(SchemaRepository())
PATIENT_S = 180.0  # far above the few reconnects a refusal takes, below pytest's 300 s timeout


def _set_password(bootstrap: str, security: KafkaSecurity, user: str, password: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, **security.client_properties()})
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    for future in admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, info, password.encode())]
    ).values():
        future.result(timeout=60)


def _wait(condition: Callable[[], bool], what: str, timeout_s: float = PATIENT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s:.0f}s")
        time.sleep(0.2)


@pytest.mark.timeout(900)  # two broker starts (the session's, the restart) on a loaded machine
def test_a_password_rotated_under_a_running_orchestrator_and_service_ends_both(
    secure_stack: LocalStack, secure_security: KafkaSecurity, secure_app: App, tmp_path: Path
) -> None:
    user = f"rotating-{uuid.uuid4().hex[:8]}"
    _set_password(secure_app.bootstrap, secure_security, user, "first-password")
    mine = secure_security.model_copy(update={"sasl_username": user, "sasl_password": SecretStr("first-password")})

    liveness = tmp_path / "liveness.json"
    log = tmp_path / "orchestrator.log"
    orchestrator = OrchestratorProcess(
        secure_app,
        "tests.integration.apps",
        log,
        extra_env={**mine.environment(), "SAGABRIDGE_LIVENESS_FILE": str(liveness)},
    ).start()
    service = Service(
        "payments", secure_app.bootstrap, serde, command_topic=secure_app.command_topic("payments"), security=mine
    )
    failures: list[BaseException] = []

    def run_service() -> None:
        try:
            service.run(poll_timeout_s=0.2)
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=run_service, daemon=True)
    worker.start()
    try:
        # Both are past their startup check and working: the orchestrator owns its partitions.
        _wait(lambda: len(read_status(liveness).get("partitions", [])) == secure_app.partitions, "assignment")
        assert worker.is_alive() and not failures

        _set_password(secure_app.bootstrap, secure_security, user, "rotated-password")
        secure_stack.down()  # their authenticated connections end here; reconnecting is refused
        secure_stack.up(with_registry=False)

        assert orchestrator.proc is not None
        code = orchestrator.proc.wait(PATIENT_S)
        worker.join(PATIENT_S)
    finally:
        orchestrator.terminate()
        service.stop()
    text = log.read_text()
    assert code == 2, text[-3000:]
    assert "KafkaAuthenticationError" in text and "orchestrator (while running)" in text, text[-3000:]
    assert "SAGABRIDGE_SECURITY__SASL_PASSWORD" in text and "first-password" not in text
    assert not worker.is_alive(), "the service kept polling a broker that refuses its password"
    (failure,) = failures
    assert isinstance(failure, KafkaAuthenticationError), repr(failure)
    assert "service payments (while running)" in failure.problem
