"""The mapping of one domain: source topics, inbound triggers and native participants.

One TOML file per domain in `connectors/` (see docs/bridge.md), or the same objects built in
Python (`ConnectorConfig(domain=..., triggers=[Trigger(...)])`). Kafka-free and I/O-free except
for `load_connector_file`, so shadow mode and tests reuse it as is. Everything is validated
when loaded: every expression compiles, every trigger has what its action needs, every topic a
trigger reads has a declared value format. A bad file fails at startup naming the setting.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationError, model_validator

from orchestrator.bridge.errors import MappingConfigError
from orchestrator.bridge.expressions import Expression, Template
from orchestrator.bridge.fieldmap import FieldMap

_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expression(value: object) -> Expression:
    if isinstance(value, Expression):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a JMESPath expression string")
    try:
        return Expression(value)
    except MappingConfigError as exc:
        raise ValueError(exc.problem) from None


def _template(value: object) -> Template:
    if isinstance(value, Template):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a template string such as 'order-{value.orderId}'")
    try:
        return Template(value)
    except MappingConfigError as exc:
        raise ValueError(exc.problem) from None


def _field_map(value: object) -> FieldMap:
    try:
        return FieldMap.build(value, "mapping")
    except MappingConfigError as exc:
        raise ValueError(f"{exc.setting}: {exc.problem}") from None


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(milliseconds=float(match[1]) * _UNIT_MS[match[2]])
    raise ValueError("must be a duration such as '500ms', '30s', '10m', '2h' or '7d'")


def _retryable(value: object) -> bool | Expression:
    return value if isinstance(value, bool) else _expression(value)


ExpressionField = Annotated[Expression, BeforeValidator(_expression), PlainSerializer(lambda e: e.source)]
TemplateField = Annotated[Template, BeforeValidator(_template), PlainSerializer(lambda t: t.source)]
FieldMapField = Annotated[FieldMap, BeforeValidator(_field_map), PlainSerializer(lambda m: m.to_raw())]
Duration = Annotated[
    timedelta, BeforeValidator(_duration), PlainSerializer(lambda d: f"{int(d / timedelta(milliseconds=1))}ms")
]
RetryableField = Annotated[
    bool | Expression,
    BeforeValidator(_retryable),
    PlainSerializer(lambda r: r if isinstance(r, bool) else r.source),
]


class ValueFormat(StrEnum):
    """How a topic's record values are encoded."""

    JSON = "json"
    AVRO_SINGLE_OBJECT = "avro-single-object"  # C3 01 + CRC-64-AVRO fingerprint, schemas from the schemas dir
    AVRO_CONFLUENT = "avro-confluent"  # magic 0 + 4-byte registry id

    @property
    def is_avro(self) -> bool:
        """Either Avro framing: values are decoded (and checked) against a writer schema."""
        return self is not ValueFormat.JSON


class TriggerAction(StrEnum):
    """What a trigger asks of its workflow; `on_missing` / `on_existing` refine it (`Trigger.kind`)."""

    START = "start"
    SIGNAL = "signal"
    SIGNAL_WITH_START = "signal-with-start"


class OnMissing(StrEnum):
    """A signal for a workflow that does not exist (yet)."""

    START = "start"  # start it (needs workflow_type + input): a signal-with-start
    BUFFER = "buffer"  # keep it in the engine until the workflow starts, at most buffer_ttl
    DLQ = "dlq"
    DROP = "drop"  # counted, nothing else


class OnExisting(StrEnum):
    """A start for a workflow that already exists."""

    SIGNAL = "signal"  # deliver the trigger's signal instead (needs signal)
    IGNORE = "ignore"  # starts are idempotent on the workflow id


class InboxRecordKind(StrEnum):
    """What a trigger writes to the inbox, derived from action + on_missing + on_existing."""

    START = "StartWorkflow"
    SIGNAL = "SignalWorkflow"
    SIGNAL_WITH_START = "SignalWithStart"


class StartFrom(StrEnum):
    """Where a connector group without committed offsets starts reading its topics."""

    EARLIEST = "earliest"  # every event still on the topics
    LATEST = "latest"  # only events published from now on (adopting a live choreography)


class OutcomeStatus(StrEnum):
    """Whether a participant's event completes its open step or fails it."""

    SUCCESS = "success"
    FAILURE = "failure"


