"""Turns an inbox record into a typed message, or raises a DecodeError (-> DLQ).

Dispatch is by the `sb-reply-status` header (participant replies) or by the Avro record name
(`sagabridge.control.*`). Nothing here touches state, so a rejected record changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.engine.correlation_inbound import (
    CORRELATION_KINDS,
    MissingPolicy,
    SignalWithStartMsg,
    StepOutcomeMsg,
    decode_correlation,
)
from orchestrator.engine.steps import Reply
from orchestrator.errors import InvalidInboundRecordError
from orchestrator.models.protocol import StepError
from orchestrator.serialization import AvroSerde
from orchestrator.transport import header_names
from orchestrator.transport.records import InboundRecord
from orchestrator.workflow.activation import ErrorInfo

STEP_ERROR_SCHEMA = StepError.avro_schema_name
_CONTROL = "sagabridge.control."
OPERATOR_ACTIONS = frozenset({"RETRY", "SKIP", "COMPENSATE", "CANCEL"})


@dataclass(frozen=True, slots=True)
class StartMsg:
    workflow_id: str
    workflow_type: str
    input_schema: str
    input: dict[str, Any]
    input_bytes: bytes
    parent_workflow_id: str | None
    parent_seq: int | None
    trace_context: dict[str, str]
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class SignalMsg:
    workflow_id: str
    name: str
    payload_schema: str | None
    payload: dict[str, Any] | None
    message_id: str | None = None
    on_missing: MissingPolicy = MissingPolicy.DROP
    buffer_ttl_ms: int | None = None


@dataclass(frozen=True, slots=True)
class CancelMsg:
    workflow_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class QueryMsg:
    workflow_id: str
    query_id: str
    name: str
    reply_topic: str


@dataclass(frozen=True, slots=True)
class ChildFinishedMsg:
    workflow_id: str
    parent_seq: int
    child_workflow_id: str
    status: str
    result_schema: str | None
    result: dict[str, Any] | None
    error: ErrorInfo | None


@dataclass(frozen=True, slots=True)
class OperatorMsg:
    workflow_id: str
    action: str
    seq: int | None
    result_schema: str | None
    result: dict[str, Any] | None
    result_bytes: bytes | None
    operator: str
    reason: str


Inbound = (
    Reply
    | StartMsg
    | SignalMsg
    | CancelMsg
    | QueryMsg
    | ChildFinishedMsg
    | OperatorMsg
    | SignalWithStartMsg
    | StepOutcomeMsg
)


def _embedded(serde: AvroSerde, schema: str | None, data: bytes | None) -> dict[str, Any] | None:
    """Decode a record embedded as bytes in a control record, resolved to its declared schema."""
    if schema is None or data is None:
        return None
    return serde.decode(data, schema).value


def _check_key(rec: InboundRecord, workflow_id: str) -> None:
    if rec.key is not None and rec.key != workflow_id.encode():
        raise InvalidInboundRecordError(f"record key {rec.key!r} does not match workflow id {workflow_id!r}")


def decode_inbound(rec: InboundRecord, serde: AvroSerde) -> Inbound:
    status = rec.header(header_names.REPLY_STATUS)
    if status is not None:
        return _reply(rec, serde, status)
    if rec.value is None:
        raise InvalidInboundRecordError("inbox record without a value and without sb-reply-status")
    decoded = serde.decode(rec.value)
    name, v = decoded.schema_name, decoded.value
    if not name.startswith(_CONTROL):
        raise InvalidInboundRecordError(f"inbox record of type {name!r} is neither a reply nor a control record")
    try:
        msg = _control(name[len(_CONTROL) :], v, serde)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInboundRecordError(f"control record {name!r} is missing or has a bad field: {exc}") from exc
    _check_key(rec, msg.workflow_id)
    return msg


def _control(kind: str, v: dict[str, Any], serde: AvroSerde) -> Inbound:
    wf = str(v["workflow_id"]) if "workflow_id" in v else ""
    if not wf:
        raise InvalidInboundRecordError(f"control record {kind} without a workflow_id")
    if kind == "StartWorkflow":
        return StartMsg(
            workflow_id=wf,
            workflow_type=v["workflow_type"],
            input_schema=v["input_schema"],
            input=serde.decode(v["input"], v["input_schema"]).value,
            input_bytes=bytes(v["input"]),
            parent_workflow_id=v.get("parent_workflow_id"),
            parent_seq=v.get("parent_seq"),
            trace_context=dict(v.get("trace_context") or {}),
            message_id=v.get("message_id"),
        )
    if kind == "SignalWorkflow":
        schema = v.get("payload_schema")
        return SignalMsg(
            wf,
            v["name"],
            schema,
            _embedded(serde, schema, v.get("payload")),
            message_id=v.get("message_id"),
            on_missing=MissingPolicy(v.get("on_missing") or MissingPolicy.DROP),
            buffer_ttl_ms=v.get("buffer_ttl_ms"),
        )
    if kind in CORRELATION_KINDS:
        return decode_correlation(kind, wf, v, serde)
    if kind == "CancelWorkflow":
        return CancelMsg(wf, v.get("reason") or "")
    if kind == "QueryWorkflow":
        return QueryMsg(wf, v["query_id"], v["name"], v["reply_topic"])
    if kind == "ChildWorkflowFinished":
        err = v.get("error")
        return ChildFinishedMsg(
            workflow_id=wf,
            parent_seq=int(v["parent_seq"]),
            child_workflow_id=v["child_workflow_id"],
            status=v["status"],
            result_schema=v.get("result_schema"),
            result=_embedded(serde, v.get("result_schema"), v.get("result")),
            error=None if err is None else ErrorInfo.from_avro(err),
        )
    if kind == "OperatorAction":
        action = str(v["action"])
        if action not in OPERATOR_ACTIONS:
            raise InvalidInboundRecordError(f"unknown operator action {action!r}")
        schema = v.get("result_schema")
        return OperatorMsg(
            workflow_id=wf,
            action=action,
            seq=v.get("seq"),
            result_schema=schema,
            result=_embedded(serde, schema, v.get("result")),
            result_bytes=v.get("result"),
            operator=v.get("operator") or "",
            reason=v.get("reason") or "",
        )
    raise InvalidInboundRecordError(f"control record {kind!r} is not something the engine handles")


def _reply(rec: InboundRecord, serde: AvroSerde, status: str) -> Reply:
    wf = rec.header(header_names.WORKFLOW_ID)
    cid = rec.header(header_names.COMMAND_ID)
    attempt_raw = rec.header(header_names.ATTEMPT)
    if not wf or not cid or attempt_raw is None:
        raise InvalidInboundRecordError("reply lacks sb-workflow-id, sb-command-id or sb-attempt")
    _check_key(rec, wf)
    prefix = wf + "/"
    try:
        if not cid.startswith(prefix):
            raise ValueError(cid)
        seq = int(cid[len(prefix) :])
        attempt = int(attempt_raw)
    except ValueError as exc:
        raise InvalidInboundRecordError(
            f"reply command id {cid!r} / attempt {attempt_raw!r} do not belong to workflow {wf!r}"
        ) from exc
    if status == "success":
        result = None if rec.value is None else serde.decode(rec.value)
        return Reply(
            workflow_id=wf,
            seq=seq,
            command_id=cid,
            attempt=attempt,
            success=True,
            result_schema=None if result is None else result.schema_name,
            result=None if result is None else result.value,
            result_bytes=rec.value,
            error=None,
        )
    if status != "failure":
        raise InvalidInboundRecordError(f"sb-reply-status must be success or failure, got {status!r}")
    body = ErrorInfo("", "", True)
    if rec.value is not None:
        decoded = serde.decode(rec.value)
        if decoded.schema_name == STEP_ERROR_SCHEMA:
            body = ErrorInfo.from_avro(decoded.value)
    retryable_raw = rec.header(header_names.RETRYABLE)
    error = ErrorInfo(
        error_type=rec.header(header_names.ERROR_TYPE) or body.error_type or "UnknownError",
        message=rec.header(header_names.ERROR_MESSAGE) or body.message,
        retryable=body.retryable if retryable_raw is None else retryable_raw.strip().lower() == "true",
        details=body.details,
    )
    return Reply(wf, seq, cid, attempt, False, None, None, None, error)
