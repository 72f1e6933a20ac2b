"""A wrong password or an untrusted certificate fails at startup, naming the setting and the fix.

librdkafka would retry such a connection forever without raising. Each case below gives the
startup check a deadline far longer than the failure takes (and shorter than the test timeout):
had the check waited for the deadline instead of classifying the error, it would raise
BrokerUnreachableError, not the error asserted here.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from orchestrator.cli import main
from orchestrator.client import WorkflowClient
from orchestrator.devstack import LocalStack
from orchestrator.devstack.certificates import write_tls_material
from orchestrator.engine.runner import Orchestrator
from orchestrator.errors import BrokerUnreachableError, KafkaAuthenticationError, KafkaTlsError
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.transport.preflight import verify_connection
from orchestrator.transport.security import KafkaSecurity
from orchestrator.worker import Service
from tests.integration.apps import registry
from tests.integration.harness import App

pytestmark = pytest.mark.broker  # the session's private SASL_SSL broker
serde = SingleObjectSerde(SchemaRepository())
PATIENT_S = 200.0  # far above a failed handshake, below pytest's 300 s timeout


@pytest.fixture(scope="module")
def wrong_password(secure_security: KafkaSecurity) -> KafkaSecurity:
    return secure_security.model_copy(update={"sasl_password": SecretStr("not-the-password")})


@pytest.fixture(scope="module")
def untrusted_ca(secure_security: KafkaSecurity, tmp_path_factory: pytest.TempPathFactory) -> KafkaSecurity:
    """A CA of another session: a valid CA file, just not the one that signed this broker."""
    other = write_tls_material(tmp_path_factory.mktemp("other-ca"), ca_name="Someone else's CA")
    return secure_security.model_copy(update={"ssl_ca_location": other.ca})


def test_orchestrator_with_a_wrong_password_fails_at_startup(secure_app: App, wrong_password: KafkaSecurity) -> None:
    settings = secure_app.settings(security=wrong_password, connect_timeout_s=PATIENT_S)
    with pytest.raises(KafkaAuthenticationError) as err:
        Orchestrator(settings, registry, serde=serde).run()
    assert err.value.setting == "security.sasl_username / security.sasl_password"
    assert "SAGABRIDGE_SECURITY__SASL_PASSWORD" in err.value.fix
    assert "not-the-password" not in str(err.value)


def test_client_and_service_with_a_wrong_password_fail_at_startup(
    secure_app: App, wrong_password: KafkaSecurity
) -> None:
    with pytest.raises(KafkaAuthenticationError, match="client"):
        WorkflowClient(
            secure_app.bootstrap, secure_app.name, serde, security=wrong_password, connect_timeout_s=PATIENT_S
        )
    service = Service(
        "payments",
        secure_app.bootstrap,
        serde,
        command_topic=secure_app.command_topic("payments"),
        security=wrong_password,
        connect_timeout_s=PATIENT_S,
    )
    failures: list[BaseException] = []

    def run() -> None:
        try:
            service.run()
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(PATIENT_S + 30)
    assert not worker.is_alive(), "the service kept retrying a refused password"
    (failure,) = failures
    assert isinstance(failure, KafkaAuthenticationError) and "service payments" in failure.problem


@pytest.mark.parametrize("command", [["topics", "apply", "--dry-run"], ["workflows", "list"]])
def test_cli_with_a_wrong_password_exits_naming_the_variable(
    command: list[str],
    secure_app: App,
    wrong_password: KafkaSecurity,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Configured the way `orchestrator dev up --security sasl-ssl` prints it: environment only."""
    for name, value in wrong_password.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SAGABRIDGE_BOOTSTRAP_SERVERS", secure_app.bootstrap)
    monkeypatch.setenv("SAGABRIDGE_APP", secure_app.name)
    monkeypatch.setenv("SAGABRIDGE_CONNECT_TIMEOUT_S", str(PATIENT_S))
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "refused the SASL credentials" in err and "SAGABRIDGE_SECURITY__SASL_PASSWORD" in err


def test_an_untrusted_broker_certificate_fails_at_startup(secure_app: App, untrusted_ca: KafkaSecurity) -> None:
    with pytest.raises(KafkaTlsError) as err:
        WorkflowClient(secure_app.bootstrap, secure_app.name, serde, security=untrusted_ca, connect_timeout_s=PATIENT_S)
    assert err.value.setting == "security.ssl_ca_location"
    assert "SAGABRIDGE_SECURITY__SSL_CA_LOCATION" in err.value.fix
    settings = secure_app.settings(security=untrusted_ca, connect_timeout_s=PATIENT_S)
    with pytest.raises(KafkaTlsError):
        Orchestrator(settings, registry, serde=serde).run()


def test_no_port_of_the_secure_broker_serves_a_client_without_its_credentials(
    secure_stack: LocalStack, secure_security: KafkaSecurity
) -> None:
    """No way around SCRAM: the client listener drops plaintext, the controller wants a certificate."""
    with pytest.raises(BrokerUnreachableError) as err:
        verify_connection(secure_stack.bootstrap_servers, {}, timeout_s=3)
    assert "SAGABRIDGE_SECURITY__PROTOCOL" in err.value.fix
    # The controller takes only the broker's own certificate. Under TLS 1.3 the refusal of a client
    # without one arrives after the handshake, as a plain transport error: unreachable, not TLS.
    controller = f"127.0.0.1:{secure_stack.ports.controller}"
    for properties in ({}, secure_security.client_properties()):
        with pytest.raises(BrokerUnreachableError):
            verify_connection(controller, properties, timeout_s=3)


def test_missing_ca_file_is_refused_before_connecting(secure_app: App, tmp_path: Path) -> None:
    from orchestrator.config import load_settings
    from orchestrator.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as err:
        load_settings(
            None,
            app=secure_app.name,
            bootstrap_servers=secure_app.bootstrap,
            security={**secure_app.security.model_dump(), "ssl_ca_location": tmp_path / "nope.pem"},
        )
    assert err.value.setting == "security.ssl_ca_location"
    assert "SAGABRIDGE_SECURITY__SSL_CA_LOCATION" in err.value.fix
