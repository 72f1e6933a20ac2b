"""The engine's tracing glue: which carrier a run keeps, and the spans a live turn queues.

Every span is *queued* on the turn (`Turn.spans`, a PendingSpans) and recorded only when the
checkpoint holding the turn's writes commits (PartitionEngine.mark_committed), so an aborted or
dead-lettered turn shows no spans and its re-processing no duplicates. Only live paths call in
here; replay runs under `tracing.suppressed()` (executor.py). With tracing off each function
returns after one ContextVar read, and commands keep propagating the run's stored `traceparent`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from orchestrator import tracing
from orchestrator.tracing import attributes as attr
from orchestrator.tracing.workflow_spans import workflow_attributes
from orchestrator.transport.header_names import TRACEPARENT, TRACESTATE
from orchestrator.transport.records import InboundRecord
from orchestrator.workflow.status import WorkflowStatus

if TYPE_CHECKING:
    from orchestrator.engine.state_records import Header, StepRecord
    from orchestrator.engine.turn import Turn
    from orchestrator.workflow.activation import ErrorInfo

RETRY_SET_NS: Final = "sb-retry-set-ns"
"""Step-state carrier key while a step waits in backoff: when the retry timer was set (ns)."""

_W3C: Final = (TRACEPARENT, TRACESTATE)


def is_run_carrier(carrier: Mapping[str, str]) -> bool:
    """A reserved deferred span (new_root_context), as opposed to a caller's plain W3C context."""
    return TRACEPARENT in carrier and tracing.START_NS in carrier


def run_context_for_start(requested: Mapping[str, str]) -> dict[str, str]:
    """The run carrier of a new workflow: the one the client (or parent run) reserved, else a
    new run span, child of the caller's context when there is one. Off: kept as it came."""
    if is_run_carrier(requested) or not tracing.tracing_enabled():
        return dict(requested)
    return tracing.new_root_context(tracing.extract_carrier(requested))


def child_run_context(parent_run: Mapping[str, str]) -> dict[str, str]:
    """The run carrier reserved for a child workflow: a child of the parent's run span."""
    if not tracing.tracing_enabled():  # propagate the context, never the parent's reserved identity
        return {name: parent_run[name] for name in _W3C if name in parent_run}
    return tracing.new_root_context(tracing.extract_carrier(parent_run))


def ensure_run_context(header: Header) -> None:
    """A run started while tracing was off gets a run span now (stored with the header), so the
    rest of its life is one trace rather than an orphan per attempt."""
    if tracing.tracing_enabled() and not is_run_carrier(header.trace_context):
        header.trace_context = tracing.new_root_context(tracing.extract_carrier(header.trace_context))


def step_name(step: StepRecord) -> str:
    """Low-cardinality span name part: the command's record name (`ReserveStock`)."""
    return step.command_type.rsplit(".", 1)[-1]


def open_attempt(header: Header) -> dict[str, str]:
    """Reserve the span of a step attempt being sent ({} when off)."""
    if not tracing.tracing_enabled():
        return {}
    return tracing.open_step_attempt(header.trace_context)


def command_trace_headers(header: Header, step: StepRecord) -> list[tuple[str, str]]:
    """`traceparent`/`tracestate` of a command: the attempt's span (so the handler becomes its
    child), or with tracing off the run's stored context, propagated as is."""
    source = step.trace_context if TRACEPARENT in step.trace_context else header.trace_context
    return [(name, source[name]) for name in _W3C if name in source]


def close_attempt(t: Turn, header: Header, step: StepRecord, outcome: str, error: ErrorInfo | None = None) -> None:
    """Queue the current attempt's span (if it is still open) and forget its carrier."""
    carrier = step.trace_context
    if TRACEPARENT not in carrier:
        return
    step.trace_context = {}
    t.spans.defer(
        tracing.close_step_attempt,
        carrier,
        step_name=step_name(step),
        workflow_type=header.workflow_type,
        workflow_id=header.workflow_id,
        topic=t.out.topics.command_topic(step.service),
        attempt_no=step.attempt,
        command_id=step.command_id,
        outcome=outcome,
        seq=step.seq,
        command_type=step.command_type,
        compensation=step.compensation,
        error_type=None if error is None else error.error_type,
        error_message=None if error is None else error.message,
        reply_headers=None if t.record is None else t.record.headers,
        end_ns=time.time_ns(),
    )


