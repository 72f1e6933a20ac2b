"""Deferred spans: identity reserved when work begins, recorded (same ids) when it ends."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, StatusCode

from orchestrator import tracing
from orchestrator.tracing import create_tracer_provider, using

CLIENT = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def _ids(carrier: dict[str, str]) -> tuple[int, int]:
    _, trace_id, span_id, _ = carrier["traceparent"].split("-")
    return int(trace_id, 16), int(span_id, 16)


def test_root_context_is_a_new_trace_recorded_as_a_root_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    run = tracing.new_root_context(start_ns=1_000)
    assert set(run) == {"traceparent", "sb-start-ns"}
    assert run["traceparent"].endswith("-03")  # sampled + random trace id (W3C level 2), as the SDK does
    tracing.close_run(run, workflow_type="Order", workflow_id="wf-1", status="completed", end_ns=5_000)
    (span,) = exporter.get_finished_spans()
    assert (span.context.trace_id, span.context.span_id) == _ids(run)
    assert span.parent is None
    assert (span.start_time, span.end_time) == (1_000, 5_000)
    assert span.name == "workflow Order"
    assert (span.attributes or {})["sagabridge.workflow.status"] == "completed"
    assert span.status.status_code is StatusCode.UNSET


def test_root_context_continues_the_callers_trace(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    run = tracing.new_root_context(CLIENT)
    assert tracing.trace_id_hex(run) == "0af7651916cd43dd8448eb211c80319c"
    assert run["sb-parent-span-id"] == "b7ad6b7169203331"
    tracing.close_run(run, workflow_type="Order", workflow_id="wf-1", status="failed", error_message="boom")
    (span,) = exporter.get_finished_spans()
    assert span.parent is not None and format(span.parent.span_id, "016x") == "b7ad6b7169203331"
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "failed"


def test_children_recorded_before_the_run_point_at_its_reserved_id(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    run = tracing.new_root_context()
    with tracing.activation_span(run, "Order", "wf-1", reason="start"):
        attempt = tracing.open_step_attempt(run, start_ns=2_000)
    tracing.close_step_attempt(
        attempt,
        step_name="reserve",
        workflow_type="Order",
        workflow_id="wf-1",
        topic="inventory.commands",
        attempt_no=1,
        command_id="wf-1/3",
        outcome="success",
        seq=3,
        end_ns=9_000,
    )
    tracing.record_wait(
        run, "timer", "backoff", workflow_type="Order", workflow_id="wf-1", start_ns=3_000, end_ns=4_000
    )
    tracing.close_run(run, workflow_type="Order", workflow_id="wf-1", status="completed")
    activation, step, timer, run_span = exporter.get_finished_spans()
    run_trace, run_id = _ids(run)
    assert {s.context.trace_id for s in (activation, step, timer, run_span)} == {run_trace}
    for child in (activation, step, timer):
        assert child.parent is not None and child.parent.span_id == run_id, child.name
    assert (step.context.span_id, step.start_time, step.end_time) == (_ids(attempt)[1], 2_000, 9_000)
    assert step.kind is SpanKind.PRODUCER and step.name == "step reserve"
    attrs = dict(step.attributes or {})
    assert attrs["messaging.destination.name"] == "inventory.commands"
    assert attrs["messaging.operation.type"] == "send"
    assert attrs["messaging.kafka.message.key"] == "wf-1"
    assert attrs["sagabridge.step.attempt"] == 1 and attrs["sagabridge.step.seq"] == 3
    assert (timer.name, timer.start_time, timer.end_time) == ("timer backoff", 3_000, 4_000)
    assert (activation.attributes or {})["sagabridge.activation.reason"] == "start"


def test_a_restart_keeps_the_trace() -> None:
    """Process 1 opens run and attempt and dies; process 2 (a new provider) records them."""
    before, after = InMemorySpanExporter(), InMemorySpanExporter()
    first = create_tracer_provider("orchestrator", exporters=[before], batch=False)
    with using(first):
        run = tracing.new_root_context()
        attempt = tracing.open_step_attempt(run)
        with tracing.activation_span(run, "Order", "wf-1", reason="start"):
            pass
    first.shutdown()
    stored_run, stored_attempt = dict(run), dict(attempt)  # what RocksDB/changelog hold across the restart

    second = create_tracer_provider("orchestrator", exporters=[after], batch=False)
    with using(second):
        tracing.close_step_attempt(
            stored_attempt,
            step_name="charge",
            workflow_type="Order",
            workflow_id="wf-1",
            topic="payments.commands",
            attempt_no=1,
            command_id="c",
            outcome="failure",
            error_type="PaymentDeclined",
            error_message="card expired",
        )
        tracing.close_run(
            stored_run, workflow_type="Order", workflow_id="wf-1", status="compensated", error_type="PaymentDeclined"
        )
    spans = [*before.get_finished_spans(), *after.get_finished_spans()]
    second.shutdown()
    assert [s.name for s in spans] == ["workflow.activate Order", "step charge", "workflow Order"]
    assert {s.context.trace_id for s in spans} == {_ids(stored_run)[0]}
    assert spans[2].context.span_id == _ids(stored_run)[1]
    step = next(s for s in spans if s.name == "step charge")
    assert step.status.status_code is StatusCode.ERROR
    assert (step.attributes or {})["error.type"] == "PaymentDeclined"
    assert (step.attributes or {})["sagabridge.step.outcome"] == "failure"


def test_malformed_or_empty_carriers_are_skipped(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    for carrier in (
        {},
        None,
        {"traceparent": "junk"},
        {**CLIENT, "sb-start-ns": "yesterday"},
        {**CLIENT, "sb-parent-span-id": "zz"},
    ):
        tracing.close_deferred_span(carrier, "x")
    assert exporter.get_finished_spans() == ()
    assert tracing.deferred_start_ns({**CLIENT, "sb-start-ns": "42"}) == 42
    assert tracing.deferred_start_ns({}) is None


def test_unsampled_root_records_nothing_below_it(exporter: InMemorySpanExporter) -> None:
    tp = create_tracer_provider("orchestrator", exporters=[exporter], batch=False, sampler=ALWAYS_OFF)
    with using(tp):
        run = tracing.new_root_context()
        assert run["traceparent"].endswith("-02")  # not sampled; still propagated
        assert tracing.inject_headers(run)  # services see the (unsampled) decision
        attempt = tracing.open_step_attempt(run)
        with tracing.activation_span(run, "Order", "wf", reason="start"):
            pass
        tracing.close_step_attempt(
            attempt,
            step_name="s",
            workflow_type="Order",
            workflow_id="wf",
            topic="t",
            attempt_no=1,
            command_id="c",
            outcome="success",
        )
        tracing.close_run(run, workflow_type="Order", workflow_id="wf", status="completed")
    assert exporter.get_finished_spans() == ()


def test_ratio_sampling_decides_the_same_at_open_and_close(exporter: InMemorySpanExporter) -> None:
    tp = create_tracer_provider("o", exporters=[exporter], batch=False, sampler=ParentBased(TraceIdRatioBased(0.5)))
    with using(tp):
        runs = [tracing.new_root_context() for _ in range(200)]
        for run in runs:
            tracing.close_run(run, workflow_type="T", workflow_id="w", status="completed")
    sampled = {_ids(r)[0] for r in runs if r["traceparent"].endswith("-03")}
    assert 0 < len(sampled) < 200
    assert {s.context.trace_id for s in exporter.get_finished_spans()} == sampled


def test_start_span_at_records_explicit_times(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    span = tracing.start_span_at("wait approval", CLIENT, 10, kind=SpanKind.INTERNAL, attributes={"k": "v"})
    tracing.end_span_at(span, 20, error_type="timeout")
    (done,) = exporter.get_finished_spans()
    assert (done.start_time, done.end_time) == (10, 20)
    assert done.status.status_code is StatusCode.ERROR
    assert done.parent is not None and format(done.parent.span_id, "016x") == "b7ad6b7169203331"
