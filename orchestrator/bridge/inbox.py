"""Effects -> `sagabridge.control.*` inbox records, keyed by workflow id.

Each record carries provenance headers (which source event, which trigger) so an operator can
trace any inbox record back to the domain event it came from; the source event's W3C trace
context (`traceparent`) becomes the parent of the workflow's run span on a start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from orchestrator.bridge.events import SourceEvent
from orchestrator.bridge.matching import Effect, OutcomeEffect, SignalEffect, SignalWithStartEffect, StartEffect
from orchestrator.serialization import AvroSerde
from orchestrator.transport.header_names import TRACEPARENT, TRACESTATE
from orchestrator.transport.records import OutboundRecord, make_headers

H_SOURCE_TOPIC = "sb-source-topic"
H_SOURCE_PARTITION = "sb-source-partition"
H_SOURCE_OFFSET = "sb-source-offset"
H_TRIGGER = "sb-trigger"
H_MESSAGE_ID = "sb-message-id"

START = "sagabridge.control.StartWorkflow"
SIGNAL = "sagabridge.control.SignalWorkflow"
SIGNAL_WITH_START = "sagabridge.control.SignalWithStart"
STEP_OUTCOME = "sagabridge.control.StepOutcome"


def _now_ms() -> int:
    return int(time.time() * 1000)


class InboxWriter:
    """Encodes effects with the inbox framing (the orchestrator's serde)."""

    def __init__(self, serde: AvroSerde, inbox_topic: str, clock: Callable[[], int] = _now_ms) -> None:
        self.serde = serde
        self.inbox_topic = inbox_topic
        self.clock = clock

    def record(self, effect: Effect, event: SourceEvent) -> OutboundRecord:
        """The inbox record of one effect, keyed by its workflow id (so by its inbox partition)."""
        schema, value = self._control(effect, event)
        headers = [
            (H_SOURCE_TOPIC, event.record.topic),
            (H_SOURCE_PARTITION, str(event.record.partition)),
            (H_SOURCE_OFFSET, str(event.record.offset)),
            (H_TRIGGER, effect.trigger),
            (H_MESSAGE_ID, effect.message_id),
        ]
        headers += [(name, event.headers[name]) for name in (TRACEPARENT, TRACESTATE) if name in event.headers]
        return OutboundRecord(
            topic=self.inbox_topic,
            key=effect.workflow_id.encode(),
            value=self.serde.encode(schema, value),
            headers=make_headers(headers),
        )

    def _encode(self, schema: str | None, value: dict[str, Any] | None) -> bytes | None:
        return None if schema is None or value is None else self.serde.encode(schema, value)

    def _control(self, effect: Effect, event: SourceEvent) -> tuple[str, dict[str, Any]]:
        trace = {name: event.headers[name] for name in (TRACEPARENT, TRACESTATE) if name in event.headers}
        if isinstance(effect, StartEffect):
            return START, {
                "workflow_type": effect.workflow_type,
                "workflow_id": effect.workflow_id,
                "input_schema": effect.input_schema,
                "input": self.serde.encode(effect.input_schema, effect.input),
                "parent_workflow_id": None,
                "parent_seq": None,
                "trace_context": trace,
                "requested_at_ms": self.clock(),
                "message_id": effect.message_id,
            }
        if isinstance(effect, SignalEffect):
            return SIGNAL, {
                "workflow_id": effect.workflow_id,
                "name": effect.signal,
                "payload_schema": effect.payload_schema if effect.payload is not None else None,
                "payload": self._encode(effect.payload_schema, effect.payload),
                "message_id": effect.message_id,
                "on_missing": effect.on_missing.value.upper(),
                "buffer_ttl_ms": effect.buffer_ttl_ms,
            }
        if isinstance(effect, SignalWithStartEffect):
            return SIGNAL_WITH_START, {
                "workflow_type": effect.workflow_type,
                "workflow_id": effect.workflow_id,
                "input_schema": effect.input_schema,
                "input": self.serde.encode(effect.input_schema, effect.input),
                "signal_name": effect.signal,
                "payload_schema": effect.payload_schema if effect.payload is not None else None,
                "payload": self._encode(effect.payload_schema, effect.payload),
                "message_id": effect.message_id,
                "trace_context": trace,
                "requested_at_ms": self.clock(),
            }
        assert isinstance(effect, OutcomeEffect)
        return STEP_OUTCOME, {
            "workflow_id": effect.workflow_id,
            "service": effect.service,
            "command_type": effect.command_type,
            "success": effect.success,
            "result_schema": effect.result_schema if effect.result is not None else None,
            "result": self._encode(effect.result_schema, effect.result),
            "error": None if effect.error is None else effect.error.to_avro(),
            "message_id": effect.message_id,
        }


__all__ = ["InboxWriter"]
