"""Orchestrator configuration: file + environment, validated up front.

Settings come from (highest first) explicit arguments, environment variables prefixed
`SAGABRIDGE_` (nested with `__`, e.g. `SAGABRIDGE_KAFKA__SECURITY_PROTOCOL`), then a TOML
file. A bad value fails at startup with the setting's name and the fix, never later.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.errors import ConfigurationError

_TOPIC_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")
# Properties the runner owns: letting users override them would break exactly-once.
_RESERVED_KAFKA = {
    "transactional.id",
    "isolation.level",
    "enable.auto.commit",
    "group.id",
    "enable.idempotence",
}


class OrchestratorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAGABRIDGE_", env_nested_delimiter="__", extra="forbid")

    app: str = Field(description="application name; topics are <app>.inbox/.changelog/.events/.dlq")
    bootstrap_servers: str = Field(description="Kafka bootstrap servers")
    instance_id: str = Field(
        default="0",
        description="stable per instance: transactional.id is derived from it so a restart fences its zombie",
    )
    group_id: str | None = Field(default=None, description="consumer group; default <app>-orchestrator")
    state_dir: Path = Field(default=Path(".state"), description="RocksDB stores live in <state_dir>/<group>/<p>/")
    commit_interval_ms: int = Field(default=100, ge=1, le=60_000)
    commit_every: int = Field(default=1000, ge=1, description="checkpoint after this many inputs at the latest")
    cache_size: int = Field(default=10_000, ge=1, description="live workflow instances kept in memory")
    retention_ms: int = Field(default=7 * 24 * 3600 * 1000, ge=0, description="how long finished workflows stay")
    command_topic_template: str = "{service}.commands"
    service_topics: dict[str, str] = Field(default_factory=dict)
    framing: Literal["single-object", "confluent"] = "single-object"
    schema_registry_url: str | None = None
    schemas_dir: Path | None = None
    revoke_commit_timeout_s: float = Field(default=10.0, gt=0)
    kafka: dict[str, str] = Field(default_factory=dict, description="librdkafka properties passed through")

    @field_validator("app")
    @classmethod
    def _app_is_topic_safe(cls, value: str) -> str:
        if not _TOPIC_SAFE.match(value):
            raise ValueError("must contain only letters, digits, '.', '_' or '-' (it prefixes topic names)")
        return value

    @field_validator("kafka")
    @classmethod
    def _no_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        clash = sorted(set(value) & _RESERVED_KAFKA)
        if clash:
            raise ValueError(f"{', '.join(clash)} are managed by the orchestrator for exactly-once; remove them")
        return {k: str(v) for k, v in value.items()}

    @field_validator("command_topic_template")
    @classmethod
    def _template_has_service(cls, value: str) -> str:
        if "{service}" not in value:
            raise ValueError("must contain '{service}', e.g. '{service}.commands'")
        return value

    @model_validator(mode="after")
    def _registry_for_confluent(self) -> OrchestratorSettings:
        if self.framing == "confluent" and not self.schema_registry_url:
            raise ValueError("framing 'confluent' needs schema_registry_url (SAGABRIDGE_SCHEMA_REGISTRY_URL)")
        return self

    # -- derived names -----------------------------------------------------------------
    @property
    def group(self) -> str:
        return self.group_id or f"{self.app}-orchestrator"

    @property
    def transactional_id(self) -> str:
        return f"{self.group}-{self.instance_id}"

    @property
    def inbox_topic(self) -> str:
        return f"{self.app}.inbox"

    @property
    def changelog_topic(self) -> str:
        return f"{self.app}.changelog"

    @property
    def events_topic(self) -> str:
        return f"{self.app}.events"

    @property
    def dlq_topic(self) -> str:
        return f"{self.app}.dlq"

    def partition_dir(self, partition: int) -> Path:
        return self.state_dir / self.group / str(partition)


def load_settings(config_file: Path | None = None, **overrides: Any) -> OrchestratorSettings:
    """Build settings from a TOML file, the environment and overrides; raise ConfigurationError."""
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            file_values = tomllib.loads(config_file.read_text())
        except FileNotFoundError as exc:
            raise ConfigurationError("--config", f"{config_file} does not exist", "pass an existing TOML file") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError("--config", f"{config_file} is not valid TOML: {exc}", "fix its syntax") from exc
    values = {**file_values, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return OrchestratorSettings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        setting = ".".join(str(p) for p in first["loc"]) or "settings"
        env = "SAGABRIDGE_" + setting.upper().replace(".", "__")
        raise ConfigurationError(
            setting, first["msg"], f"set it in the config file or the environment ({env})"
        ) from exc
