"""Builds the API's (and the CLI's) views from store rows and timeline entries.

Steps and their attempts are derived from the timeline when read, not stored: a workflow's
timeline is small, and this way the store keeps one fact once (the events) and the picture of a
step (attempts, backoff gaps, durations) can change without re-ingesting anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.serialization import AvroSerde
from orchestrator.visibility.api_models import (
    AttemptView,
    CurrentStep,
    ErrorView,
    OperatorActionView,
    PayloadView,
    SignalView,
    StepView,
    TimelineEntryView,
    WorkflowDetail,
    WorkflowSummary,
)
from orchestrator.visibility.payloads import decode_payload
from orchestrator.visibility.projection import TimelineEntry, WorkflowState
from orchestrator.visibility.status import EntryKind, StepStatus


def trace_link(jaeger_url: str | None, trace_id: str | None) -> str | None:
    """The run's trace in Jaeger's UI, when a Jaeger URL is configured."""
    if not jaeger_url or not trace_id:
        return None
    return f"{jaeger_url.rstrip('/')}/trace/{trace_id}"


def summary(s: WorkflowState, jaeger_url: str | None = None) -> WorkflowSummary:
    """A store row as the API's WorkflowSummary."""
    step = s.current_step
    return WorkflowSummary(
        workflow_id=s.workflow_id,
        workflow_type=s.workflow_type,
        status=s.status,
        parked_reason=s.parked_reason,
        current_step=None if step is None else CurrentStep.model_validate(step.to_json()),
        open_steps=len(s.open_steps),
        retry_at_ms=s.retry_at_ms,
        timer_due_ms=s.timer_due_ms,
        awaited_signals=list(s.awaited_signals),
        cancel_requested=s.cancel_requested,
        compensating=s.compensating,
        started_at_ms=s.started_at_ms,
        updated_at_ms=s.updated_at_ms,
        closed_at_ms=s.closed_at_ms,
        duration_ms=None if s.closed_at_ms is None else s.closed_at_ms - s.started_at_ms,
        trace_id=s.trace_id,
        trace_url=trace_link(jaeger_url, s.trace_id),
        parent_workflow_id=s.parent_workflow_id,
        error=None if s.error_type is None else ErrorView(error_type=s.error_type, message=s.error_message or ""),
        search_attributes={k: v for k, v in s.search_attributes.items() if v is not None},
    )


def _error(raw: Any) -> ErrorView | None:
    if not isinstance(raw, Mapping) or not raw.get("error_type"):
        return None
    return ErrorView(
        error_type=str(raw["error_type"]),
        message=str(raw.get("message") or ""),
        retryable=raw.get("retryable"),
        details={str(k): str(v) for k, v in (raw.get("details") or {}).items()},
    )


class DetailBuilder:
    """Builds WorkflowDetail views: decodes payloads with the app's serde, derives steps from the timeline."""

    def __init__(self, serde: AvroSerde, jaeger_url: str | None = None) -> None:
        self.serde = serde
        self.jaeger_url = jaeger_url

    def payload(self, entry: TimelineEntry) -> PayloadView | None:
        """The entry's payload decoded to JSON; an undecodable one says why instead of failing the page."""
        decoded = decode_payload(self.serde, entry.payload_schema, entry.payload)
        if decoded is None:
            return None
        return PayloadView(schema_name=decoded.schema or entry.payload_schema, value=decoded.value, error=decoded.error)

    def build(
        self,
        state: WorkflowState,
        entries: Sequence[TimelineEntry],
        children: Sequence[WorkflowState] = (),
        next_position: int | None = None,
    ) -> WorkflowDetail:
        """The detail view of a row and (a page of) its timeline; `next_position`: more entries follow."""
        payloads = {e.position: self.payload(e) for e in entries if e.payload is not None}
        steps = _Steps()
        signals: list[SignalView] = []
        actions: list[OperatorActionView] = []
        input_view = result_view = None
        for e in entries:
            d = e.detail
            payload = payloads.get(e.position)
            if e.kind == EntryKind.WORKFLOW_STARTED:
                input_view = payload
            elif e.kind == EntryKind.WORKFLOW_COMPLETED:
                result_view = payload
            elif e.kind == EntryKind.SIGNAL_RECEIVED:
                signals.append(
                    SignalView(at_ms=e.at_ms, name=str(d.get("name")), sent_by=d.get("sent_by"), payload=payload)
                )
            elif e.kind == EntryKind.OPERATOR_ACTION_APPLIED:
                actions.append(
                    OperatorActionView(
                        at_ms=e.at_ms,
                        action=str(d.get("action")),
                        seq=d.get("seq"),
                        operator=str(d.get("operator") or ""),
                        reason=str(d.get("reason") or ""),
                    )
                )
            steps.fold(e, payload)
        if state.closed_at_ms is not None:
            steps.abandon_open(state.closed_at_ms)
        return WorkflowDetail(
            workflow=summary(state, self.jaeger_url),
            input=input_view,
            result=result_view,
            steps=steps.views(),
            signals=signals,
            operator_actions=actions,
            timeline=[self.entry(e, payloads.get(e.position)) for e in entries],
            timeline_next_position=next_position,
            children=[summary(c, self.jaeger_url) for c in children],
        )

    @staticmethod
    def entry(e: TimelineEntry, payload: PayloadView | None) -> TimelineEntryView:
        """A timeline entry as the API shows it."""
        return TimelineEntryView(
            position=e.position,
            at_ms=e.at_ms,
            kind=e.kind,
            step_seq=e.step_seq,
            attempt=e.attempt,
            detail=e.detail,
            payload=payload,
            source_partition=e.source_partition,
            source_offset=e.source_offset,
        )


