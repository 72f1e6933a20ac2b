"""The SASL_SSL profile of the local broker: SCRAM-SHA-512 over TLS, as production clusters run.

- Clients reach one listener, `SASL_SSL`, with a SCRAM user made at format time
  (`kafka-storage format --add-scram`, KIP-900): KRaft keeps SCRAM credentials in the metadata
  log, so they must exist before the broker first starts, and nothing else creates them.
- The broker talks to itself (transaction markers, the group and transaction coordinators) over
  that same listener as the `admin` SCRAM user.
- The controller listener speaks TLS with client certificates required: KRaft cannot use SCRAM
  there (its credentials live in the very log the controller serves), and a plaintext port
  would be a way around the client listener. Only the broker holds a certificate the CA signed.

Passwords are random per stack and kept in `<stack>/security/credentials.json` (mode 600).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import SecretStr

from orchestrator.devstack.certificates import TlsMaterial, ensure_tls_material
from orchestrator.errors import StackError
from orchestrator.transport.security import KafkaSecurity, SaslMechanism, SecurityProtocol

MECHANISM = SaslMechanism.SCRAM_SHA_512
CLIENT_USER = "sagabridge"
ADMIN_USER = "admin"


class StackSecurity(StrEnum):
    """How the local broker's client listener is secured (`orchestrator dev up --security`)."""

    PLAINTEXT = "plaintext"
    SASL_SSL = "sasl-ssl"


@dataclass(frozen=True)
class StackCredentials:
    username: str
    password: str
    admin_password: str

    @classmethod
    def generate(cls) -> StackCredentials:
        # url-safe tokens: nothing that needs quoting in a JAAS line or the --add-scram syntax
        return cls(CLIENT_USER, secrets.token_urlsafe(24), secrets.token_urlsafe(24))


@dataclass(frozen=True)
class SecureBroker:
    """Everything the SASL_SSL profile keeps in `<stack>/security/`."""

    directory: Path
    credentials: StackCredentials
    tls: TlsMaterial

    @classmethod
    def prepare(cls, stack_directory: Path, formatted: bool) -> SecureBroker:
        """Load (or, for a stack not formatted yet, create) credentials; refresh TLS material."""
        directory = stack_directory / "security"
        directory.mkdir(parents=True, exist_ok=True)
        saved = directory / "credentials.json"
        if saved.exists():
            credentials = StackCredentials(**json.loads(saved.read_text()))
        elif formatted:
            raise StackError(
                f"{stack_directory} holds a formatted broker but no {saved}: its SCRAM users cannot be "
                f"recovered. Fix: `orchestrator dev down` and delete {stack_directory}, then `dev up` again"
            )
        else:
            credentials = StackCredentials.generate()
            fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(json.dumps(asdict(credentials)))
        return cls(directory, credentials, ensure_tls_material(directory))

    @classmethod
    def load(cls, stack_directory: Path) -> SecureBroker | None:
        """The profile of a prepared stack, without creating anything; None when not prepared."""
        directory = stack_directory / "security"
        saved = directory / "credentials.json"
        if not saved.exists():
            return None
        credentials = StackCredentials(**json.loads(saved.read_text()))
        return cls(directory, credentials, TlsMaterial(directory / "ca.pem", directory / "broker.pem"))

    def client_security(self) -> KafkaSecurity:
        """What a client of this broker configures (SAGABRIDGE_SECURITY__* in `exports`)."""
        return KafkaSecurity(
            protocol=SecurityProtocol.SASL_SSL,
            sasl_mechanism=MECHANISM,
            sasl_username=self.credentials.username,
            sasl_password=SecretStr(self.credentials.password),
            ssl_ca_location=self.tls.ca,
        )

    def exports(self) -> list[tuple[str, str]]:
        return list(self.client_security().environment().items())

    def format_arguments(self) -> list[str]:
        """`kafka-storage format` arguments that create both SCRAM users in the metadata log."""
        users = ((ADMIN_USER, self.credentials.admin_password), (self.credentials.username, self.credentials.password))
        return [arg for name, pw in users for arg in ("--add-scram", f"{MECHANISM.value}=[name={name},password={pw}]")]

    def server_properties(self, kafka_port: int, controller_port: int) -> dict[str, str]:
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN_USER}" password="{self.credentials.admin_password}";'
        )
        return {
            "listeners": f"SASL_SSL://127.0.0.1:{kafka_port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{kafka_port}",
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
            "sasl.enabled.mechanisms": MECHANISM.value,
            "sasl.mechanism.inter.broker.protocol": MECHANISM.value,
            f"listener.name.sasl_ssl.{MECHANISM.value.lower()}.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.tls.broker),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.tls.ca),
            "listener.name.controller.ssl.client.auth": "required",
        }
