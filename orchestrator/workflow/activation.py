"""The activation protocol: the only contract between the workflow runtime and the engine.

The engine owns history, state, retries and timers; the runtime owns running user code
deterministically. An activation feeds history events in and gets commands out. Everything
here is plain data (JSON-serialisable payloads), so history can be stored and replayed
without pickle.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from orchestrator.workflow.policy import RetryPolicy

JSON = Any  # JSON-serialisable value (dict/list/str/int/float/bool/None)
SearchAttributeValue = str | int | float | bool | None

__all__ = [
    "JSON",
    "CancelTimer",
    "CompleteWorkflow",
    "ErrorInfo",
    "EventKind",
    "FailWorkflow",
    "HistoryEvent",
    "PublishEvent",
    "RecordPatch",
    "RecordSideEffect",
    "ScheduleStep",
    "SetSearchAttributes",
    "StartChild",
    "StartTimer",
    "WorkflowCommand",
    "command_event",
]


class EventKind(StrEnum):
    """History event kinds; the ``data`` keys of each are listed alongside."""

    STARTED = "started"  # workflow_type, input_schema, input, trace_context, parent_workflow_id, parent_seq
    STEP_SCHEDULED = "step_scheduled"  # cmd_seq, service, command_type, payload, policy,
    # start_to_close_ms, schedule_to_close_ms, compensation
    STEP_COMPLETED = "step_completed"  # cmd_seq, result_schema, result, attempt
    STEP_FAILED = "step_failed"  # cmd_seq, error {error_type, message, retryable}, attempt  (FINAL failure)
    TIMER_STARTED = "timer_started"  # cmd_seq, fire_at_ms
    TIMER_FIRED = "timer_fired"  # cmd_seq
    TIMER_CANCELLED = "timer_cancelled"  # cmd_seq
    SIGNAL_RECEIVED = "signal_received"  # name, payload_schema, payload
    SIDE_EFFECT = "side_effect"  # cmd_seq, what ("now"|"random"|"uuid"), value
    PATCH_MARKER = "patch_marker"  # cmd_seq, patch_id, applied
    CHILD_STARTED = "child_started"  # cmd_seq, workflow_type, child_id, input_schema, input
    CHILD_FINISHED = "child_finished"  # cmd_seq, status, result_schema, result, error
    EVENT_PUBLISHED = "event_published"  # cmd_seq, topic (None = the app's events topic), schema, value
    SEARCH_ATTRIBUTES_SET = "search_attributes_set"  # cmd_seq, attributes {name: str|int|float|bool|None}
    CANCEL_REQUESTED = "cancel_requested"  # reason, settle_in_flight (absent in histories before issue 14)
    COMPLETED = "completed"  # result_schema, result
    FAILED = "failed"  # error, status ("failed"|"compensated"|"cancelled")


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One recorded fact of a workflow's history."""

    seq: int  # position in the workflow's history, 0-based, contiguous
    kind: str  # one of EventKind values
    at_ms: int  # engine time when recorded (ctx.now() during that activation)
    data: dict[str, JSON]


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A failure as data: what the participant said (or the engine decided)."""

    error_type: str
    message: str
    retryable: bool = False

    def to_json(self) -> dict[str, JSON]:
        return {"error_type": self.error_type, "message": self.message, "retryable": self.retryable}

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> ErrorInfo:
        return cls(
            error_type=str(data.get("error_type", "")),
            message=str(data.get("message", "")),
            retryable=bool(data.get("retryable", False)),
        )


@dataclass(frozen=True)
class ScheduleStep:
    cmd_seq: int
    service: str
    command_type: str
    payload: dict[str, JSON]
    policy: RetryPolicy
    start_to_close_ms: int | None
    schedule_to_close_ms: int | None
    compensation: bool


@dataclass(frozen=True)
class StartTimer:
    cmd_seq: int
    fire_at_ms: int


@dataclass(frozen=True)
class CancelTimer:
    cmd_seq: int


@dataclass(frozen=True)
class RecordSideEffect:
    cmd_seq: int
    what: str
    value: JSON


@dataclass(frozen=True)
class RecordPatch:
    cmd_seq: int
    patch_id: str
    applied: bool


@dataclass(frozen=True)
class StartChild:
    cmd_seq: int
    workflow_type: str
    child_id: str
    input_schema: str
    input: dict[str, JSON]


@dataclass(frozen=True)
class PublishEvent:
    """An event for other services (choreography out), produced in the checkpoint's transaction."""

    cmd_seq: int
    topic: str | None
    schema: str
    value: dict[str, JSON]