class _Model(BaseModel):
    # A list field reads its singular TOML name (`[[trigger]]` for `triggers`) through
    # validation_alias/serialization_alias, not `alias=`: type checkers take an alias as the
    # constructor's keyword, and Python code builds these objects by field name (`triggers=`).
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class SourceTopic(_Model):
    """A topic the bridge reads and how to read it."""

    topic: str = Field(min_length=1)
    format: ValueFormat = ValueFormat.JSON
    event_type: ExpressionField | None = Field(
        default=None,
        description="expression naming the event type (e.g. value.type); default: the ce_type header, "
        "then the Avro record name",
    )
    schemas: tuple[str, ...] = Field(
        default=(),
        description="Avro names of the events on this topic (for JSON: their shape), checked by `connectors check`",
    )
    require_match: bool = Field(default=False, description="an event no trigger or outcome matches goes to the DLQ")


class _Matcher(_Model):
    """What trigger and outcome share: where an event comes from and which workflow it concerns."""

    topics: tuple[str, ...] = Field(min_length=1)
    event: str | None = Field(default=None, description="event type to match (full or short record name, ce_type)")
    when: ExpressionField | None = Field(default=None, description="JMESPath predicate; truthy = the event matches")
    correlation: TemplateField = Field(description="workflow id template, e.g. 'order-{value.orderId}'")
    message_id: TemplateField | None = Field(
        default=None, description="de-duplication id (default topic:partition:offset), e.g. 'headers.ce_id'"
    )


class Trigger(_Matcher):
    """An inbound trigger: an event starts a workflow or signals it."""

    name: str = Field(pattern=_NAME.pattern)
    action: TriggerAction
    workflow_type: str | None = None
    input_schema: str | None = Field(default=None, description="Avro full name of the workflow's input record")
    input: FieldMapField | None = None
    signal: str | None = Field(default=None, description="signal name (signal, signal-with-start, on_existing=signal)")
    payload_schema: str | None = Field(default=None, description="Avro full name of the signal payload (optional)")
    payload: FieldMapField | None = None
    on_missing: OnMissing | None = Field(default=None, description="default: drop for signal, start otherwise")
    on_existing: OnExisting | None = Field(default=None, description="default: ignore for start, signal otherwise")
    buffer_ttl: Duration | None = Field(default=None, description="on_missing=buffer: how long to wait (default 10m)")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        a, missing, existing = self.action, self.effective_on_missing, self.effective_on_existing
        needs_start = self.kind is not InboxRecordKind.SIGNAL
        needs_signal = self.kind is not InboxRecordKind.START
        if a is TriggerAction.START and missing is not OnMissing.START:
            raise ValueError("action 'start' creates the workflow: on_missing can only be 'start'")
        if a is TriggerAction.SIGNAL_WITH_START and (
            missing is not OnMissing.START or existing is not OnExisting.SIGNAL
        ):
            raise ValueError("'signal-with-start' implies on_missing=start and on_existing=signal")
        if a is TriggerAction.SIGNAL and existing is not OnExisting.SIGNAL:
            raise ValueError("action 'signal' signals an existing workflow: on_existing can only be 'signal'")
        if needs_start and not (self.workflow_type and self.input_schema and self.input is not None):
            raise ValueError(f"starting a workflow ({self.kind.value}) needs workflow_type, input_schema and input")
        if needs_signal and not self.signal:
            raise ValueError(f"signalling a workflow ({self.kind.value}) needs signal = <name>")
        if self.payload is not None and not self.payload_schema:
            raise ValueError("a payload mapping needs payload_schema (the Avro record it is encoded as)")
        if self.buffer_ttl is not None and missing is not OnMissing.BUFFER:
            raise ValueError("buffer_ttl only applies with on_missing = 'buffer'")
        return self

    @property
    def effective_on_missing(self) -> OnMissing:
        """`on_missing`, or its default for the action: drop for `signal`, start otherwise."""
        if self.on_missing is not None:
            return self.on_missing
        return OnMissing.DROP if self.action is TriggerAction.SIGNAL else OnMissing.START

    @property
    def effective_on_existing(self) -> OnExisting:
        """`on_existing`, or its default for the action: ignore for `start`, signal otherwise."""
        if self.on_existing is not None:
            return self.on_existing
        return OnExisting.IGNORE if self.action is TriggerAction.START else OnExisting.SIGNAL

    @property
    def kind(self) -> InboxRecordKind:
        """The inbox record this trigger writes. A start that signals an existing workflow, or a
        signal that starts a missing one, is a `SignalWithStart`: the engine decides atomically
        which applies, since only the workflow's partition owner knows whether it exists."""
        if self.action is TriggerAction.SIGNAL_WITH_START:
            return InboxRecordKind.SIGNAL_WITH_START
        if self.action is TriggerAction.START:
            if self.effective_on_existing is OnExisting.SIGNAL:
                return InboxRecordKind.SIGNAL_WITH_START
            return InboxRecordKind.START
        if self.effective_on_missing is OnMissing.START:
            return InboxRecordKind.SIGNAL_WITH_START
        return InboxRecordKind.SIGNAL


