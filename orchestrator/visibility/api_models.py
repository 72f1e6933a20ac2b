"""The HTTP API's request and response models (pydantic): its OpenAPI schema is generated from these.

Times are epoch milliseconds, as everywhere in SagaBridge; durations are milliseconds too.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.visibility.status import StepStatus
from orchestrator.workflow.status import WorkflowStatus


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ErrorView(_Model):
    """An error as the engine reported it (a step's failure, why a run parked or ended)."""

    error_type: str
    message: str = ""
    retryable: bool | None = None
    details: dict[str, str] = Field(default_factory=dict)


class PayloadView(_Model):
    """A record carried by an event, decoded to JSON (bytes are base64, decimals strings)."""

    schema_name: str | None = Field(default=None, description="Avro full name of the record")
    value: Any = None
    error: str | None = Field(default=None, description="why it could not be decoded (then value is null)")


class CurrentStep(_Model):
    """The open step a run reached last: where it is now."""

    seq: int
    service: str
    command_type: str
    attempt: int
    status: StepStatus
    compensation: bool
    retry_at_ms: int | None = None


class WorkflowSummary(_Model):
    """One row of the visibility store."""

    workflow_id: str
    workflow_type: str
    status: WorkflowStatus
    parked_reason: str | None = None
    current_step: CurrentStep | None = None
    open_steps: int = 0
    retry_at_ms: int | None = Field(default=None, description="when the next durable retry fires")
    timer_due_ms: int | None = Field(default=None, description="when its next timer (sleep, signal timeout) fires")
    awaited_signals: list[str] = Field(default_factory=list)
    cancel_requested: bool = False
    compensating: bool = False
    started_at_ms: int
    updated_at_ms: int
    closed_at_ms: int | None = None
    duration_ms: int | None = Field(default=None, description="closed - started (null while open)")
    trace_id: str | None = None
    trace_url: str | None = Field(default=None, description="the trace in Jaeger, when visibility.jaeger_url is set")
    parent_workflow_id: str | None = None
    error: ErrorView | None = Field(default=None, description="the latest error: why it retries, parked or ended")
    search_attributes: dict[str, str | bool | int | float] = Field(default_factory=dict)


class WorkflowPage(_Model):
    """One page of a list, newest first; the cursor keeps later pages stable while runs start."""

    workflows: list[WorkflowSummary]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page; null: last page")


class StatusCountsView(_Model):
    """How many workflows per status under the list's filter (from counters when it filters on type/status only)."""

    total: int
    by_status: dict[WorkflowStatus, int]
    source: str = Field(description="counters (kept at ingest, any store size) or scan (counted for this filter)")


class AttemptView(_Model):
    """One attempt of a step: a bar of the timeline, from its command to its outcome."""

    attempt: int
    started_at_ms: int
    ended_at_ms: int | None = None
    duration_ms: int | None = None
    outcome: str = Field(description="in-flight | succeeded | failed | parked | abandoned")
    error: ErrorView | None = None
    retry_at_ms: int | None = None


class StepView(_Model):
    """A step with its attempts: the bars of a Gantt chart (attempts) and the gaps (backoff)."""

    seq: int
    service: str
    command_type: str
    compensation: bool
    status: StepStatus
    scheduled_at_ms: int
    settled_at_ms: int | None = None
    duration_ms: int | None = None
    attempts: list[AttemptView]
    command: PayloadView | None = None
    result: PayloadView | None = None
    error: ErrorView | None = None


class SignalView(_Model):
    """A signal the workflow received, with who sent it."""

    at_ms: int
    name: str
    sent_by: str | None = None
    payload: PayloadView | None = None


class OperatorActionView(_Model):
    """An operator action the engine applied, with who did it and why (the audit trail)."""

    at_ms: int
    action: str
    seq: int | None = None
    operator: str
    reason: str = ""


class TimelineEntryView(_Model):
    """One record of the events topic about this workflow, in topic order (`source_*`: where it was read)."""

    position: int
    at_ms: int
    kind: str = Field(description="the lifecycle event's name, or EventPublished for a domain event")
    step_seq: int | None = None
    attempt: int | None = None
    detail: dict[str, Any]
    payload: PayloadView | None = None
    source_partition: int
    source_offset: int


class WorkflowDetail(_Model):
    """Everything about one workflow: its row, decoded input and result, steps, signals, actions and timeline."""

    workflow: WorkflowSummary
    input: PayloadView | None = None
    result: PayloadView | None = None
    steps: list[StepView]
    signals: list[SignalView]
    operator_actions: list[OperatorActionView]
    timeline: list[TimelineEntryView]
    timeline_next_position: int | None = Field(
        default=None, description="more entries follow: pass as `timeline_after` to read them"
    )
    children: list[WorkflowSummary]


# --- actions ------------------------------------------------------------------------------------


class _Action(_Model):
    reason: str = Field(default="", max_length=1000, description="why (recorded with the action)")


class RetryRequest(_Action):
    """Resend the parked step(s) with a fresh attempt budget, or replay a needs-attention run."""

    seq: int | None = Field(default=None, description="the parked step; null: every parked step")


class SkipRequest(_Action):
    """Complete the parked step with this result, as if its service had answered."""

    seq: int | None = Field(default=None, description="the parked step; null: the one parked step")
    result_schema: str = Field(description="Avro full name of the step's result record")
    result: dict[str, Any] = Field(description="the result to record for the skipped step, as JSON")


class CompensateRequest(_Action):
    """Fail the parked step(s) finally, so the saga compensates."""

    seq: int | None = Field(default=None, description="the parked step; null: every parked step")


class CancelRequest(_Action):
    """Cancel the workflow; its saga compensates what it did."""


class SignalRequest(_Model):
    """A signal to deliver, with an optional payload record (given as JSON, encoded with its schema)."""

    name: str = Field(min_length=1, max_length=200)
    payload_schema: str | None = Field(default=None, description="Avro full name of the payload record")
    payload: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _payload_and_schema_together(self) -> SignalRequest:
        if (self.payload is None) != (self.payload_schema is None):
            raise ValueError("payload and payload_schema go together: give both or neither")
        return self


class ActionAccepted(_Model):
    """The request is on the inbox; the engine applies it (OperatorActionApplied / SignalReceived
    on the timeline) or dead-letters it if the workflow changed meanwhile."""

    workflow_id: str
    action: str
    requested_by: str
    inbox_topic: str
    accepted_at_ms: int


class IngestView(_Model):
    """How far the store has followed the events topic, and what went wrong last: is what the API says current?"""

    topic: str
    store: str
    backend: str
    ingesting: bool
    running: bool
    caught_up: bool
    lag: dict[int, int]
    last_error: str | None = None
    events_ingested: int
    dead_lettered: int
    batches: int
    last_batch_at_ms: int | None = None


class ProblemView(_Model):
    """Why a request was refused (401, 403, 404, 409, 422, 503)."""

    detail: str


class CallerView(_Model):
    """Who a token is: the web UI shows it, and offers actions only to an operate token."""

    name: str = Field(description="the token's configured name: recorded as the operator of every action")
    role: str = Field(description="read | operate")
    may_operate: bool


class WorkflowTypeView(_Model):
    """One workflow type with its total and per-status counts."""

    workflow_type: str
    total: int
    by_status: dict[WorkflowStatus, int]


class WorkflowTypesView(_Model):
    """Every workflow type the store has seen (from the ingest-kept counters: constant time)."""

    types: list[WorkflowTypeView]


class ReportSummary(_Model):
    """A report as the Reports tab lists it."""

    slug: str
    title: str
    description: str = ""


class ReportList(_Model):
    """Every report the server has registered."""

    reports: list[ReportSummary]


class ReportView(_Model):
    """One report's page: its HTML, or null when it has nothing to show yet."""

    slug: str
    title: str
    html: str | None = Field(description="self-contained HTML (no script); null: nothing to show yet")
