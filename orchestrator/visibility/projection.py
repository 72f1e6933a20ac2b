"""Folds the records of the events topic into one row per workflow and one timeline entry each.

Pure: no Kafka, no database. The store feeds it a batch of decoded events with the rows they
touch and writes back what comes out; `workflows show` folds one workflow's events in memory the
same way. Everything a row says is derived from events alone, so the store can be rebuilt from
the topic at any time (docs/design.md §10: a projection, never a source of truth).

Each lifecycle event has its `_apply_<Kind>` method (Temporal's typed dispatch); an event the
projection does not know (a newer engine) still becomes a timeline entry and changes nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from orchestrator.visibility.status import TERMINAL_KINDS, EntryKind, StepStatus
from orchestrator.workflow.activation import SearchAttributeValue
from orchestrator.workflow.status import WorkflowStatus

EVENTS_NAMESPACE = "sagabridge.events."
QUERY_RESULT_SCHEMA = "sagabridge.control.QueryResult"
_ENVELOPE = ("workflow_id", "workflow_type", "at_ms")
# (schema-name field, bytes field) of the one payload an event kind carries.
PAYLOAD_FIELDS: dict[EntryKind, tuple[str, str]] = {
    EntryKind.WORKFLOW_STARTED: ("input_schema", "input"),
    EntryKind.WORKFLOW_CONTINUED_AS_NEW: ("input_schema", "input"),
    EntryKind.STEP_SCHEDULED: ("command_type", "payload"),
    EntryKind.STEP_COMPLETED: ("result_schema", "result"),
    EntryKind.WORKFLOW_COMPLETED: ("result_schema", "result"),
    EntryKind.SIGNAL_RECEIVED: ("payload_schema", "payload"),
}


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """One decoded record of the events topic and where it was read."""

    partition: int
    offset: int
    workflow_id: str
    schema_name: str
    value: Mapping[str, Any]
    raw: bytes  # the record as read: the payload of a published domain event

    @property
    def kind(self) -> EntryKind | None:
        """The lifecycle kind, EVENT_PUBLISHED for any other record, None for unknown lifecycle names."""
        if not self.schema_name.startswith(EVENTS_NAMESPACE):
            return EntryKind.EVENT_PUBLISHED
        try:
            return EntryKind(self.schema_name[len(EVENTS_NAMESPACE) :])
        except ValueError:
            return None


@dataclass(slots=True)
class OpenStep:
    """A step not settled yet, as the row keeps it (JSON in `sb_workflows.open_steps`)."""

    seq: int
    service: str
    command_type: str
    attempt: int
    status: StepStatus
    compensation: bool
    retry_at_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored JSON form."""
        return {
            "seq": self.seq,
            "service": self.service,
            "command_type": self.command_type,
            "attempt": self.attempt,
            "status": self.status.value,
            "compensation": self.compensation,
            "retry_at_ms": self.retry_at_ms,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OpenStep:
        """Read the stored JSON form back."""
        return cls(
            seq=int(data["seq"]),
            service=str(data["service"]),
            command_type=str(data["command_type"]),
            attempt=int(data["attempt"]),
            status=StepStatus(data["status"]),
            compensation=bool(data.get("compensation", False)),
            retry_at_ms=data.get("retry_at_ms"),
        )


@dataclass(slots=True)
class WorkflowState:
    """A visibility row as the projection sees it (the store maps it to `sb_workflows`)."""

    workflow_id: str
    workflow_type: str
    status: WorkflowStatus
    started_at_ms: int
    updated_at_ms: int
    closed_at_ms: int | None = None
    parked_reason: str | None = None
    trace_id: str | None = None
    parent_workflow_id: str | None = None
    open_steps: dict[int, OpenStep] = field(default_factory=dict)
    awaited_signals: tuple[str, ...] = ()
    timer_due_ms: int | None = None
    cancel_requested: bool = False
    compensating: bool = False
    error_type: str | None = None
    error_message: str | None = None
    search_attributes: dict[str, SearchAttributeValue] = field(default_factory=dict)
    events: int = 0  # timeline entries so far: the next entry's position

    @property
    def current_step(self) -> OpenStep | None:
        """The most recently scheduled open step (the one a parallel fan-out reached last)."""
        return self.open_steps[max(self.open_steps)] if self.open_steps else None

    @property
    def retry_at_ms(self) -> int | None:
        """The earliest durable retry among the open steps."""
        dues = [s.retry_at_ms for s in self.open_steps.values() if s.retry_at_ms is not None]
        return min(dues) if dues else None

    def copy(self) -> WorkflowState:
        """A deep enough copy to fold events into without touching the original."""
        return replace(
            self,
            open_steps={seq: replace(s) for seq, s in self.open_steps.items()},
            search_attributes=dict(self.search_attributes),
        )


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One record of the events topic about one workflow, as the store keeps it (`sb_timeline`)."""

    workflow_id: str
    position: int
    at_ms: int
    kind: str  # an EntryKind value, or a lifecycle name this version does not know
    step_seq: int | None
    attempt: int | None
    detail: dict[str, Any]  # the event's fields, minus the envelope and the payload bytes
    payload_schema: str | None
    payload: bytes | None
    source_partition: int
    source_offset: int


def trace_id_of(trace_context: Mapping[str, str] | None) -> str | None:
    """The W3C trace id of a run carrier (`traceparent` = version-traceid-spanid-flags)."""
    parent = (trace_context or {}).get("traceparent", "")
    parts = parent.split("-")
    if len(parts) >= 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        return parts[1].lower()
    return None


def attribute_text(value: SearchAttributeValue) -> str:
    """The canonical text a search attribute is indexed and filtered by."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


class Projection:
    """Applies events to states; one instance per batch (no state of its own)."""

    def apply(
        self, state: WorkflowState | None, event: SourceEvent
    ) -> tuple[WorkflowState | None, TimelineEntry | None]:
        """The new state and the event's timeline entry. A published domain event of a workflow
        the store has never seen, and query answers, are not timeline material: (state, None)."""
        if event.schema_name == QUERY_RESULT_SCHEMA:
            return state, None
        kind = event.kind
        v = event.value
        at_ms = int(v.get("at_ms") or (state.updated_at_ms if state else 0))
        if kind is EntryKind.EVENT_PUBLISHED and state is None:
            return None, None
        if state is None:  # the first event seen is not a start (topic retention, late projection)
            state = WorkflowState(
                workflow_id=event.workflow_id,
                workflow_type=str(v.get("workflow_type") or ""),
                status=WorkflowStatus.RUNNING,
                started_at_ms=at_ms,
                updated_at_ms=at_ms,
            )
        if kind is not None:
            handler: Callable[[WorkflowState, Mapping[str, Any], int], None] | None = getattr(
                self, f"_apply_{kind.value}", None
            )
            if handler is not None:
                handler(state, v, at_ms)
        state.updated_at_ms = max(state.updated_at_ms, at_ms)
        entry = _entry(state, event, kind, at_ms)
        state.events += 1
        return state, entry

    # --- one method per lifecycle event -------------------------------------------------------------
    def _apply_WorkflowStarted(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        s.workflow_type = str(v["workflow_type"])
        s.status = WorkflowStatus.RUNNING
        s.started_at_ms = at_ms
        s.trace_id = trace_id_of(v.get("trace_context"))
        s.parent_workflow_id = v.get("parent_workflow_id")

    def _apply_StepScheduled(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        seq = int(v["seq"])
        s.open_steps[seq] = OpenStep(
            seq=seq,
            service=str(v["service"]),
            command_type=str(v["command_type"]),
            attempt=int(v["attempt"]),
            status=StepStatus.IN_FLIGHT,
            compensation=bool(v.get("compensation", False)),
        )

    def _apply_StepRetrying(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        step = s.open_steps.get(int(v["seq"]))
        if step is not None:
            step.status = StepStatus.BACKOFF
            step.attempt = int(v["attempt"])
            step.retry_at_ms = int(v["retry_at_ms"])
        _set_error(s, v.get("error"))

    def _apply_StepCompleted(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        s.open_steps.pop(int(v["seq"]), None)

    def _apply_StepFailed(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        s.open_steps.pop(int(v["seq"]), None)
        _set_error(s, v.get("error"))

    def _apply_WorkflowParked(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        s.status = WorkflowStatus(v.get("status") or WorkflowStatus.PARKED)
        s.parked_reason = str(v.get("reason") or "")
        seq = v.get("seq")
        step = None if seq is None else s.open_steps.get(int(seq))
        if step is not None:
            step.status = StepStatus.PARKED
            step.retry_at_ms = None
        _set_error(s, v.get("error"))

    def _apply_WorkflowResumed(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        s.status = WorkflowStatus(v["status"])
        if s.status is WorkflowStatus.RUNNING:
            s.parked_reason = None

    def _apply_WorkflowWaiting(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        s.awaited_signals = tuple(str(n) for n in v.get("signals") or ())
        due = v.get("timer_due_ms")
        s.timer_due_ms = None if due is None else int(due)

    def _apply_SearchAttributesSet(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        for name, value in (v.get("attributes") or {}).items():
            if value is None:
                s.search_attributes.pop(name, None)
            else:
                s.search_attributes[name] = value

    def _apply_WorkflowContinuedAsNew(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        """The run ended and the id started over: the row shows the new run, nothing of the old
        one's waits (its search attributes stay until the new run sets its own). The run number
        stays in the event: the timeline's WorkflowContinuedAsNew entries mark where each run begins."""
        s.status = WorkflowStatus.RUNNING
        s.parked_reason = None
        s.open_steps.clear()
        s.awaited_signals = ()
        s.timer_due_ms = None
        s.cancel_requested = False
        s.compensating = False
        s.error_type = None
        s.error_message = None

    def _apply_CancelRequested(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        s.cancel_requested = True

    def _apply_Compensating(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        s.compensating = True

    def _close(self, s: WorkflowState, status: WorkflowStatus, at_ms: int, error: Any) -> None:
        s.status = status
        s.closed_at_ms = at_ms
        s.parked_reason = None
        s.open_steps.clear()
        s.awaited_signals = ()
        s.timer_due_ms = None
        _set_error(s, error)

    def _apply_WorkflowCompleted(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        self._close(s, TERMINAL_KINDS[EntryKind.WORKFLOW_COMPLETED], at_ms, None)

    def _apply_WorkflowFailed(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        self._close(s, TERMINAL_KINDS[EntryKind.WORKFLOW_FAILED], at_ms, v.get("error"))

    def _apply_WorkflowCompensated(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        self._close(s, TERMINAL_KINDS[EntryKind.WORKFLOW_COMPENSATED], at_ms, v.get("error"))

    def _apply_WorkflowCancelled(self, s: WorkflowState, v: Mapping[str, Any], at_ms: int) -> None:
        reason = v.get("reason")
        self._close(
            s, TERMINAL_KINDS[EntryKind.WORKFLOW_CANCELLED], at_ms, {"error_type": "Cancelled", "message": reason}
        )


def _set_error(s: WorkflowState, error: Any) -> None:
    """The row shows the latest error: why it retries, parked or ended."""
    if isinstance(error, Mapping) and error.get("error_type"):
        s.error_type = str(error["error_type"])
        s.error_message = str(error.get("message") or "")


def _entry(state: WorkflowState, event: SourceEvent, kind: EntryKind | None, at_ms: int) -> TimelineEntry:
    v = event.value
    payload_schema: str | None = None
    payload: bytes | None = None
    if kind is EntryKind.EVENT_PUBLISHED:
        payload_schema, payload = event.schema_name, event.raw
        detail: dict[str, Any] = {"schema": event.schema_name}
    else:
        fields = PAYLOAD_FIELDS.get(kind) if kind is not None else None
        skip = set(_ENVELOPE)
        if fields is not None:
            raw = v.get(fields[1])
            if isinstance(raw, bytes):
                payload_schema, payload = v.get(fields[0]), raw
            skip.add(fields[1])
        detail = {k: val for k, val in v.items() if k not in skip and not isinstance(val, bytes)}
    seq = v.get("seq") if kind is not EntryKind.EVENT_PUBLISHED else None
    attempt = v.get("attempt") if kind is not EntryKind.EVENT_PUBLISHED else None
    return TimelineEntry(
        workflow_id=state.workflow_id,
        position=state.events,
        at_ms=at_ms,
        kind=kind.value if kind is not None else event.schema_name.rsplit(".", 1)[-1],
        step_seq=None if seq is None else int(seq),
        attempt=None if attempt is None else int(attempt),
        detail=detail,
        payload_schema=payload_schema,
        payload=payload,
        source_partition=event.partition,
        source_offset=event.offset,
    )