class CommandMapping(_Model):
    """Outbound: how one command type of a native participant is written to the service's own topic.

    Expressions see `command` (the decoded command record), `workflow_id`, `command_id` (the
    idempotency key, the same across retries), `attempt`, `command_type` and `service`.
    """

    type: str = Field(description="Avro full name of the workflow's command record")
    topic: str = Field(min_length=1)
    format: ValueFormat = ValueFormat.JSON
    value_schema: str | None = Field(default=None, description="Avro formats: the service's record to encode")
    key: TemplateField | None = Field(default=None, description="record key template (default: the workflow id)")
    value: FieldMapField
    headers: dict[str, TemplateField] = Field(default_factory=dict)
    cloudevents_type: str | None = Field(
        default=None, description="set to add CloudEvents binary-mode headers (ce_id, ce_type, ce_source, ...)"
    )

    @model_validator(mode="after")
    def _schema_for_avro(self) -> Self:
        if self.format.is_avro and not self.value_schema:
            raise ValueError(f"format {self.format.value!r} needs value_schema (the service's Avro record name)")
        return self


class Outcome(_Matcher):
    """A domain event of a native participant read as the success or failure of its open step."""

    name: str | None = Field(default=None, pattern=_NAME.pattern)
    command_type: str | None = Field(default=None, description="settle only a step of this command type")
    status: OutcomeStatus
    result_schema: str | None = Field(default=None, description="success: the step's result record")
    result: FieldMapField | None = None
    error_type: TemplateField | None = Field(default=None, description="failure: default the event type")
    error_message: TemplateField | None = None
    retryable: RetryableField = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.status is OutcomeStatus.SUCCESS and (self.result is None) != (self.result_schema is None):
            raise ValueError("a success outcome maps a result with result_schema and result together (or neither)")
        if self.status is OutcomeStatus.FAILURE and self.result is not None:
            raise ValueError("a failure outcome has no result; map error_type / error_message / retryable")
        return self


class Participant(_Model):
    """A native participant: a service that does not speak the participant protocol."""

    service: str = Field(pattern=_NAME.pattern)
    commands: tuple[CommandMapping, ...] = Field(default=(), validation_alias="command", serialization_alias="command")
    outcomes: tuple[Outcome, ...] = Field(default=(), validation_alias="outcome", serialization_alias="outcome")

    def command_for(self, command_type: str) -> CommandMapping | None:
        """The mapping of `command_type`; None: the command goes out in the participant protocol."""
        for mapping in self.commands:
            if mapping.type == command_type:
                return mapping
        return None


class ConnectorConfig(_Model):
    """One domain's mapping file."""

    domain: str = Field(pattern=_NAME.pattern)
    app: str | None = Field(default=None, description="the orchestrator app (default: the settings' app)")
    dlq_topic: str | None = Field(default=None, description="bad events go here (default <app>.dlq)")
    schemas_dir: tuple[Path, ...] = Field(default=(), description="extra .avsc folders (relative to the file)")
    start_from: StartFrom = Field(
        default=StartFrom.EARLIEST, description="where a new connector group starts reading its topics"
    )
    sources: tuple[SourceTopic, ...] = Field(default=(), validation_alias="source", serialization_alias="source")
    triggers: tuple[Trigger, ...] = Field(default=(), validation_alias="trigger", serialization_alias="trigger")
    participants: tuple[Participant, ...] = Field(
        default=(), validation_alias="participant", serialization_alias="participant"
    )
    shadow: dict[str, Any] = Field(
        default_factory=dict,
        description="[shadow]: shadow mode and cutover settings, validated by orchestrator.shadow (docs/shadow.md)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        declared = {s.topic for s in self.sources}
        if len(declared) != len(self.sources):
            raise ValueError("a topic is declared twice under [[source]]")
        names = [t.name for t in self.triggers] + [o.name for p in self.participants for o in p.outcomes if o.name]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"trigger/outcome names must be unique: {', '.join(dupes)}")
        services = [p.service for p in self.participants]
        if len(set(services)) != len(services):
            raise ValueError("a participant service is declared twice")
        for where, matcher in self.matchers():
            undeclared = [t for t in matcher.topics if t not in declared]
            if undeclared:
                raise ValueError(
                    f"{where} reads {', '.join(undeclared)}, not declared under [[source]] (declare its format)"
                )
        return self

    def matchers(self) -> list[tuple[str, Trigger | Outcome]]:
        """Every trigger and outcome with a name for messages, in file order."""
        found: list[tuple[str, Trigger | Outcome]] = [(f"trigger {t.name!r}", t) for t in self.triggers]
        for p in self.participants:
            for i, o in enumerate(p.outcomes):
                found.append((f"participant {p.service!r} outcome {o.name or i}", o))
        return found

    def source(self, topic: str) -> SourceTopic:
        """The `[[source]]` of `topic` (KeyError if it is not declared; validation guarantees it for read topics)."""
        for s in self.sources:
            if s.topic == topic:
                return s
        raise KeyError(topic)

    @property
    def source_topics(self) -> list[str]:
        """Topics something reads (declared sources nothing reads are not consumed)."""
        read = {t for _, m in self.matchers() for t in m.topics}
        return [s.topic for s in self.sources if s.topic in read]

    def shadow_relayed_topics(self) -> list[str]:
        """Topics `[shadow.cutover] relay` names: a connector under cutover reads them too."""
        cutover = self.shadow.get("cutover")
        relay = cutover.get("relay", []) if isinstance(cutover, dict) else []
        return [str(t) for t in relay] if isinstance(relay, list) else []

    def participant(self, service: str) -> Participant | None:
        """The native participant named `service`, if this file declares it."""
        for p in self.participants:
            if p.service == service:
                return p
        return None


