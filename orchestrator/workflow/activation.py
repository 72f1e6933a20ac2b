"""The activation protocol: the only contract between the workflow runtime and the engine.

The engine owns history, state, retries and timers; the runtime owns running user code
deterministically. An activation feeds history events in and gets commands out. Everything
here is plain data (JSON-serialisable payloads), so history can be stored and replayed
without pickle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.workflow.error_info import ErrorInfo
from orchestrator.workflow.event_data import (
    ChildStartedData,
    CompletedData,
    ContinuedAsNewData,
    EventData,
    EventPublishedData,
    FailedData,
    PatchMarkerData,
    SearchAttributesSetData,
    SearchAttributeValue,
    SideEffectData,
    StepScheduledData,
    TimerCancelledData,
    TimerStartedData,
    parse_event_data,
)
from orchestrator.workflow.event_kind import EventKind
from orchestrator.workflow.policy import RetryPolicy

JSON = Any  # JSON-serialisable value (dict/list/str/int/float/bool/None)

__all__ = [
    "JSON",
    "CancelTimer",
    "CompleteWorkflow",
    "ContinueAsNew",
    "ErrorInfo",
    "EventKind",
    "FailWorkflow",
    "HistoryEvent",
    "PublishEvent",
    "RecordPatch",
    "RecordSideEffect",
    "ScheduleStep",
    "SearchAttributeValue",
    "SetSearchAttributes",
    "StartChild",
    "StartTimer",
    "WorkflowCommand",
    "command_event",
]


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One recorded fact of a workflow's history: `data` as stored, `payload` its typed form."""

    seq: int  # position in the workflow's history, 0-based, contiguous
    kind: str  # one of EventKind values
    at_ms: int  # engine time when recorded (ctx.now() during that activation)
    data: dict[str, JSON]
    payload: EventData | None = field(init=False, compare=False, repr=False)  # None: unknown kind

    def __post_init__(self) -> None:
        object.__setattr__(self, "payload", parse_event_data(self.kind, self.data))


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
    status: str  # a WorkflowStatus: FAILED, COMPENSATED or CANCELLED (str: as recorded in history)


@dataclass(frozen=True)
class ContinueAsNew:
    """End this run and start the workflow id over with ``input`` and an empty history, in the
    same engine turn (engine/executor.py `continue_as_new`). Signals the run had buffered and not
    consumed carry over to the next run, oldest first."""

    input_schema: str | None
    input: dict[str, JSON] | None


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
    | ContinueAsNew
)


def command_event(cmd: WorkflowCommand) -> tuple[EventKind, dict[str, JSON]]:
    """The history event (kind, data) a command is recorded as.

    One shared mapping, so the engine records exactly what replay later compares against.
    """
    data: EventData
    if isinstance(cmd, ScheduleStep):
        data = StepScheduledData(
            cmd.cmd_seq,
            cmd.service,
            cmd.command_type,
            cmd.payload,
            cmd.policy.to_json(),
            cmd.start_to_close_ms,
            cmd.schedule_to_close_ms,
            cmd.compensation,
        )
    elif isinstance(cmd, StartTimer):
        data = TimerStartedData(cmd.cmd_seq, cmd.fire_at_ms)
    elif isinstance(cmd, CancelTimer):
        data = TimerCancelledData(cmd.cmd_seq)
    elif isinstance(cmd, RecordSideEffect):
        data = SideEffectData(cmd.cmd_seq, cmd.what, cmd.value)
    elif isinstance(cmd, RecordPatch):
        data = PatchMarkerData(cmd.cmd_seq, cmd.patch_id, cmd.applied)
    elif isinstance(cmd, StartChild):
        data = ChildStartedData(cmd.cmd_seq, cmd.workflow_type, cmd.child_id, cmd.input_schema, cmd.input)
    elif isinstance(cmd, PublishEvent):
        data = EventPublishedData(cmd.cmd_seq, cmd.topic, cmd.schema, cmd.value)
    elif isinstance(cmd, SetSearchAttributes):
        data = SearchAttributesSetData(cmd.cmd_seq, dict(cmd.attributes))
    elif isinstance(cmd, CompleteWorkflow):
        data = CompletedData(cmd.result_schema, cmd.result)
    elif isinstance(cmd, ContinueAsNew):
        data = ContinuedAsNewData(cmd.input_schema, cmd.input)
    else:
        data = FailedData(cmd.error, cmd.status)
    return data.kind, data.to_data()
