"""Typed views of the store values and their Avro encoding.

Header and step state are small mutable records the engine rewrites often; history events are
append-only. All three are Avro records (`sagabridge.state.*`) so the changelog is readable by
any Avro tool and evolves with schema resolution.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from orchestrator.engine import jsonvalue
from orchestrator.serialization import AvroSerde
from orchestrator.workflow.activation import HistoryEvent
from orchestrator.workflow.policy import RetryPolicy

HEADER_SCHEMA = "sagabridge.state.WorkflowHeader"
STEP_SCHEMA = "sagabridge.state.StepState"
EVENT_SCHEMA = "sagabridge.state.HistoryEvent"

RUNNING = "running"
PARKED = "parked"
NEEDS_ATTENTION = "needs-attention"
FINISHED_STATUSES = frozenset({"completed", "failed", "compensated", "cancelled"})

IN_FLIGHT = "in_flight"
BACKOFF = "backoff"
STEP_PARKED = "parked"

# Step fields the StepState schema has no column for travel inside policy_json under these
# keys; RetryPolicy.from_json ignores them, so the value stays a valid RetryPolicy JSON.
_X_START_TO_CLOSE = "sb_start_to_close_ms"
_X_SCHEDULE_TO_CLOSE = "sb_schedule_to_close_ms"
_X_COMPENSATION = "sb_compensation"
_X_ATTEMPT_BASE = "sb_attempt_base"


@dataclass(frozen=True, slots=True)
class StepErrorValue:
    """A failure as stored and emitted (`sagabridge.protocol.StepError`)."""

    error_type: str
    message: str
    retryable: bool
    details: dict[str, str] = field(default_factory=dict)

    def to_avro(self) -> dict[str, Any]:
        return {
            "error_type": self.error_type,
            "message": self.message,
            "retryable": self.retryable,
            "details": dict(self.details),
        }

    def to_history(self) -> dict[str, Any]:
        """The ErrorInfo JSON the runtime reads from STEP_FAILED / CHILD_FINISHED."""
        return {"error_type": self.error_type, "message": self.message, "retryable": self.retryable}

    @classmethod
    def from_avro(cls, value: dict[str, Any]) -> StepErrorValue:
        return cls(
            error_type=str(value.get("error_type", "")),
            message=str(value.get("message", "")),
            retryable=bool(value.get("retryable", False)),
            details={str(k): str(v) for k, v in (value.get("details") or {}).items()},
        )


@dataclass(slots=True)
class Header:
    workflow_id: str
    workflow_type: str
    status: str
    next_seq: int
    created_at_ms: int
    updated_at_ms: int
    closed_at_ms: int | None = None
    parked_reason: str | None = None
    trace_context: dict[str, str] = field(default_factory=dict)
    parent_workflow_id: str | None = None
    parent_seq: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


@dataclass(slots=True)
class StepRecord:
    """An in-flight step: what to resend, which attempt is current, which deadlines apply."""

    seq: int
    service: str
    command_type: str
    command_id: str
    attempt: int
    status: str
    first_scheduled_ms: int
    attempt_started_ms: int
    payload: bytes
    policy: RetryPolicy
    start_to_close_ms: int | None
    schedule_to_close_ms: int | None
    compensation: bool
    attempt_base: int = 0  # attempts before the last operator RETRY; the budget counts from here
    next_retry_ms: int | None = None
    last_error: StepErrorValue | None = None
    trace_context: dict[str, str] = field(default_factory=dict)  # current attempt's deferred span

    @property
    def attempts_used(self) -> int:
        return self.attempt - self.attempt_base

    def due_times(self) -> set[int]:
        """Every instant at which this step needs the engine's attention (its `t/` entries)."""
        dues: set[int] = set()
        if self.status == STEP_PARKED:
            return dues
        if self.schedule_to_close_ms is not None:
            dues.add(self.first_scheduled_ms + self.schedule_to_close_ms)
        if self.status == IN_FLIGHT and self.start_to_close_ms is not None:
            dues.add(self.attempt_started_ms + self.start_to_close_ms)
        if self.status == BACKOFF and self.next_retry_ms is not None:
            dues.add(self.next_retry_ms)
        return dues