def mark_retry_set(step: StepRecord) -> None:
    """Remember when the backoff began, for the retry timer's span."""
    if tracing.tracing_enabled():
        step.trace_context = {RETRY_SET_NS: str(time.time_ns())}


def retry_fired(t: Turn, header: Header, step: StepRecord) -> None:
    """Queue the `timer retry <step>` span of a backoff that just elapsed."""
    raw = step.trace_context.get(RETRY_SET_NS)
    if raw is None or not raw.isdigit():
        return
    t.spans.defer(
        tracing.record_wait,
        dict(header.trace_context),
        "timer",
        f"retry {step_name(step)}",
        workflow_type=header.workflow_type,
        workflow_id=header.workflow_id,
        start_ns=int(raw),
        end_ns=time.time_ns(),
    )


def timer_fired(t: Turn, header: Header, set_at_ms: int | None) -> None:
    """Queue the span of a workflow timer (`ctx.sleep`, a wait's timeout) that fired."""
    if not tracing.tracing_enabled():
        return
    end = time.time_ns()
    start = end if set_at_ms is None else min(end, set_at_ms * 1_000_000)
    t.spans.defer(
        tracing.record_wait,
        dict(header.trace_context),
        "timer",
        "sleep",
        workflow_type=header.workflow_type,
        workflow_id=header.workflow_id,
        start_ns=start,
        end_ns=end,
    )


def signal_received(t: Turn, header: Header, name: str) -> None:
    """Queue a `signal <name>` span (the activation that handles it links to the sender)."""
    if not tracing.tracing_enabled():
        return
    now = time.time_ns()
    t.spans.defer(
        tracing.record_wait,
        dict(header.trace_context),
        "signal",
        name,
        workflow_type=header.workflow_type,
        workflow_id=header.workflow_id,
        start_ns=now,
        end_ns=now,
    )


def run_finished(t: Turn, header: Header, status: WorkflowStatus, error: ErrorInfo | None) -> None:
    """Queue the run span itself: recorded once, with its reserved id and start time."""
    if not tracing.tracing_enabled():
        return
    failed = error is not None and status in (WorkflowStatus.FAILED, WorkflowStatus.COMPENSATED)
    t.spans.defer(
        tracing.close_run,
        dict(header.trace_context),
        workflow_type=header.workflow_type,
        workflow_id=header.workflow_id,
        status=status,
        error_type=error.error_type if failed and error is not None else None,
        error_message=error.message if failed and error is not None else None,
        end_ns=time.time_ns(),
    )


def activation(t: Turn, header: Header, reason: str, start_ns: int, group: str | None) -> None:
    """Queue the `workflow.activate <type>` span of one live activation: CONSUMER with the
    messaging attributes of the inbox record that caused it (linked to its producer), INTERNAL
    when the clock caused it."""
    if not tracing.tracing_enabled():
        return
    t.spans.defer(
        _record_activation,
        dict(header.trace_context),
        header.workflow_type,
        header.workflow_id,
        reason,
        start_ns,
        time.time_ns(),
        t.record,
        group,
    )


def _record_activation(
    run: Mapping[str, str],
    workflow_type: str,
    workflow_id: str,
    reason: str,
    start_ns: int,
    end_ns: int,
    record: InboundRecord | None,
    group: str | None,
) -> None:
    extra: dict[str, AttributeValue] = workflow_attributes(workflow_type, workflow_id, {attr.ACTIVATION_REASON: reason})
    kind, links = SpanKind.INTERNAL, []
    if record is not None:
        kind = SpanKind.CONSUMER
        extra = tracing.kafka_attributes(
            record.topic,
            attr.OP_PROCESS,
            "process",
            key=record.key,
            partition=record.partition,
            offset=record.offset,
            group=group,
            extra=extra,
        )
        links = [tracing.extract_context(record.headers)]
    span = tracing.start_span_at(
        f"workflow.activate {workflow_type}", run, start_ns, kind=kind, attributes=extra, links=links
    )
    tracing.end_span_at(span, end_ns)
