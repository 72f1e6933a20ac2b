"""The orchestrator's span vocabulary, so the engine wiring is one call per event.

Tree of one workflow (docs/tracing.md):
    workflow <type>                   run span: deferred, recorded when the workflow ends
      workflow.activate <type>        one per live activation (inbox record handled), linked to it
      step <name>                     one per attempt, command produced -> reply consumed (PRODUCER)
        process <service>.commands    the service's handler (its own process)
          send <app>.inbox            the service's reply
      timer <name> / wait <signal>    durable waits, recorded when they end
All are children of the run span's stored context, so a restart mid-workflow keeps one trace.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from orchestrator.tracing import active_tracer
from orchestrator.tracing import attributes as attr
from orchestrator.tracing.deferred import close_deferred_span, open_deferred_span
from orchestrator.tracing.messaging import kafka_attributes
from orchestrator.tracing.propagation import HeaderPairs, extract_context
from orchestrator.tracing.span_primitives import (
    NOOP_SCOPE,
    Attributes,
    NoopScope,
    SpanScope,
    child_span,
    end_span_at,
    start_span_at,
)

Carrier = Mapping[str, str]


def workflow_attributes(
    workflow_type: str,
    workflow_id: str,
    extra: Attributes | None = None,
) -> dict[str, AttributeValue]:
    """The workflow's span attributes (type, id) plus `extra`."""
    out: dict[str, AttributeValue] = {attr.WORKFLOW_TYPE: workflow_type, attr.WORKFLOW_ID: workflow_id}
    if extra:
        out.update(extra)
    return out


def activation_span(
    run: Carrier, workflow_type: str, workflow_id: str, *, reason: str, record_headers: HeaderPairs | None = None
) -> SpanScope | NoopScope:
    """One live activation (start, reply, timer, signal...): parented to the run, linked to the
    inbox record's producer (the service's reply span, the signalling client)."""
    if active_tracer.active() is None:
        return NOOP_SCOPE
    links = [extract_context(record_headers)] if record_headers else []
    return child_span(
        f"workflow.activate {workflow_type}",
        parent=run,
        links=links,
        attributes=workflow_attributes(workflow_type, workflow_id, {attr.ACTIVATION_REASON: reason}),
    )


def record_activation(
    run: Carrier,
    workflow_type: str,
    workflow_id: str,
    *,
    reason: str,
    start_ns: int,
    end_ns: int,
    record_headers: HeaderPairs | None = None,
) -> None:
    """`activation_span` recorded after the fact (explicit times), for use through PendingSpans."""
    if active_tracer.active() is None:
        return
    links = [extract_context(record_headers)] if record_headers else []
    span = start_span_at(
        f"workflow.activate {workflow_type}",
        run,
        start_ns,
        links=links,
        attributes=workflow_attributes(workflow_type, workflow_id, {attr.ACTIVATION_REASON: reason}),
    )
    end_span_at(span, end_ns)


def open_step_attempt(run: Carrier, *, start_ns: int | None = None) -> dict[str, str]:
    """Reserve the attempt span when its command is produced; inject the result into the
    command's headers (`inject_headers(carrier)`) and keep it in the step state."""
    return open_deferred_span(run, start_ns=start_ns, name="step", kind=SpanKind.PRODUCER)


def close_step_attempt(
    attempt: Carrier | None,
    *,
    step_name: str,
    workflow_type: str,
    workflow_id: str,
    topic: str,
    attempt_no: int,
    command_id: str,
    outcome: str,
    seq: int | None = None,
    command_type: str | None = None,
    compensation: bool = False,
    error_type: str | None = None,
    error_message: str | None = None,
    reply_headers: HeaderPairs | None = None,
    end_ns: int | None = None,
) -> None:
    """Record the attempt when its reply is consumed (or it timed out): `outcome` is
    success | failure | timeout; failures carry `error_type` (semconv `error.type`)."""
    if active_tracer.active() is None or not attempt:
        return
    extra: dict[str, AttributeValue] = workflow_attributes(
        workflow_type,
        workflow_id,
        {
            attr.STEP_NAME: step_name,
            attr.STEP_ATTEMPT: attempt_no,
            attr.STEP_COMMAND_ID: command_id,
            attr.STEP_OUTCOME: outcome,
            attr.STEP_COMPENSATION: compensation,
        },
    )
    if seq is not None:
        extra[attr.STEP_SEQ] = seq
    if command_type:
        extra[attr.STEP_COMMAND_TYPE] = command_type
    attrs = kafka_attributes(
        topic, attr.OP_SEND, "send", key=workflow_id, message_id=f"{command_id}/{attempt_no}", extra=extra
    )
    if outcome != "success" and error_type is None:
        error_type = outcome
    close_deferred_span(
        attempt,
        f"{'compensate' if compensation else 'step'} {step_name}",
        kind=SpanKind.PRODUCER,
        attributes=attrs,
        links=[extract_context(reply_headers)] if reply_headers else (),
        end_ns=end_ns,
        error_type=error_type,
        error_message=error_message,
    )


def record_wait(
    run: Carrier,
    kind: str,
    name: str,
    *,
    workflow_type: str,
    workflow_id: str,
    start_ns: int,
    end_ns: int | None = None,
    fired: bool = True,
) -> None:
    """A durable timer (`kind="timer"`) or signal wait (`kind="wait"`), recorded when it ends."""
    if active_tracer.active() is None:
        return
    name_attr = attr.TIMER_NAME if kind == "timer" else attr.SIGNAL_NAME
    span = start_span_at(
        f"{kind} {name}", run, start_ns, attributes=workflow_attributes(workflow_type, workflow_id, {name_attr: name})
    )
    end_span_at(span, end_ns, error_type=None if fired else "timeout")


def close_run(
    run: Carrier | None,
    *,
    workflow_type: str,
    workflow_id: str,
    status: str,
    error_type: str | None = None,
    error_message: str | None = None,
    end_ns: int | None = None,
) -> None:
    """Record the run span when the workflow reaches a final status. The span is marked failed
    for status "failed" or when `error_type` is given (e.g. the error a compensated saga hit)."""
    if active_tracer.active() is None or not run:
        return
    if error_type is None and status == "failed":
        error_type = status
    close_deferred_span(
        run,
        f"workflow {workflow_type}",
        attributes=workflow_attributes(workflow_type, workflow_id, {attr.WORKFLOW_STATUS: status}),
        end_ns=end_ns,
        error_type=error_type,
        error_message=error_message,
    )
