"""Typed payloads of the history events, one class per `EventKind`.

History stores each event's `data` as a JSON object (`HistoryEvent.data`), so new kinds need no
schema change and old histories stay readable. Code reads and writes it through these classes:
`to_data()` is the exact JSON shape recorded (unchanged from earlier releases: replay compares
against it), `parse_event_data(kind, data)` the typed view with ids and counters as ints, errors
as `ErrorInfo`. `HistoryEvent.payload` holds the parsed form, so each event is parsed once.
The classes are read-only by convention but not frozen: every recorded event is parsed on the
engine's hot path, and a frozen dataclass costs twice as much to build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from orchestrator.workflow.error_info import ErrorInfo
from orchestrator.workflow.event_kind import EventKind

JSON = Any  # JSON-serialisable value (dict/list/str/int/float/bool/None)
SearchAttributeValue = str | int | float | bool | None  # what the visibility store can index


def _opt_int(value: JSON) -> int | None:
    return None if value is None else int(value)


@dataclass(slots=True)
class StartedData:
    """The run's first event. ``run`` counts the runs of this workflow id (2 after the first
    ``ctx.continue_as_new``); ``history_warn_events`` is the engine's setting when the run started,
    recorded so that ``ctx.continue_as_new_suggested`` replays the same way whatever the setting is
    later. Both keys are only written when set, so first runs record what earlier releases did."""

    kind: ClassVar[EventKind] = EventKind.STARTED
    workflow_type: str
    input_schema: str | None
    input: JSON
    trace_context: dict[str, str] = field(default_factory=dict)
    parent_workflow_id: str | None = None
    parent_seq: int | None = None
    run: int = 1
    history_warn_events: int | None = None

    def to_data(self) -> dict[str, JSON]:
        data: dict[str, JSON] = {
            "workflow_type": self.workflow_type,
            "input_schema": self.input_schema,
            "input": self.input,
            "trace_context": dict(self.trace_context),
            "parent_workflow_id": self.parent_workflow_id,
            "parent_seq": self.parent_seq,
        }
        if self.run != 1:
            data["run"] = self.run
        if self.history_warn_events is not None:
            data["history_warn_events"] = self.history_warn_events
        return data

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> StartedData:
        return cls(
            str(d.get("workflow_type") or ""),
            d.get("input_schema"),
            d.get("input"),
            {str(k): str(v) for k, v in (d.get("trace_context") or {}).items()},
            d.get("parent_workflow_id"),
            _opt_int(d.get("parent_seq")),
            int(d.get("run") or 1),
            _opt_int(d.get("history_warn_events")),
        )


@dataclass(slots=True)
class StepScheduledData:
    kind: ClassVar[EventKind] = EventKind.STEP_SCHEDULED
    cmd_seq: int
    service: str
    command_type: str
    payload: dict[str, JSON]
    policy: dict[str, JSON]  # RetryPolicy.to_json()
    start_to_close_ms: int | None
    schedule_to_close_ms: int | None
    compensation: bool

    def to_data(self) -> dict[str, JSON]:
        return {
            "cmd_seq": self.cmd_seq,
            "service": self.service,
            "command_type": self.command_type,
            "payload": self.payload,
            "policy": self.policy,
            "start_to_close_ms": self.start_to_close_ms,
            "schedule_to_close_ms": self.schedule_to_close_ms,
            "compensation": self.compensation,
        }

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> StepScheduledData:
        return cls(
            int(d["cmd_seq"]),
            str(d.get("service")),
            str(d.get("command_type")),
            d.get("payload") or {},
            d.get("policy") or {},
            _opt_int(d.get("start_to_close_ms")),
            _opt_int(d.get("schedule_to_close_ms")),
            bool(d.get("compensation")),
        )


@dataclass(slots=True)
class StepCompletedData:
    kind: ClassVar[EventKind] = EventKind.STEP_COMPLETED
    cmd_seq: int
    result_schema: str | None
    result: JSON
    attempt: int | None

    def to_data(self) -> dict[str, JSON]:
        return {
            "cmd_seq": self.cmd_seq,
            "result_schema": self.result_schema,
            "result": self.result,
            "attempt": self.attempt,
        }

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> StepCompletedData:
        return cls(int(d["cmd_seq"]), d.get("result_schema"), d.get("result"), _opt_int(d.get("attempt")))


@dataclass(slots=True)
class StepFailedData:
    """The step's final failure (retries are not recorded in history)."""

    kind: ClassVar[EventKind] = EventKind.STEP_FAILED
    cmd_seq: int
    error: ErrorInfo
    attempt: int | None

    def to_data(self) -> dict[str, JSON]:
        return {"cmd_seq": self.cmd_seq, "error": self.error.to_json(), "attempt": self.attempt}

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> StepFailedData:
        return cls(int(d["cmd_seq"]), ErrorInfo.from_json(d.get("error") or {}), _opt_int(d.get("attempt")))


