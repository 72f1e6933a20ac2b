"""The `[shadow]` table of a mapping file: how shadow mode observes, judges and cuts over one domain.

Shadow mode reuses the bridge's mapping (connectors/<domain>.toml) as it is: its sources say how to
decode each topic, its triggers and outcomes say which case (workflow id) an event belongs to. The
optional `[shadow]` table adds only what the bridge has no use for:

    [shadow]
    stall_after = "30m"          # a case with no event for this long is stalled
    grace = "5m"                 # an event this far behind its partition's stream time is late
    compensations = ["sagabridge.demo.inventory.ReleaseStock"]   # also learned from the workflow

    [[shadow.case]]              # events no trigger or outcome reads, still part of the flow
    topics = ["shop.orders.events"]
    event = "OrderConfirmed"
    correlation = "order-{value.orderId}"

    [[shadow.allow]]             # a known, accepted difference: reported, not counted
    kind = "unexpected_step"
    activity = "StockReleased"
    reason = "inventory releases stale holds nightly"

    [shadow.cutover]
    workflow_type = "order-fulfilment"
    relay = ["shop.orders.events", "shop.inventory.events"]   # relayed for choreography's cases

Validated when loaded, like the rest of the file: a bad value fails at startup naming the setting.
"""

from __future__ import annotations

import fnmatch
from datetime import timedelta
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestrator.bridge.errors import MappingConfigError
from orchestrator.bridge.mapping import ConnectorConfig, Duration, ExpressionField, TemplateField
from orchestrator.shadow.verdicts import DeviationKind

DEFAULT_RELAY_TOPIC = "{topic}.choreography"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class CaseRule(_Model):
    """An event the workflow does not read, but that belongs to a case's flow (e.g. `OrderConfirmed`)."""

    name: str | None = None
    topics: tuple[str, ...] = Field(min_length=1)
    event: str | None = None
    when: ExpressionField | None = None
    correlation: TemplateField
    message_id: TemplateField | None = None


class AllowRule(_Model):
    """A known, accepted difference between choreography and the workflow.

    `step` and `activity` are shell-style globs (`*Release*`) over the deviation's command type
    (full or short name) and the event type that evidences it; unset matches anything.
    """

    kind: DeviationKind
    step: str | None = None
    activity: str | None = None
    reason: str = ""

    def allows(self, kind: DeviationKind, step: str | None, activity: str | None) -> bool:
        """Whether this rule silences a deviation of `kind` at `step`, evidenced by `activity`."""
        if kind is not self.kind:
            return False
        return _glob(self.step, step) and _glob(self.activity, activity)


def _glob(pattern: str | None, value: str | None) -> bool:
    if pattern is None:
        return True
    if value is None:
        return False
    short = value.rsplit(".", 1)[-1]
    return fnmatch.fnmatchcase(value, pattern) or fnmatch.fnmatchcase(short, pattern)


class CutoverSettings(_Model):
    """`[shadow.cutover]`: this domain's connector routes every case it correlates."""

    enabled: bool = Field(default=True, description="false: the connector runs as a plain bridge")
    workflow_type: str = Field(min_length=1)
    relay: tuple[str, ...] = Field(
        default=(), description="source topics choreography's services read: relayed for choreography's cases"
    )
    relay_topic: str = Field(
        default=DEFAULT_RELAY_TOPIC, description="where a relayed topic's records go; {topic} is the source topic"
    )

    @model_validator(mode="after")
    def _template(self) -> Self:
        if "{topic}" not in self.relay_topic:
            raise ValueError("relay_topic must contain '{topic}', e.g. '{topic}.choreography'")
        return self

    def relay_target(self, topic: str) -> str:
        """The relay topic of source `topic`."""
        return self.relay_topic.replace("{topic}", topic)


class ShadowSettings(_Model):
    """The `[shadow]` table of a mapping file: stall and lateness thresholds, case rules, allow-list, cutover."""

    stall_after: Duration = Field(default=timedelta(minutes=30), description="idle this long: stalled")
    grace: Duration = Field(default=timedelta(minutes=5), description="this far behind stream time: late")
    partitions: int = Field(default=6, ge=1, description="partitions of the shadow topics it creates")
    compensations: tuple[str, ...] = Field(default=(), description="command types that undo a step")
    end_activities: tuple[str, ...] = Field(
        default=(), description="activities a case ends at (default: those that end half the cases they occur in)"
    )
    cases: tuple[CaseRule, ...] = Field(default=(), alias="case")
    allow: tuple[AllowRule, ...] = ()
    cutover: CutoverSettings | None = None

    def allowed(self, kind: DeviationKind, step: str | None, activity: str | None) -> AllowRule | None:
        """The first allow rule that silences this deviation, or None."""
        return next((rule for rule in self.allow if rule.allows(kind, step, activity)), None)


def shadow_settings(config: ConnectorConfig, origin: str = "mapping file") -> ShadowSettings:
    """The file's `[shadow]` table, validated (every case rule and relay reads a declared source)."""
    raw: dict[str, Any] = dict(config.shadow)
    try:
        settings = ShadowSettings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MappingConfigError(
            f"{origin}: shadow.{where}", first["msg"].removeprefix("Value error, "), "see docs/shadow.md"
        ) from exc
    declared = {s.topic for s in config.sources}
    for i, rule in enumerate(settings.cases):
        missing = [t for t in rule.topics if t not in declared]
        if missing:
            raise MappingConfigError(
                f"{origin}: shadow.case[{rule.name or i}].topics",
                f"{', '.join(missing)} not declared under [[source]]",
                "declare each topic's format under [[source]]",
            )
    if settings.cutover is not None:
        missing = [t for t in settings.cutover.relay if t not in declared]
        if missing:
            raise MappingConfigError(
                f"{origin}: shadow.cutover.relay",
                f"{', '.join(missing)} not declared under [[source]]",
                "declare each relayed topic under [[source]]",
            )
    return settings


__all__ = ["AllowRule", "CaseRule", "CutoverSettings", "ShadowSettings", "shadow_settings"]
