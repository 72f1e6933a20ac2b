"""Builds the inbox records clients, services and operators would produce.

The environment feeds the engine the same bytes the runner would consume from Kafka: control
records encoded with the application's serde and replies carrying the participant protocol's
headers (docs/protocol.md). Tests that need malformed or hand-made input build it here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.models.control import (
    CancelWorkflow,
    OperatorAction,
    OperatorActionType,
    QueryWorkflow,
    SignalWorkflow,
    StartWorkflow,
)
from orchestrator.models.protocol import StepError
from orchestrator.serialization import AvroModel, AvroSerde
from orchestrator.transport import header_names
from orchestrator.transport.records import InboundRecord, OutboundRecord

Payload = AvroModel | Mapping[str, Any]


def encode_payload(serde: AvroSerde, value: Payload, schema: str | None, what: str) -> tuple[str, bytes]:
    """(schema name, bytes) of a model, or of a dict whose record name is given."""
    if isinstance(value, AvroModel):
        name = schema or value.avro_schema_name
        return name, serde.encode(name, value.to_avro())
    if not schema:
        raise TypeError(f"{what} is a plain dict: name its Avro record with schema=")
    return schema, serde.encode(schema, dict(value))


class InboxRecords:
    """Inbox records of one partition, numbered with increasing offsets."""

    def __init__(self, serde: AvroSerde, inbox: str, partition: int) -> None:
        self.serde = serde
        self.inbox = inbox
        self.partition = partition
        self._offset = 0

    def record(
        self, key: str | bytes | None, value: bytes | None, headers: Mapping[str, str] | None = None
    ) -> InboundRecord:
        """A raw inbox record (for malformed-input tests, or bytes another tool produced)."""
        self._offset += 1
        raw_key = key.encode() if isinstance(key, str) else key
        pairs = tuple((name, text.encode()) for name, text in (headers or {}).items())
        return InboundRecord(self.inbox, self.partition, self._offset, raw_key, value, pairs)

    def redeliver(self, record: OutboundRecord) -> InboundRecord:
        """An outbound record addressed to this inbox (a child start, a child's result), as consumed."""
        self._offset += 1
        return InboundRecord(self.inbox, self.partition, self._offset, record.key, record.value, record.headers)

    def control(self, workflow_id: str, model: AvroModel) -> InboundRecord:
        """A control record (`sagabridge.control.*`) keyed by the workflow it addresses."""
        return self.record(workflow_id, self.serde.encode(model.avro_schema_name, model.to_avro()))

    def start(
        self,
        workflow_id: str,
        workflow_type: str,
        input: Payload,
        *,
        input_schema: str | None = None,
        trace_context: Mapping[str, str] | None = None,
        requested_at_ms: int = 0,
    ) -> InboundRecord:
        """A StartWorkflow inbox record."""
        schema, data = encode_payload(self.serde, input, input_schema, "workflow input")
        return self.control(
            workflow_id,
            StartWorkflow(
                workflow_type=workflow_type,
                workflow_id=workflow_id,
                input_schema=schema,
                input=data,
                trace_context=dict(trace_context or {}),
                requested_at_ms=requested_at_ms,
            ),
        )

    def signal(
        self, workflow_id: str, name: str, payload: Payload | None = None, *, payload_schema: str | None = None
    ) -> InboundRecord:
        """A SignalWorkflow inbox record."""
        schema, data = (
            (None, None) if payload is None else encode_payload(self.serde, payload, payload_schema, "signal")
        )
        return self.control(
            workflow_id, SignalWorkflow(workflow_id=workflow_id, name=name, payload_schema=schema, payload=data)
        )

    def cancel(self, workflow_id: str, reason: str = "") -> InboundRecord:
        """A CancelWorkflow inbox record."""
        return self.control(workflow_id, CancelWorkflow(workflow_id=workflow_id, reason=reason))

    def query(self, workflow_id: str, name: str, *, query_id: str, reply_topic: str) -> InboundRecord:
        """A QueryWorkflow inbox record."""
        return self.control(
            workflow_id, QueryWorkflow(workflow_id=workflow_id, query_id=query_id, name=name, reply_topic=reply_topic)
        )

    def operator(
        self,
        workflow_id: str,
        action: OperatorActionType | str,
        *,
        seq: int | None = None,
        result: Payload | None = None,
        result_schema: str | None = None,
        operator: str = "tester",
        reason: str = "",
    ) -> InboundRecord:
        """An OperatorAction inbox record."""
        schema, data = (None, None) if result is None else encode_payload(self.serde, result, result_schema, "result")
        return self.control(
            workflow_id,
            OperatorAction(
                workflow_id=workflow_id,
                action=OperatorActionType(str(action).upper()),
                seq=seq,
                result_schema=schema,
                result=data,
                operator=operator,
                reason=reason,
            ),
        )

    def success(
        self,
        workflow_id: str,
        command_id: str,
        attempt: int,
        result: Payload | None = None,
        *,
        result_schema: str | None = None,
    ) -> InboundRecord:
        """A participant's success reply (result None: a reply without a body)."""
        data = None if result is None else encode_payload(self.serde, result, result_schema, "result")[1]
        return self.record(
            workflow_id, data, _echo(workflow_id, command_id, attempt, {header_names.REPLY_STATUS: "success"})
        )

    def failure(
        self,
        workflow_id: str,
        command_id: str,
        attempt: int,
        error_type: str,
        message: str = "",
        *,
        retryable: bool = True,
        details: Mapping[str, str] | None = None,
    ) -> InboundRecord:
        """A participant's failure reply: the protocol's headers plus a StepError body."""
        body = StepError(error_type=error_type, message=message, retryable=retryable, details=dict(details or {}))
        extra = {
            header_names.REPLY_STATUS: "failure",
            header_names.ERROR_TYPE: error_type,
            header_names.ERROR_MESSAGE: message,
            header_names.RETRYABLE: "true" if retryable else "false",
        }
        data = self.serde.encode(body.avro_schema_name, body.to_avro())
        return self.record(workflow_id, data, _echo(workflow_id, command_id, attempt, extra))


def _echo(workflow_id: str, command_id: str, attempt: int, extra: dict[str, str]) -> dict[str, str]:
    return {
        header_names.WORKFLOW_ID: workflow_id,
        header_names.COMMAND_ID: command_id,
        header_names.ATTEMPT: str(attempt),
        **extra,
    }