@dataclass(slots=True)
class TimerStartedData:
    kind: ClassVar[EventKind] = EventKind.TIMER_STARTED
    cmd_seq: int
    fire_at_ms: int

    def to_data(self) -> dict[str, JSON]:
        return {"cmd_seq": self.cmd_seq, "fire_at_ms": self.fire_at_ms}

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> TimerStartedData:
        return cls(int(d["cmd_seq"]), int(d["fire_at_ms"]))


@dataclass(slots=True)
class TimerFiredData:
    kind: ClassVar[EventKind] = EventKind.TIMER_FIRED
    cmd_seq: int

    def to_data(self) -> dict[str, JSON]:
        return {"cmd_seq": self.cmd_seq}

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> TimerFiredData:
        return cls(int(d["cmd_seq"]))


@dataclass(slots=True)
class TimerCancelledData:
    kind: ClassVar[EventKind] = EventKind.TIMER_CANCELLED
    cmd_seq: int

    def to_data(self) -> dict[str, JSON]:
        return {"cmd_seq": self.cmd_seq}

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> TimerCancelledData:
        return cls(int(d["cmd_seq"]))


@dataclass(slots=True)
class SignalReceivedData:
    kind: ClassVar[EventKind] = EventKind.SIGNAL_RECEIVED
    name: str
    payload_schema: str | None
    payload: JSON

    def to_data(self) -> dict[str, JSON]:
        return {"name": self.name, "payload_schema": self.payload_schema, "payload": self.payload}

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> SignalReceivedData:
        return cls(str(d["name"]), d.get("payload_schema"), d.get("payload"))


@dataclass(slots=True)
class SideEffectData:
    kind: ClassVar[EventKind] = EventKind.SIDE_EFFECT
    cmd_seq: int
    what: str  # "random" | "uuid"
    value: JSON

    def to_data(self) -> dict[str, JSON]:
        return {"cmd_seq": self.cmd_seq, "what": self.what, "value": self.value}

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> SideEffectData:
        return cls(int(d["cmd_seq"]), str(d.get("what")), d.get("value"))


@dataclass(slots=True)
class PatchMarkerData:
    kind: ClassVar[EventKind] = EventKind.PATCH_MARKER
    cmd_seq: int
    patch_id: str
    applied: bool

    def to_data(self) -> dict[str, JSON]:
        return {"cmd_seq": self.cmd_seq, "patch_id": self.patch_id, "applied": self.applied}

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> PatchMarkerData:
        return cls(int(d["cmd_seq"]), str(d.get("patch_id")), bool(d.get("applied")))


@dataclass(slots=True)
class ChildStartedData:
    kind: ClassVar[EventKind] = EventKind.CHILD_STARTED
    cmd_seq: int
    workflow_type: str
    child_id: str
    input_schema: str
    input: dict[str, JSON]

    def to_data(self) -> dict[str, JSON]:
        return {
            "cmd_seq": self.cmd_seq,
            "workflow_type": self.workflow_type,
            "child_id": self.child_id,
            "input_schema": self.input_schema,
            "input": self.input,
        }

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> ChildStartedData:
        return cls(
            int(d["cmd_seq"]),
            str(d.get("workflow_type")),
            str(d["child_id"]),
            str(d.get("input_schema")),
            d.get("input") or {},
        )


@dataclass(slots=True)
class ChildFinishedData:
    kind: ClassVar[EventKind] = EventKind.CHILD_FINISHED
    cmd_seq: int
    status: str  # a final WorkflowStatus value
    result_schema: str | None
    result: JSON
    error: ErrorInfo | None

    def to_data(self) -> dict[str, JSON]:
        return {
            "cmd_seq": self.cmd_seq,
            "status": self.status,
            "result_schema": self.result_schema,
            "result": self.result,
            "error": None if self.error is None else self.error.to_json(),
        }

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> ChildFinishedData:
        error = d.get("error")
        return cls(
            int(d["cmd_seq"]),
            str(d.get("status")),
            d.get("result_schema"),
            d.get("result"),
            ErrorInfo.from_json(error) if error else None,
        )


