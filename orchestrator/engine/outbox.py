"""Builds the records one engine call produces: commands, lifecycle events, control records.

Everything is keyed by workflow id so a workflow's records stay ordered per partition. Lifecycle
events are only built on live execution: the replay path never reaches this module.
"""

from __future__ import annotations

from typing import Any, Protocol

from orchestrator.engine.state_records import Header, StepRecord
from orchestrator.engine.topics import EngineTopics
from orchestrator.errors import DecodeError
from orchestrator.serialization import AvroSerde
from orchestrator.transport import header_names
from orchestrator.transport.dlq import dead_letter
from orchestrator.transport.records import InboundRecord, OutboundRecord, make_headers
from orchestrator.workflow.activation import ErrorInfo

EVENTS_NS = "sagabridge.events."


def command_id(workflow_id: str, seq: int) -> str:
    return f"{workflow_id}/{seq}"


class CommandRouter(Protocol):
    """Turns a step's command into a native participant's own record (orchestrator/bridge/outbound.py).

    Returns None for services it does not map: they get the participant-protocol command. Pure:
    it runs inside the engine turn, so its record is produced in the checkpoint's transaction.
    A mapping that fails raises a DecodeError; the command is then dead-lettered (the step times
    out and retries per its policy, and parks when they are exhausted).
    """

    def route(
        self, header: Header, step: StepRecord, reply_to: str, trace: list[tuple[str, str]]
    ) -> OutboundRecord | None: ...


class Outbox:
    """Collects the outbound records of one handle()/fire_due() call."""

    def __init__(self, topics: EngineTopics, serde: AvroSerde, router: CommandRouter | None = None) -> None:
        self.topics = topics
        self.serde = serde
        self.router = router
        self.records: list[OutboundRecord] = []

    def add(self, record: OutboundRecord) -> None:
        self.records.append(record)

    def command(
        self, header: Header, step: StepRecord, trace: list[tuple[str, str]], *, cancel_requested: bool = False
    ) -> None:
        """The step's current attempt; `trace` = its W3C headers (engine/run_tracing.command_trace_headers).
        `cancel_requested`: the workflow is being cancelled, the participant may decline a command
        it has not executed yet (docs/protocol.md §6)."""
        pairs: list[tuple[str, str]] = [
            (header_names.WORKFLOW_ID, header.workflow_id),
            (header_names.COMMAND_ID, step.command_id),
            (header_names.ATTEMPT, str(step.attempt)),
            (header_names.REPLY_TO, self.topics.inbox),
            (header_names.COMMAND_TYPE, step.command_type),
        ]
        if cancel_requested:
            pairs.append((header_names.CANCEL_REQUESTED, "true"))
        pairs.extend(trace)
        protocol = OutboundRecord(
            topic=self.topics.command_topic(step.service),
            key=header.workflow_id.encode(),
            value=step.payload,
            headers=make_headers(pairs),
        )
        if self.router is not None:
            try:
                native = self.router.route(header, step, self.topics.inbox, trace)
            except DecodeError as exc:  # the mapping cannot build this command: park it visibly
                source = InboundRecord(protocol.topic, -1, -1, protocol.key, protocol.value, protocol.headers)
                self.records.append(dead_letter(source, self.topics.dlq, exc))
                return
            if native is not None:
                self.records.append(native)
                return
        self.records.append(protocol)

    def event(self, name: str, header: Header, at_ms: int, **fields: Any) -> None:
        value = {"workflow_id": header.workflow_id, "workflow_type": header.workflow_type, "at_ms": at_ms, **fields}
        self.records.append(
            OutboundRecord(
                topic=self.topics.events,
                key=header.workflow_id.encode(),
                value=self.serde.encode(EVENTS_NS + name, value),
            )
        )

    def step_event(self, name: str, header: Header, at_ms: int, step: StepRecord, **fields: Any) -> None:
        self.event(
            name,
            header,
            at_ms,
            seq=step.seq,
            service=step.service,
            command_type=step.command_type,
            command_id=step.command_id,
            attempt=step.attempt,
            **fields,
        )

    def encode_optional(self, schema: str | None, value: dict[str, Any] | None) -> bytes | None:
        return None if schema is None or value is None else self.serde.encode(schema, value)

    def to_inbox(self, key: str, schema: str, value: dict[str, Any]) -> None:
        """A control record for any workflow of this app; partition left to the key (it may live elsewhere)."""
        self.records.append(
            OutboundRecord(topic=self.topics.inbox, key=key.encode(), value=self.serde.encode(schema, value))
        )

    def to_topic(self, topic: str, key: str, schema: str, value: dict[str, Any]) -> None:
        self.records.append(OutboundRecord(topic=topic, key=key.encode(), value=self.serde.encode(schema, value)))


def error_avro(error: ErrorInfo | None) -> dict[str, Any] | None:
    return None if error is None else error.to_avro()
