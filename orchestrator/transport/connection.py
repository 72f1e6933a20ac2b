"""The settings every component that talks to Kafka shares: brokers, security, pass-through.

The orchestrator's settings extend this class, the CLI commands that only need a broker load it
on its own, and the bridge's connectors reuse it, so `SAGABRIDGE_BOOTSTRAP_SERVERS`,
`SAGABRIDGE_SECURITY__*` and `SAGABRIDGE_KAFKA__*` mean the same thing to every process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.errors import ConfigurationError
from orchestrator.transport.client_config import client_config_problem
from orchestrator.transport.security import (
    PROPERTY_FIELDS,
    KafkaSecurity,
    merge_security,
    split_security_properties,
)

DEFAULT_CONNECT_TIMEOUT_S = 30.0
# host[:port], an IPv6 literal in brackets, optionally with a listener scheme (librdkafka's forms)
_BROKER = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_+.-]*://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$")
# Properties a named setting already controls: two places for one value would disagree.
_KAFKA_HAS_A_SETTING = {"bootstrap.servers": "bootstrap_servers"}


class KafkaConnectionSettings(BaseSettings):
    """Where the brokers are and how to reach them. Security properties given in `kafka` under
    librdkafka's names are moved into `security`, so they are validated like the typed fields."""

    model_config = SettingsConfigDict(env_prefix="SAGABRIDGE_", env_nested_delimiter="__", extra="forbid")

    bootstrap_servers: str = Field(description="Kafka bootstrap servers")
    security: KafkaSecurity = Field(
        default_factory=KafkaSecurity,
        description="authentication and TLS of every client (SAGABRIDGE_SECURITY__PROTOCOL=SASL_SSL, ...)",
    )
    kafka: dict[str, str] = Field(default_factory=dict, description="librdkafka properties passed through")
    connect_timeout_s: float = Field(
        default=DEFAULT_CONNECT_TIMEOUT_S,
        gt=0,
        description="startup waits this long for a broker to answer; auth and TLS errors fail at once",
    )

    @model_validator(mode="before")
    @classmethod
    def _fold_security_properties(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or not isinstance(data.get("kafka"), Mapping):
            return data
        raw: Mapping[str, Any] = data["kafka"]
        fields, _ = split_security_properties({k: str(v) for k, v in raw.items()})
        if not fields:
            return data
        declared = data.get("security") or {}
        if isinstance(declared, KafkaSecurity):
            declared = declared.model_dump(exclude_defaults=True)
        rest = {k: v for k, v in raw.items() if k.lower() not in PROPERTY_FIELDS}
        return {**data, "kafka": rest, "security": merge_security(declared, fields)}

    @field_validator("bootstrap_servers")
    @classmethod
    def _brokers_are_host_port(cls, value: str) -> str:
        entries = [e.strip() for e in value.split(",")]
        for entry in entries:
            match = _BROKER.match(entry)
            if match is None or not 0 < int(match.group(1) or "9092") < 65536:
                raise ValueError(
                    f"{entry!r} is not host:port; give a comma-separated list, e.g. 'kafka-1:9092,kafka-2:9092'"
                )
        return ",".join(entries)

    @field_validator("kafka")
    @classmethod
    def _librdkafka_accepts(cls, value: dict[str, str]) -> dict[str, str]:
        for prop, setting in _KAFKA_HAS_A_SETTING.items():
            if prop in value:
                raise ValueError(f"{prop} is the setting {setting}; set that instead")
        properties = {k: str(v) for k, v in value.items()}
        problem = client_config_problem(properties)
        if problem is not None:
            raise ValueError(
                f"librdkafka refuses it: {problem}; fix or remove the property (librdkafka CONFIGURATION.md)"
            )
        return properties

    def client_properties(self) -> dict[str, str]:
        """librdkafka properties for every client but `bootstrap.servers`: security, then pass-through."""
        return {**self.security.client_properties(), **self.kafka}


def settings_error(exc: ValidationError) -> ConfigurationError:
    """The first validation failure as a ConfigurationError naming the setting and its variable."""
    errors = exc.errors()
    setting = ".".join(str(p) for p in errors[0]["loc"])
    if not setting:  # a rule across settings: its message names them
        return ConfigurationError("settings", _problem(errors[0]), "change the settings it names")
    env = "SAGABRIDGE_" + setting.upper().replace(".", "__")
    fix = f"set it in the config file or the environment ({env})"
    if setting == "security":  # a rule across the security settings: librdkafka's message names one
        fix = "correct the security setting or file it names (SAGABRIDGE_SECURITY__*, docs/security.md)"
    others = sorted({".".join(str(p) for p in e["loc"]) or "settings" for e in errors[1:]} - {setting})
    if others:
        fix += f"; also invalid: {', '.join(others)}"
    return ConfigurationError(setting, _problem(errors[0]), fix)


def _problem(error: Any) -> str:
    """A validator's own message (pydantic prefixes it with "Value error, "), else pydantic's."""
    raised = (error.get("ctx") or {}).get("error")
    return str(raised) if isinstance(raised, ValueError) else str(error["msg"])


def load_connection(**overrides: Any) -> KafkaConnectionSettings:
    """Connection settings from the environment and non-None overrides; raise ConfigurationError."""
    try:
        return KafkaConnectionSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise settings_error(exc) from exc