@dataclass(slots=True)
class EventPublishedData:
    kind: ClassVar[EventKind] = EventKind.EVENT_PUBLISHED
    cmd_seq: int
    topic: str | None  # None: the app's events topic
    schema: str
    value: dict[str, JSON]

    def to_data(self) -> dict[str, JSON]:
        return {"cmd_seq": self.cmd_seq, "topic": self.topic, "schema": self.schema, "value": self.value}

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> EventPublishedData:
        return cls(int(d["cmd_seq"]), d.get("topic"), str(d.get("schema")), d.get("value") or {})


@dataclass(slots=True)
class SearchAttributesSetData:
    """Indexed fields for the visibility store, merged into earlier ones (None removes a field)."""

    kind: ClassVar[EventKind] = EventKind.SEARCH_ATTRIBUTES_SET
    cmd_seq: int
    attributes: dict[str, SearchAttributeValue]

    def to_data(self) -> dict[str, JSON]:
        return {"cmd_seq": self.cmd_seq, "attributes": dict(self.attributes)}

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> SearchAttributesSetData:
        return cls(int(d["cmd_seq"]), {str(k): v for k, v in (d.get("attributes") or {}).items()})


@dataclass(slots=True)
class CancelRequestedData:
    kind: ClassVar[EventKind] = EventKind.CANCEL_REQUESTED
    reason: str
    settle_in_flight: bool = False  # the steps in flight are settled, not dropped (absent before issue 14)

    def to_data(self) -> dict[str, JSON]:
        data: dict[str, JSON] = {"reason": self.reason}
        if self.settle_in_flight:
            data["settle_in_flight"] = True
        return data

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> CancelRequestedData:
        return cls(str(d.get("reason") or ""), bool(d.get("settle_in_flight")))


@dataclass(slots=True)
class CompletedData:
    kind: ClassVar[EventKind] = EventKind.COMPLETED
    result_schema: str | None
    result: JSON

    def to_data(self) -> dict[str, JSON]:
        return {"result_schema": self.result_schema, "result": self.result}

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> CompletedData:
        return cls(d.get("result_schema"), d.get("result"))


@dataclass(slots=True)
class FailedData:
    kind: ClassVar[EventKind] = EventKind.FAILED
    error: ErrorInfo
    status: str  # failed | compensated | cancelled

    def to_data(self) -> dict[str, JSON]:
        return {"error": self.error.to_json(), "status": self.status}

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> FailedData:
        return cls(ErrorInfo.from_json(d.get("error") or {}), str(d.get("status")))


@dataclass(slots=True)
class ContinuedAsNewData:
    """The run ended by ``ctx.continue_as_new(input)``: the next run's input (None: no input)."""

    kind: ClassVar[EventKind] = EventKind.CONTINUED_AS_NEW
    input_schema: str | None
    input: JSON

    def to_data(self) -> dict[str, JSON]:
        return {"input_schema": self.input_schema, "input": self.input}

    @classmethod
    def from_data(cls, d: dict[str, JSON]) -> ContinuedAsNewData:
        return cls(d.get("input_schema"), d.get("input"))


EventData = (
    StartedData
    | StepScheduledData
    | StepCompletedData
    | StepFailedData
    | TimerStartedData
    | TimerFiredData
    | TimerCancelledData
    | SignalReceivedData
    | SideEffectData
    | PatchMarkerData
    | ChildStartedData
    | ChildFinishedData
    | EventPublishedData
    | SearchAttributesSetData
    | CancelRequestedData
    | CompletedData
    | FailedData
    | ContinuedAsNewData
)

_PARSERS: dict[str, Any] = {
    cls.kind.value: cls.from_data
    for cls in (
        StartedData,
        StepScheduledData,
        StepCompletedData,
        StepFailedData,
        TimerStartedData,
        TimerFiredData,
        TimerCancelledData,
        SignalReceivedData,
        SideEffectData,
        PatchMarkerData,
        ChildStartedData,
        ChildFinishedData,
        EventPublishedData,
        SearchAttributesSetData,
        CancelRequestedData,
        CompletedData,
        FailedData,
        ContinuedAsNewData,
    )
}


def parse_event_data(kind: str, data: dict[str, JSON]) -> EventData | None:
    """The typed payload of an event; None for a kind this release does not know (ignored)."""
    parse = _PARSERS.get(kind)
    return None if parse is None else parse(data)
