"""How every SagaBridge Kafka client authenticates and encrypts: one typed model, one place.

Why a model rather than raw librdkafka properties: librdkafka accepts a SASL protocol without
credentials, a CA file that does not exist or a misspelt mechanism and then retries in the
background forever. Validated here, each mistake fails at startup naming the field. The model is
shared by the orchestrator, the client, the worker SDK, the CLI and the bridge's connectors, so
they all speak the same settings (`security.*`, env `SAGABRIDGE_SECURITY__*`).

Raw properties under librdkafka's own names (`security.protocol`, `sasl.username`, `ssl.ca.location`,
...) in a `kafka` pass-through dict are folded into the model by `split_security_properties`, so
both spellings are validated alike; properties the model does not cover (OAUTHBEARER or Kerberos
tuning, `ssl.keystore.*`, `ssl.ca.pem`) stay in the pass-through untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from orchestrator.transport.client_config import client_config_problem


class SecurityProtocol(StrEnum):
    """librdkafka's `security.protocol` values."""

    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"

    @property
    def uses_sasl(self) -> bool:
        return self in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)

    @property
    def uses_tls(self) -> bool:
        return self in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)


class SaslMechanism(StrEnum):
    """librdkafka's `sasl.mechanism` values. PLAIN and SCRAM take a username and a password."""

    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"
    OAUTHBEARER = "OAUTHBEARER"
    GSSAPI = "GSSAPI"

    @property
    def needs_password(self) -> bool:
        return self in (SaslMechanism.PLAIN, SaslMechanism.SCRAM_SHA_256, SaslMechanism.SCRAM_SHA_512)


# librdkafka property -> field. `sasl.mechanisms` is librdkafka's older spelling of the same property.
PROPERTY_FIELDS: dict[str, str] = {
    "security.protocol": "protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.mechanisms": "sasl_mechanism",
    "sasl.username": "sasl_username",
    "sasl.password": "sasl_password",
    "ssl.ca.location": "ssl_ca_location",
    "ssl.certificate.location": "ssl_certificate_location",
    "ssl.key.location": "ssl_key_location",
    "ssl.key.password": "ssl_key_password",
    "ssl.endpoint.identification.algorithm": "ssl_endpoint_identification",
}
_SASL_FIELDS = ("sasl_username", "sasl_password")
_TLS_FIELDS = ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location", "ssl_key_password")
# librdkafka's `ssl.ca.location=probe`: look for the system CA bundle in the usual places.
PROBE_SYSTEM_CAS = "probe"


