"""Orchestrator configuration: file + environment, validated up front.

Settings come from (highest first) explicit arguments, environment variables prefixed
`SAGABRIDGE_` (nested with `__`, e.g. `SAGABRIDGE_SECURITY__PROTOCOL=SASL_SSL`), then a TOML
file. A bad value fails at startup with the setting's name and the fix, never later. The Kafka
connection part (brokers, `security`, the `kafka` pass-through) is `KafkaConnectionSettings`,
shared with every other component that builds Kafka clients.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from orchestrator.errors import ConfigurationError
from orchestrator.state.store_memory import RocksDBSettings
from orchestrator.topic_names import (
    DEFAULT_COMMAND_TOPIC_TEMPLATE,
    MAX_TOPIC_LENGTH,
    command_topic_template_problem,
    topic_name_problem,
)
from orchestrator.transport.connection import KafkaConnectionSettings, settings_error
from orchestrator.visibility.settings import VisibilityConfig

# Enough for the working set of a busy instance (every run that steps keeps its runtime), small
# enough that a million parked workflows cost their stores, not their runtimes (~300 MiB at most).
DEFAULT_CACHE_SIZE = 50_000
_LONGEST_SUFFIX = ".changelog"  # of the topics derived from app
# Properties the runner owns: letting users override them would break exactly-once.
_RESERVED_KAFKA = {
    "transactional.id",
    "isolation.level",
    "enable.auto.commit",
    "group.id",
    "enable.idempotence",
    "group.instance.id",
}


class OrchestratorSettings(KafkaConnectionSettings):
    """Everything an orchestrator instance is configured with; invalid values fail at startup."""

    model_config = SettingsConfigDict(env_prefix="SAGABRIDGE_", env_nested_delimiter="__", extra="forbid")

    app: str = Field(description="application name; topics are <app>.inbox/.changelog/.events/.dlq")
    instance_id: str = Field(
        default="0",
        description="stable per instance: transactional.id is derived from it so a restart fences its zombie",
    )
    group_id: str | None = Field(default=None, description="consumer group; default <app>-orchestrator")
    state_dir: Path = Field(default=Path(".state"), description="RocksDB stores live in <state_dir>/<group>/<p>/")
    commit_interval_ms: int = Field(
        default=100,
        ge=1,
        le=60_000,
        description="a checkpoint at least this often while work waits (see commit_idle_ms)",
    )
    commit_every: int = Field(default=1000, ge=1, description="checkpoint after this many inputs at the latest")
    cache_size: int = Field(
        default=DEFAULT_CACHE_SIZE,
        ge=1,
        le=10_000_000,
        description="live workflow runs kept in memory by the process, across all the partitions it owns "
        "(least recently used first out; an evicted run is replayed on its next event). A parked run costs "
        '~6-8 KiB plus its own state (docs/operations.md, "Memory")',
    )
    history_warn_events: int | None = Field(
        default=10_000,
        ge=1,
        description="a run whose history reaches this many events logs a warning once and its "
        "ctx.continue_as_new_suggested turns True (null: never)",
    )
    retention_ms: int = Field(default=7 * 24 * 3600 * 1000, ge=0, description="how long finished workflows stay")
    command_topic_template: str = Field(
        default=DEFAULT_COMMAND_TOPIC_TEMPLATE,
        description="command topic of a service; {service} required, {app} optional (set by deployment)",
    )
    service_topics: dict[str, str] = Field(default_factory=dict)
    framing: Literal["single-object", "confluent"] = "single-object"
    schema_registry_url: str | None = Field(default=None, validate_default=True)
    schemas_dir: Path | None = None
    revoke_commit_timeout_s: float = Field(
        default=5.0, gt=0, le=300, description="deadline of the commit a revoked partition gets before it moves"
    )
    # -- deadlines, liveness, shutdown (docs/operations.md) --------------------------------
    kafka_call_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="deadline the process enforces on each call that waits on the broker (a whole checkpoint "
        "commit included); a transactional call past it fences and recreates the producer",
    )
    stuck_call_grace_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="a loop-thread call still blocked this long past its deadline ends the process (status 70)",
    )
    shutdown_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="SIGTERM ends the process within this bound (status 75 past it)"
    )
    liveness_file: Path | None = Field(
        default=None, description="rewritten by the loop at least every liveness_interval_s; stale = stuck"
    )
    liveness_interval_s: float = Field(default=1.0, gt=0, le=60)
    # -- group membership and hand-over ----------------------------------------------------
    static_membership: bool = Field(
        default=True, description="group.instance.id from the instance id: restarts keep their partitions"
    )
    session_timeout_ms: int = Field(
        default=6000, ge=1000, le=300_000, description="a silent member is evicted after this; bounds hand-over"
    )
    heartbeat_interval_ms: int = Field(default=1000, ge=100, le=60_000)
    max_poll_interval_ms: int = Field(
        default=300_000, ge=10_000, le=3_600_000, description="backstop: above the longest partition restore"
    )
    transaction_timeout_ms: int = Field(
        default=10_000,
        ge=1000,
        le=900_000,
        description="the broker aborts a dead instance's open transaction after this; it bounds how long "
        "read_committed readers wait behind a SIGKILLed instance",
    )
    # -- metrics (docs/metrics.md) --------------------------------------------------------------
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="serve Prometheus metrics at http://<metrics_host>:<port>/metrics (0: any free port, "
        "logged and in the liveness file); unset: no endpoint (OTLP export still follows OTEL_*)",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="address the metrics endpoint binds; 0.0.0.0 to be scraped from other hosts"
    )
    # -- step latency: the commit schedule (docs/configuration.md, engine/commit_schedule.py) ---------
    commit_idle_ms: int = Field(
        default=0,
        ge=0,
        le=60_000,
        description="with work waiting for a checkpoint, commit once the inbox has been quiet this long instead "
        "of waiting out commit_interval_ms (a service sees a command only once its checkpoint commits); "
        "0: as soon as a poll finds nothing new; commit_interval_ms: on the interval only",
    )
    kafka: dict[str, str] = Field(default_factory=dict, description="librdkafka properties passed through")
    connectors: list[Path] = Field(
        default_factory=list, description="bridge mapping files (connectors/<domain>.toml): native participants"
    )
    connectors_embedded: bool = Field(
        default=True, description="also run the files' triggers inside `orchestrator run` (else: connectors run)"
    )
    visibility: VisibilityConfig = Field(default_factory=VisibilityConfig, description="store, HTTP API, tokens")
    rocksdb: RocksDBSettings = Field(
        default_factory=RocksDBSettings,
        description="memory of the partition stores, shared by all of them: block cache, memtables",
    )

    @field_validator("app")
    @classmethod
    def _app_is_topic_safe(cls, value: str) -> str:
        if topic_name_problem(value) is not None:
            raise ValueError("must contain only letters, digits, '.', '_' or '-' (it prefixes topic names)")
        if len(value + _LONGEST_SUFFIX) > MAX_TOPIC_LENGTH:
            limit = MAX_TOPIC_LENGTH - len(_LONGEST_SUFFIX)
            raise ValueError(
                f"is {len(value)} characters long; at most {limit}, as <app>.changelog must be a topic name"
            )
        return value

    @field_validator("instance_id", "group_id")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is not None and (not value or not value.isprintable() or any(c.isspace() for c in value)):
            raise ValueError(f"{value!r} must be non-empty, without spaces or control characters (it names Kafka ids)")
        return value

    @field_validator("metrics_host")
    @classmethod
    def _metrics_host(cls, value: str) -> str:
        if not value or not value.isprintable() or any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not a host name or address, e.g. '127.0.0.1' or '0.0.0.0'")
        return value

    @field_validator("state_dir")
    @classmethod
    def _state_dir_is_writable(cls, value: Path) -> Path:
        if value.exists():
            if not value.is_dir():
                raise ValueError(f"{value} exists and is not a directory; point it at a directory")
            if not os.access(value, os.W_OK | os.X_OK):
                raise ValueError(f"{value} is not writable by this user; fix its permissions or pick another")
            return value
        base = next(p for p in value.absolute().parents if p.exists())
        if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
            raise ValueError(f"{value} does not exist and cannot be created under {base}; create it or pick another")
        return value

    @field_validator("command_topic_template")
    @classmethod
    def _template_names_topics(cls, value: str, info: ValidationInfo) -> str:
        problem = command_topic_template_problem(value, str(info.data.get("app") or "app"))
        if problem is not None:
            raise ValueError(f"{problem}; e.g. '{DEFAULT_COMMAND_TOPIC_TEMPLATE}' or '{{app}}.{{service}}.commands'")
        return value

    @field_validator("service_topics")
    @classmethod
    def _service_topics_are_topics(cls, value: dict[str, str]) -> dict[str, str]:
        for service, topic in value.items():
            if not service:
                raise ValueError("has an empty service name")
            problem = topic_name_problem(topic)
            if problem is not None:
                raise ValueError(f"the topic of {service!r} {problem}")
        return value

    @field_validator("schema_registry_url")
    @classmethod
    def _registry_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            if info.data.get("framing") == "confluent":
                raise ValueError("framing 'confluent' needs it, e.g. 'http://registry:8081' (or use 'single-object')")
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL, e.g. 'http://registry:8081'")
        return value

    @field_validator("schemas_dir")
    @classmethod
    def _schemas_dir_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a directory of .avsc files; fix the path or unset it")
        return value

    @field_validator("kafka")
    @classmethod
    def _no_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        """On top of KafkaConnectionSettings' checks: what exactly-once needs the runner to own."""
        clash = sorted(set(value) & _RESERVED_KAFKA)
        if clash:
            raise ValueError(f"{', '.join(clash)} are managed by the orchestrator for exactly-once; remove them")
        return value

    @model_validator(mode="after")
    def _timeouts_fit_together(self) -> OrchestratorSettings:
        """A checkpoint's transaction must outlive its own commit deadline, or the broker aborts every
        slow commit; a heartbeat must come well within the session, or members are evicted while alive."""
        txn_ms = self.effective_ms("transaction.timeout.ms", self.transaction_timeout_ms)
        commit_ms = self.commit_interval_ms + 1000 * max(self.kafka_call_timeout_s, self.revoke_commit_timeout_s)
        if txn_ms <= commit_ms:
            raise ValueError(
                f"transaction_timeout_ms ({txn_ms}) must exceed commit_interval_ms + the commit deadline "
                f"(max of kafka_call_timeout_s and revoke_commit_timeout_s) = {commit_ms:.0f} ms; raise "
                f"transaction_timeout_ms or lower the others"
            )
        session_ms = self.effective_ms("session.timeout.ms", self.session_timeout_ms)
        heartbeat_ms = self.effective_ms("heartbeat.interval.ms", self.heartbeat_interval_ms)
        if heartbeat_ms * 3 > session_ms:
            raise ValueError(
                f"heartbeat_interval_ms ({heartbeat_ms}) must be at most a third of session_timeout_ms ({session_ms})"
            )
        return self

    @model_validator(mode="after")
    def _commit_schedule_fits(self) -> OrchestratorSettings:
        """The interval is the upper bound of batching: an idle wait past it would never be reached."""
        if self.commit_idle_ms > self.commit_interval_ms:
            raise ValueError(
                f"commit_idle_ms ({self.commit_idle_ms}) must be at most commit_interval_ms "
                f"({self.commit_interval_ms}); lower commit_idle_ms (0: commit as soon as the inbox is drained)"
            )
        return self

    def effective_ms(self, kafka_property: str, value: int) -> int:
        """`kafka` passes librdkafka properties through and wins over the named setting."""
        raw = self.kafka.get(kafka_property)
        try:
            return int(raw) if raw is not None else value
        except ValueError as exc:
            raise ValueError(f"kafka.{kafka_property}={raw!r} is not a number of milliseconds") from exc

    # -- derived names -----------------------------------------------------------------
    @property
    def group(self) -> str:
        """The consumer group of the application's orchestrator instances."""
        return self.group_id or f"{self.app}-orchestrator"

    @property
    def transactional_id(self) -> str:
        """Stable per instance, so a restarted instance fences its zombie (docs/design.md §5)."""
        return f"{self.group}-{self.instance_id}"

    @property
    def group_instance_id(self) -> str | None:
        """Static membership (KIP-345): stable per instance like the transactional id."""
        return self.transactional_id if self.static_membership else None

    @property
    def inbox_topic(self) -> str:
        """`<app>.inbox`."""
        return f"{self.app}.inbox"

    @property
    def changelog_topic(self) -> str:
        """`<app>.changelog`, co-partitioned with the inbox."""
        return f"{self.app}.changelog"

    @property
    def events_topic(self) -> str:
        """`<app>.events`."""
        return f"{self.app}.events"

    @property
    def dlq_topic(self) -> str:
        """`<app>.dlq`."""
        return f"{self.app}.dlq"

    def partition_dir(self, partition: int) -> Path:
        """The RocksDB directory of one inbox partition: `<state_dir>/<group>/<partition>/`."""
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
        raise settings_error(exc) from exc
