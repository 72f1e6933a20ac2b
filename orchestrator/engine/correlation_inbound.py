"""The connectors' inbox records, decoded: signal-with-start and step outcomes.

`StartWorkflow` and `SignalWorkflow` keep their messages in inbound.py; they gained the fields a
connector sets (`message_id`, `on_missing`, `buffer_ttl_ms`), all defaulted so records of older
writers decode with today's behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orchestrator.serialization import AvroSerde
from orchestrator.workflow import ErrorInfo


class MissingPolicy(StrEnum):
    """`sagabridge.control.MissingWorkflowPolicy`: a signal for a workflow that does not exist."""

    DROP = "DROP"
    DLQ = "DLQ"
    BUFFER = "BUFFER"


@dataclass(frozen=True, slots=True)
class SignalWithStartMsg:
    workflow_id: str
    workflow_type: str
    input_schema: str
    input: dict[str, Any]
    input_bytes: bytes
    signal_name: str
    payload_schema: str | None
    payload: dict[str, Any] | None
    message_id: str | None
    trace_context: dict[str, str]


@dataclass(frozen=True, slots=True)
class StepOutcomeMsg:
    workflow_id: str
    service: str
    command_type: str | None
    success: bool
    result_schema: str | None
    result: dict[str, Any] | None
    result_bytes: bytes | None
    error: ErrorInfo | None
    message_id: str | None


CORRELATION_KINDS = frozenset({"SignalWithStart", "StepOutcome"})


def _embedded(serde: AvroSerde, schema: str | None, data: bytes | None) -> dict[str, Any] | None:
    if schema is None or data is None:
        return None
    return serde.decode(data, schema).value


def decode_correlation(kind: str, wf: str, v: dict[str, Any], serde: AvroSerde) -> SignalWithStartMsg | StepOutcomeMsg:
    """`kind` is one of CORRELATION_KINDS; missing fields raise KeyError (-> invalid record, DLQ)."""
    if kind == "SignalWithStart":
        payload_schema = v.get("payload_schema")
        return SignalWithStartMsg(
            workflow_id=wf,
            workflow_type=v["workflow_type"],
            input_schema=v["input_schema"],
            input=serde.decode(v["input"], v["input_schema"]).value,
            input_bytes=bytes(v["input"]),
            signal_name=v["signal_name"],
            payload_schema=payload_schema,
            payload=_embedded(serde, payload_schema, v.get("payload")),
            message_id=v.get("message_id"),
            trace_context=dict(v.get("trace_context") or {}),
        )
    error = v.get("error")
    result_schema = v.get("result_schema")
    result = v.get("result")
    return StepOutcomeMsg(
        workflow_id=wf,
        service=v["service"],
        command_type=v.get("command_type"),
        success=bool(v["success"]),
        result_schema=result_schema if result is not None else None,
        result=_embedded(serde, result_schema, result),
        result_bytes=None if result is None else bytes(result),
        error=None if error is None else ErrorInfo.from_avro(error),
        message_id=v.get("message_id"),
    )


__all__ = ["CORRELATION_KINDS", "MissingPolicy", "SignalWithStartMsg", "StepOutcomeMsg", "decode_correlation"]