class KafkaSecurity(BaseModel):
    """Authentication and transport encryption of a Kafka client. The default is PLAINTEXT."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: SecurityProtocol = Field(
        default=SecurityProtocol.PLAINTEXT, description="PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL"
    )
    sasl_mechanism: SaslMechanism | None = Field(
        default=None, validate_default=True, description="required with a SASL protocol, e.g. SCRAM-SHA-512"
    )
    sasl_username: str | None = Field(default=None, validate_default=True)
    sasl_password: SecretStr | None = Field(default=None, validate_default=True)
    ssl_ca_location: Path | None = Field(
        default=None,
        validate_default=True,
        description="PEM file of the CAs trusted to sign the broker certificate; unset: the system's CAs",
    )
    ssl_certificate_location: Path | None = Field(
        default=None, validate_default=True, description="client certificate (PEM), for mutual TLS only"
    )
    ssl_key_location: Path | None = Field(
        default=None, validate_default=True, description="the client certificate's private key (PEM)"
    )
    ssl_key_password: SecretStr | None = Field(default=None, validate_default=True)
    ssl_endpoint_identification: bool = Field(
        default=True, description="check that the broker certificate names the host connected to"
    )

    # -- validation (field validators, so an error names its own field) -----------------------------
    @field_validator("protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        """librdkafka accepts `sasl_ssl` and `scram-sha-512`; so do we."""
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("ssl_endpoint_identification", mode="before")
    @classmethod
    def _algorithm(cls, value: Any) -> Any:
        """The librdkafka spelling (`https` | `none`) maps onto the flag."""
        if isinstance(value, str) and value.strip().lower() in ("https", "none"):
            return value.strip().lower() == "https"
        return value

    @field_validator("sasl_mechanism")
    @classmethod
    def _mechanism_for_sasl(cls, value: SaslMechanism | None, info: ValidationInfo) -> SaslMechanism | None:
        protocol = info.data.get("protocol")
        if protocol is None:  # the protocol itself was invalid; that error is reported
            return value
        if protocol.uses_sasl and value is None:
            raise ValueError(f"required with protocol {protocol}, e.g. SCRAM-SHA-512")
        if not protocol.uses_sasl and value is not None:
            raise ValueError(f"protocol {protocol} does not use SASL; set protocol SASL_SSL or remove it")
        return value

    @field_validator(*_SASL_FIELDS)
    @classmethod
    def _credentials(cls, value: str | SecretStr | None, info: ValidationInfo) -> str | SecretStr | None:
        protocol, mechanism = info.data.get("protocol"), info.data.get("sasl_mechanism")
        if protocol is None:
            return value
        given = value is not None and (value.get_secret_value() if isinstance(value, SecretStr) else value) != ""
        if not protocol.uses_sasl:
            if given:
                raise ValueError(f"protocol {protocol} does not use SASL; set protocol SASL_SSL or remove it")
            return value
        if mechanism is not None and mechanism.needs_password and not given:
            raise ValueError(f"required with SASL mechanism {mechanism}")
        return value

    @field_validator(*_TLS_FIELDS)
    @classmethod
    def _tls_files(cls, value: Path | SecretStr | None, info: ValidationInfo) -> Path | SecretStr | None:
        protocol = info.data.get("protocol")
        if value is None or protocol is None:
            return value
        if not protocol.uses_tls:
            raise ValueError(f"protocol {protocol} does not use TLS; set protocol SSL or SASL_SSL or remove it")
        if isinstance(value, Path):
            if info.field_name == "ssl_ca_location" and str(value) == PROBE_SYSTEM_CAS:
                return value
            if not value.exists():
                raise ValueError(f"{value} does not exist; give the path of a readable PEM file")
            if not value.is_file() and not (info.field_name == "ssl_ca_location" and value.is_dir()):
                raise ValueError(f"{value} is not a file; give the path of a PEM file")
        return value

    @field_validator("ssl_key_location")
    @classmethod
    def _key_with_certificate(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if (value is None) != (info.data.get("ssl_certificate_location") is None):
            raise ValueError("mutual TLS needs both ssl_certificate_location and ssl_key_location")
        return value

    @model_validator(mode="after")
    def _librdkafka_loads_it(self) -> KafkaSecurity:
        """The fields check shapes; librdkafka checks the rest only when a client is built: whether
        this build has the mechanism (GSSAPI needs libsasl2), whether each file is PEM it can load.
        A throwaway client that connects nowhere asks it now (transport/client_config.py)."""
        if self.protocol is SecurityProtocol.PLAINTEXT:
            return self
        problem = client_config_problem(self.client_properties())
        if problem is not None:
            raise ValueError(f"librdkafka refuses these security settings: {problem}")
        return self

    # -- rendering ---------------------------------------------------------------------------------
    def environment(self, prefix: str = "SAGABRIDGE_SECURITY__") -> dict[str, str]:
        """The settings as environment variables (secrets in clear), e.g. for a child process."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, bool):
                value = str(value).lower()
            env[prefix + name.upper()] = str(value.value if isinstance(value, StrEnum) else value)
        return env

    def client_properties(self) -> dict[str, str]:
        """The librdkafka properties, secrets in clear: hand them to a client, never to a log."""
        props: dict[str, str] = {"security.protocol": self.protocol.value}
        if self.sasl_mechanism is not None:
            props["sasl.mechanism"] = self.sasl_mechanism.value
        if self.sasl_username is not None:
            props["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            props["sasl.password"] = self.sasl_password.get_secret_value()
        if self.protocol.uses_tls:
            for name, path in (
                ("ssl.ca.location", self.ssl_ca_location),
                ("ssl.certificate.location", self.ssl_certificate_location),
                ("ssl.key.location", self.ssl_key_location),
            ):
                if path is not None:
                    props[name] = str(path)
            if self.ssl_key_password is not None:
                props["ssl.key.password"] = self.ssl_key_password.get_secret_value()
            props["ssl.endpoint.identification.algorithm"] = "https" if self.ssl_endpoint_identification else "none"
        return props


def split_security_properties(properties: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(fields of KafkaSecurity, the remaining pass-through properties) from raw librdkafka properties."""
    fields: dict[str, str] = {}
    rest: dict[str, str] = {}
    for name, value in properties.items():
        field = PROPERTY_FIELDS.get(name.lower())
        if field is None:
            rest[name] = value
        elif field in fields and fields[field] != value:
            raise ValueError(f"{name} is given twice with different values")
        else:
            fields[field] = value
    return fields, rest


def merge_security(declared: Mapping[str, Any], from_properties: Mapping[str, Any]) -> dict[str, Any]:
    """Both spellings of one setting must agree; otherwise which one wins would be a guess."""
    merged = dict(declared)
    for field, value in from_properties.items():
        if field in merged and _plain(field, merged[field]) != _plain(field, value):
            prop = next(p for p, f in PROPERTY_FIELDS.items() if f == field)
            raise ValueError(f"security.{field} and the raw property {prop} disagree; set only one of them")
        merged[field] = value
    return merged


def _plain(field: str, value: Any) -> str:
    """A comparable spelling: secrets revealed, enum names and booleans case-insensitive."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    text = str(value.value if isinstance(value, StrEnum) else value).strip()
    if field == "ssl_endpoint_identification":
        return str(text.lower() in ("https", "true", "1"))
    return text.upper() if field in ("protocol", "sasl_mechanism") else text


def client_properties(security: KafkaSecurity | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """librdkafka properties for a client built from constructor arguments (`security=` plus an
    `extra_config` dict): security properties inside `extra` are validated through the model too."""
    from_extra, rest = split_security_properties(extra or {})
    if not from_extra:
        return {**(security or KafkaSecurity()).client_properties(), **rest}
    declared = {} if security is None else security.model_dump(exclude_defaults=True)
    merged = KafkaSecurity.model_validate(merge_security(declared, from_extra))
    return {**merged.client_properties(), **rest}
