"""Readable views of what the engine produced: commands to services, lifecycle events, published events.

An `Output` is the list of records one environment call produced (so `assert out == []` reads
as "nothing happened"), with helpers that decode them through the application's serde.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.engine.outbox import EVENTS_NS
from orchestrator.engine.topics import EngineTopics
from orchestrator.serialization import AvroModel, AvroSerde, model_for
from orchestrator.transport import header_names
from orchestrator.transport.records import OutboundRecord


@dataclass(frozen=True)
class SentCommand:
    """One attempt of a step, as its participant receives it on `<service>.commands`."""

    service: str
    topic: str
    workflow_id: str
    command_id: str
    seq: int
    attempt: int
    command_type: str
    value: dict[str, Any]
    at_ms: int
    record: OutboundRecord = field(repr=False)

    @property
    def payload(self) -> AvroModel | dict[str, Any]:
        """The command as its generated model when one is imported, else the Avro dict."""
        model = model_for(self.command_type)
        return self.value if model is None else model.from_avro(self.value)


@dataclass(frozen=True)
class EmittedEvent:
    """A record on the events topic (or another topic): lifecycle events and ctx.publish output."""

    topic: str
    workflow_id: str
    schema: str
    value: dict[str, Any]
    at_ms: int

    @property
    def name(self) -> str:
        """The record's short name: "WorkflowCompleted", "StepRetrying", "OrderShipped", ..."""
        return self.schema.rsplit(".", 1)[-1]

    @property
    def is_lifecycle(self) -> bool:
        """True for a `sagabridge.events.*` lifecycle event."""
        return self.schema.startswith(EVENTS_NS)


class Output(list[OutboundRecord]):
    """The records of one environment call, in the order the engine produced them."""

    def __init__(self, records: Iterable[OutboundRecord], serde: AvroSerde, topics: EngineTopics) -> None:
        super().__init__(records)
        self._serde = serde
        self._topics = topics

    def decode(self, record: OutboundRecord) -> tuple[str, dict[str, Any]]:
        """(schema name, value) of one record."""
        if record.value is None:
            raise ValueError(f"record on {record.topic} has no value")
        decoded = self._serde.decode(record.value)
        return decoded.schema_name, decoded.value

    def commands(self, service: str | None = None) -> list[OutboundRecord]:
        """Command records (every `sb-command-type` carrying record), optionally of one service."""
        topic = None if service is None else self._topics.command_topic(service)
        return [
            r for r in self if r.header(header_names.COMMAND_TYPE) is not None and (topic is None or r.topic == topic)
        ]

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Lifecycle events (decoded, with "_type" = the event name), optionally of one name."""
        found = []
        for record in self:
            if record.topic != self._topics.events or record.value is None:
                continue
            schema, value = self.decode(record)
            if not schema.startswith(EVENTS_NS):
                continue
            if name is None or schema == EVENTS_NS + name:
                found.append({"_type": schema[len(EVENTS_NS) :], **value})
        return found

    def event_names(self) -> list[str]:
        """The names of the lifecycle events, in order."""
        return [e["_type"] for e in self.events()]

    def to_topic(self, topic: str) -> list[OutboundRecord]:
        """The records produced to `topic`."""
        return [r for r in self if r.topic == topic]


def sent_command(record: OutboundRecord, service: str, serde: AvroSerde, at_ms: int) -> SentCommand:
    """The command a produced record carries, decoded, with its protocol headers."""
    command_id = record.header(header_names.COMMAND_ID) or ""
    workflow_id = record.header(header_names.WORKFLOW_ID) or ""
    value = {} if record.value is None else serde.decode(record.value).value
    return SentCommand(
        service=service,
        topic=record.topic,
        workflow_id=workflow_id,
        command_id=command_id,
        seq=int(command_id.rsplit("/", 1)[-1]),
        attempt=int(record.header(header_names.ATTEMPT) or 0),
        command_type=record.header(header_names.COMMAND_TYPE) or "",
        value=value,
        at_ms=at_ms,
        record=record,
    )


def emitted_event(record: OutboundRecord, serde: AvroSerde, at_ms: int) -> EmittedEvent | None:
    """The decoded event of a produced record, or None when it is not an event."""
    if record.value is None or record.key is None:
        return None
    decoded = serde.decode(record.value)
    return EmittedEvent(record.topic, record.key.decode(), decoded.schema_name, decoded.value, at_ms)