class _Steps:
    """Folds step events into StepViews, attempt by attempt."""

    def __init__(self) -> None:
        self._steps: dict[int, StepView] = {}

    def views(self) -> list[StepView]:
        return [self._steps[seq] for seq in sorted(self._steps)]

    def _open_attempt(self, step: StepView) -> AttemptView | None:
        last = step.attempts[-1] if step.attempts else None
        return last if last is not None and last.ended_at_ms is None else None

    def _end(self, step: StepView, at_ms: int, outcome: str, error: ErrorView | None, attempt: int | None) -> None:
        current = self._open_attempt(step)
        if current is None or (attempt is not None and current.attempt != attempt):
            current = next((a for a in step.attempts if a.attempt == attempt and a.ended_at_ms is None), current)
        if current is not None:
            current.ended_at_ms = at_ms
            current.duration_ms = at_ms - current.started_at_ms
            current.outcome = outcome
            current.error = error

    def fold(self, e: TimelineEntry, payload: PayloadView | None) -> None:
        d = e.detail
        seq = e.step_seq
        if e.kind == EntryKind.STEP_SCHEDULED and seq is not None:
            step = self._steps.get(seq)
            if step is None:
                step = self._steps[seq] = StepView(
                    seq=seq,
                    service=str(d.get("service")),
                    command_type=str(d.get("command_type")),
                    compensation=bool(d.get("compensation")),
                    status=StepStatus.IN_FLIGHT,
                    scheduled_at_ms=e.at_ms,
                    attempts=[],
                    command=payload,
                )
            step.status = StepStatus.IN_FLIGHT
            step.attempts.append(AttemptView(attempt=int(e.attempt or 1), started_at_ms=e.at_ms, outcome="in-flight"))
            return
        step = None if seq is None else self._steps.get(seq)
        if step is None:
            return
        error = _error(d.get("error"))
        if e.kind == EntryKind.STEP_RETRYING:
            self._end(step, e.at_ms, "failed", error, e.attempt)
            if step.attempts:
                step.attempts[-1].retry_at_ms = d.get("retry_at_ms")
            step.status, step.error = StepStatus.BACKOFF, error
        elif e.kind == EntryKind.STEP_COMPLETED:
            self._end(step, e.at_ms, "succeeded", None, e.attempt)
            step.status, step.result = StepStatus.COMPLETED, payload
            self._settle(step, e.at_ms)
        elif e.kind == EntryKind.STEP_FAILED:
            self._end(step, e.at_ms, "failed", error, e.attempt)
            step.status, step.error = StepStatus.FAILED, error
            self._settle(step, e.at_ms)
        elif e.kind == EntryKind.WORKFLOW_PARKED:
            self._end(step, e.at_ms, "parked", error, None)
            step.status, step.error = StepStatus.PARKED, error or step.error

    @staticmethod
    def _settle(step: StepView, at_ms: int) -> None:
        step.settled_at_ms = at_ms
        step.duration_ms = at_ms - step.scheduled_at_ms

    def abandon_open(self, closed_at_ms: int) -> None:
        for step in self._steps.values():
            if step.status in (StepStatus.IN_FLIGHT, StepStatus.BACKOFF, StepStatus.PARKED):
                self._end(step, closed_at_ms, "abandoned", None, None)
                step.status = StepStatus.ABANDONED
