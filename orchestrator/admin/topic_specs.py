"""Topics as code: declarative specs in `topics/*.toml`, applied idempotently.

`apply` creates what is missing and *reports* drift on live topics instead of altering them:
changing partitions or cleanup policy of a live topic is an operator decision (re-keying,
compaction side effects), never something a deploy should do silently.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.errors import ConfigurationError, PartitionMismatchError, TopicError
from orchestrator.transport.admin import TopicDescription


class TopicRole(StrEnum):
    INBOX = "inbox"
    CHANGELOG = "changelog"
    EVENTS = "events"
    DLQ = "dlq"
    COMMANDS = "commands"
    OTHER = "other"


class TopicSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=249)
    role: TopicRole = TopicRole.OTHER
    partitions: int = Field(ge=1)
    replication_factor: int = Field(default=1, ge=1)
    config: dict[str, str] = Field(default_factory=dict)

    @field_validator("config", mode="before")
    @classmethod
    def _stringify(cls, value: Mapping[str, object]) -> dict[str, str]:
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}


class TopicSet(BaseModel):
    """All topics of one application, with the co-partitioning rule checked up front."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    app: str
    topics: tuple[TopicSpec, ...]

    def by_role(self, role: TopicRole) -> list[TopicSpec]:
        return [t for t in self.topics if t.role is role]

    def pair(self) -> tuple[TopicSpec, TopicSpec] | None:
        inbox, changelog = self.by_role(TopicRole.INBOX), self.by_role(TopicRole.CHANGELOG)
        if not inbox or not changelog:
            return None
        return inbox[0], changelog[0]

    def check_copartitioned(self) -> None:
        pair = self.pair()
        if pair and pair[0].partitions != pair[1].partitions:
            raise PartitionMismatchError(pair[0].name, pair[0].partitions, pair[1].name, pair[1].partitions)


def load_topic_set(path: Path, app: str | None = None, partitions: int | None = None) -> TopicSet:
    """Load a spec file. `{app}` in names is substituted; `partitions` overrides inbox+changelog."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigurationError("topics file", f"{path} does not exist", "pass --file topics/<app>.toml") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError("topics file", f"{path} is not valid TOML ({exc})", "fix the syntax") from exc
    app_name = app or raw.get("app", {}).get("name")
    if not app_name:
        raise ConfigurationError("app.name", f"{path} names no app", 'add [app] name = "..." or pass --app')
    specs = []
    for entry in raw.get("topic", []):
        entry = dict(entry)
        entry["name"] = str(entry["name"]).format(app=app_name)
        if partitions is not None and entry.get("role") in (TopicRole.INBOX, TopicRole.CHANGELOG):
            entry["partitions"] = partitions
        specs.append(TopicSpec.model_validate(entry))
    topic_set = TopicSet(app=app_name, topics=tuple(specs))
    topic_set.check_copartitioned()
    return topic_set


class AdminPort(Protocol):
    def describe(self, names: Sequence[str], timeout_s: float = ...) -> dict[str, TopicDescription]: ...
    def create(
        self, name: str, partitions: int, replication_factor: int, config: Mapping[str, str], timeout_s: float = ...
    ) -> None: ...


@dataclass(frozen=True)
class Drift:
    topic: str
    setting: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.setting} is {self.actual!r}, spec says {self.expected!r}"


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    dry_run: bool = False

    def lines(self) -> list[str]:
        verb = "would create" if self.dry_run else "created"
        out = [f"{verb}: {n}" for n in self.created]
        out += [f"ok: {n}" for n in self.unchanged]
        out += [f"DRIFT {d} (not changed; fix the spec or the topic by hand)" for d in self.drift]
        return out


def diff(spec: TopicSpec, live: TopicDescription) -> list[Drift]:
    drift = []
    if spec.partitions != live.partitions:
        drift.append(Drift(spec.name, "partitions", str(spec.partitions), str(live.partitions)))
    if spec.replication_factor != live.replication_factor:
        drift.append(Drift(spec.name, "replication_factor", str(spec.replication_factor), str(live.replication_factor)))
    for key, value in sorted(spec.config.items()):
        actual = live.config.get(key)
        if actual != value:
            drift.append(Drift(spec.name, key, value, "<unset>" if actual is None else actual))
    return drift


def apply(admin: AdminPort, topic_set: TopicSet, dry_run: bool = False) -> ApplyReport:
    """Create missing topics, report drift on existing ones, refuse a co-partitioning break."""
    topic_set.check_copartitioned()
    live = admin.describe([t.name for t in topic_set.topics])
    pair = topic_set.pair()
    if pair and pair[0].name in live and pair[1].name in live:
        inbox, changelog = live[pair[0].name], live[pair[1].name]
        if inbox.partitions != changelog.partitions:
            raise PartitionMismatchError(inbox.name, inbox.partitions, changelog.name, changelog.partitions)
    report = ApplyReport(dry_run=dry_run)
    for spec in topic_set.topics:
        if spec.name in live:
            found = diff(spec, live[spec.name])
            report.drift.extend(found)
            if not found:
                report.unchanged.append(spec.name)
            continue
        partitions = spec.partitions
        if spec.role is TopicRole.CHANGELOG and pair and pair[0].name in live:
            # The changelog follows the *live* inbox: co-partitioning is what restore relies on.
            partitions = live[pair[0].name].partitions
        if not dry_run:
            admin.create(spec.name, partitions, spec.replication_factor, spec.config)
        report.created.append(spec.name)
    return report


def verify_copartitioned(admin: AdminPort, inbox: str, changelog: str) -> int:
    """Startup check: both topics exist with equal partition counts. Returns the count."""
    live = admin.describe([inbox, changelog])
    for name in (inbox, changelog):
        if name not in live:
            raise TopicError(f"topic {name!r} does not exist; run `orchestrator topics apply`")
    if live[inbox].partitions != live[changelog].partitions:
        raise PartitionMismatchError(inbox, live[inbox].partitions, changelog, live[changelog].partitions)
    return live[inbox].partitions