@dataclass(frozen=True)
class SetSearchAttributes:
    """Indexed fields for the visibility store; merged into earlier ones, None removes a field."""

    cmd_seq: int
    attributes: dict[str, SearchAttributeValue]


@dataclass(frozen=True)
class CompleteWorkflow:
    result_schema: str | None
    result: dict[str, JSON] | None


@dataclass(frozen=True)
class FailWorkflow:
    error: ErrorInfo
    status: Literal["failed", "compensated", "cancelled"]


WorkflowCommand = (
    ScheduleStep
    | StartTimer
    | CancelTimer
    | RecordSideEffect
    | PublishEvent
    | SetSearchAttributes
    | RecordPatch
    | StartChild
    | CompleteWorkflow
    | FailWorkflow
)


def command_event(cmd: WorkflowCommand) -> tuple[EventKind, dict[str, JSON]]:
    """The history event (kind, data) a command is recorded as.

    One shared mapping, so the engine records exactly what replay later compares against.
    """
    if isinstance(cmd, ScheduleStep):
        return EventKind.STEP_SCHEDULED, {
            "cmd_seq": cmd.cmd_seq,
            "service": cmd.service,
            "command_type": cmd.command_type,
            "payload": cmd.payload,
            "policy": cmd.policy.to_json(),
            "start_to_close_ms": cmd.start_to_close_ms,
            "schedule_to_close_ms": cmd.schedule_to_close_ms,
            "compensation": cmd.compensation,
        }
    if isinstance(cmd, StartTimer):
        return EventKind.TIMER_STARTED, {"cmd_seq": cmd.cmd_seq, "fire_at_ms": cmd.fire_at_ms}
    if isinstance(cmd, CancelTimer):
        return EventKind.TIMER_CANCELLED, {"cmd_seq": cmd.cmd_seq}
    if isinstance(cmd, RecordSideEffect):
        return EventKind.SIDE_EFFECT, {"cmd_seq": cmd.cmd_seq, "what": cmd.what, "value": cmd.value}
    if isinstance(cmd, RecordPatch):
        return EventKind.PATCH_MARKER, {"cmd_seq": cmd.cmd_seq, "patch_id": cmd.patch_id, "applied": cmd.applied}
    if isinstance(cmd, StartChild):
        return EventKind.CHILD_STARTED, {
            "cmd_seq": cmd.cmd_seq,
            "workflow_type": cmd.workflow_type,
            "child_id": cmd.child_id,
            "input_schema": cmd.input_schema,
            "input": cmd.input,
        }
    if isinstance(cmd, PublishEvent):
        return EventKind.EVENT_PUBLISHED, {
            "cmd_seq": cmd.cmd_seq,
            "topic": cmd.topic,
            "schema": cmd.schema,
            "value": cmd.value,
        }
    if isinstance(cmd, SetSearchAttributes):
        return EventKind.SEARCH_ATTRIBUTES_SET, {"cmd_seq": cmd.cmd_seq, "attributes": dict(cmd.attributes)}
    if isinstance(cmd, CompleteWorkflow):
        return EventKind.COMPLETED, {"result_schema": cmd.result_schema, "result": cmd.result}
    return EventKind.FAILED, {"error": cmd.error.to_json(), "status": cmd.status}