class StateCodec:
    """Encodes/decodes store values with the engine's serde."""

    def __init__(self, serde: AvroSerde) -> None:
        self._serde = serde

    def encode_header(self, h: Header) -> bytes:
        return self._serde.encode(
            HEADER_SCHEMA,
            {
                "workflow_id": h.workflow_id,
                "workflow_type": h.workflow_type,
                "status": h.status,
                "next_seq": h.next_seq,
                "created_at_ms": h.created_at_ms,
                "updated_at_ms": h.updated_at_ms,
                "closed_at_ms": h.closed_at_ms,
                "parked_reason": h.parked_reason,
                "trace_context": dict(h.trace_context),
                "parent_workflow_id": h.parent_workflow_id,
                "parent_seq": h.parent_seq,
            },
        )

    def decode_header(self, raw: bytes) -> Header:
        v = self._serde.decode(raw, HEADER_SCHEMA).value
        return Header(
            workflow_id=v["workflow_id"],
            workflow_type=v["workflow_type"],
            status=v["status"],
            next_seq=int(v["next_seq"]),
            created_at_ms=int(v["created_at_ms"]),
            updated_at_ms=int(v["updated_at_ms"]),
            closed_at_ms=v.get("closed_at_ms"),
            parked_reason=v.get("parked_reason"),
            trace_context=dict(v.get("trace_context") or {}),
            parent_workflow_id=v.get("parent_workflow_id"),
            parent_seq=v.get("parent_seq"),
        )

    def encode_step(self, s: StepRecord) -> bytes:
        policy = s.policy.to_json()
        policy[_X_START_TO_CLOSE] = s.start_to_close_ms
        policy[_X_SCHEDULE_TO_CLOSE] = s.schedule_to_close_ms
        policy[_X_COMPENSATION] = s.compensation
        policy[_X_ATTEMPT_BASE] = s.attempt_base
        return self._serde.encode(
            STEP_SCHEMA,
            {
                "seq": s.seq,
                "service": s.service,
                "command_type": s.command_type,
                "command_id": s.command_id,
                "attempt": s.attempt,
                "status": s.status,
                "first_scheduled_ms": s.first_scheduled_ms,
                "attempt_started_ms": s.attempt_started_ms,
                "next_retry_ms": s.next_retry_ms,
                "last_error": None if s.last_error is None else s.last_error.to_avro(),
                "payload": s.payload,
                "policy_json": json.dumps(policy, sort_keys=True),
                "trace_context": dict(s.trace_context),
            },
        )

    def decode_step(self, raw: bytes) -> StepRecord:
        v = self._serde.decode(raw, STEP_SCHEMA).value
        extra = json.loads(v["policy_json"])
        err = v.get("last_error")
        return StepRecord(
            seq=int(v["seq"]),
            service=v["service"],
            command_type=v["command_type"],
            command_id=v["command_id"],
            attempt=int(v["attempt"]),
            status=v["status"],
            first_scheduled_ms=int(v["first_scheduled_ms"]),
            attempt_started_ms=int(v["attempt_started_ms"]),
            payload=bytes(v["payload"]),
            policy=RetryPolicy.from_json(extra),
            start_to_close_ms=extra.get(_X_START_TO_CLOSE),
            schedule_to_close_ms=extra.get(_X_SCHEDULE_TO_CLOSE),
            compensation=bool(extra.get(_X_COMPENSATION, False)),
            attempt_base=int(extra.get(_X_ATTEMPT_BASE, 0)),
            next_retry_ms=v.get("next_retry_ms"),
            last_error=None if err is None else StepErrorValue.from_avro(err),
            trace_context=dict(v.get("trace_context") or {}),
        )

    def encode_event(self, e: HistoryEvent) -> bytes:
        return self._serde.encode(
            EVENT_SCHEMA, {"seq": e.seq, "kind": e.kind, "at_ms": e.at_ms, "data": jsonvalue.dumps(e.data)}
        )

    def decode_event(self, raw: bytes) -> HistoryEvent:
        v = self._serde.decode(raw, EVENT_SCHEMA).value
        return HistoryEvent(seq=int(v["seq"]), kind=v["kind"], at_ms=int(v["at_ms"]), data=jsonvalue.loads(v["data"]))