def load_connector_file(path: Path, environ: Mapping[str, str] | None = None) -> ConnectorConfig:
    """Read and validate a mapping file; relative `schemas_dir` entries are resolved next to it.

    String values may use `${NAME}` or `${NAME:-default}` from the environment (topic prefixes
    per environment, a registry URL): substituted before anything else is parsed.
    """
    try:
        raw: dict[str, Any] = substitute_env(
            tomllib.loads(path.read_text()), os.environ if environ is None else environ
        )
    except FileNotFoundError as exc:
        raise MappingConfigError(
            "--config", f"{path} does not exist", "pass an existing connectors/<domain>.toml"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise MappingConfigError(str(path), f"not valid TOML: {exc}", "fix its syntax") from exc
    dirs = raw.get("schemas_dir", [])
    if isinstance(dirs, str):
        dirs = [dirs]
    if isinstance(dirs, list):
        raw["schemas_dir"] = [str((path.parent / d).resolve()) if not Path(d).is_absolute() else d for d in dirs]
    return parse_connector_config(raw, str(path))


def substitute_env(node: Any, environ: Mapping[str, str], where: str = "") -> Any:
    """`${NAME}` / `${NAME:-default}` replaced in every string of a parsed TOML tree.

    An unset variable without a default is a MappingConfigError naming the setting (`where`):
    a topic name silently left as `${PREFIX}.orders` would consume nothing.
    """
    if isinstance(node, str):

        def value(match: re.Match[str]) -> str:
            name, default = match[1], match[2]
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise MappingConfigError(
                where or "mapping file", f"${{{name}}} is not set", f"export {name}, or write ${{{name}:-default}}"
            )

        return _ENV.sub(value, node)
    if isinstance(node, dict):
        return {k: substitute_env(v, environ, f"{where}.{k}" if where else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute_env(v, environ, f"{where}[{i}]") for i, v in enumerate(node)]
    return node


def parse_connector_config(raw: dict[str, Any], origin: str = "connector config") -> ConnectorConfig:
    """Validate a parsed mapping; the first problem becomes a MappingConfigError naming its setting."""
    try:
        return ConnectorConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        setting = _setting_name(raw, first["loc"])
        raise MappingConfigError(
            f"{origin}: {setting}", first["msg"].removeprefix("Value error, "), "see docs/bridge.md for the format"
        ) from exc


def _setting_name(raw: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    """`trigger[order-placed].correlation` instead of `trigger.0.correlation`."""
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            node = node[item]
            label = node.get("name") or node.get("service") or node.get("type") if isinstance(node, dict) else None
            parts[-1] = f"{parts[-1]}[{label or item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "file"


__all__ = [
    "CommandMapping",
    "ConnectorConfig",
    "InboxRecordKind",
    "OnExisting",
    "OnMissing",
    "Outcome",
    "OutcomeStatus",
    "Participant",
    "SourceTopic",
    "StartFrom",
    "Trigger",
    "TriggerAction",
    "ValueFormat",
    "load_connector_file",
    "parse_connector_config",
]
