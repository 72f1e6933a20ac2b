"""PendingSpans: spans of a checkpoint are recorded on commit, dropped on abort."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator import tracing


def _queue_one_activation(pending: tracing.PendingSpans, run: dict[str, str]) -> None:
    pending.defer(
        tracing.record_activation,
        run,
        "Order",
        "wf-1",
        reason="reply",
        start_ns=100,
        end_ns=200,
        record_headers=[("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")],
    )


def test_commit_records_with_the_work_times(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    pending = tracing.PendingSpans()
    run = tracing.new_root_context()
    _queue_one_activation(pending, run)
    pending.defer(tracing.close_run, run, workflow_type="Order", workflow_id="wf-1", status="completed", end_ns=300)
    assert exporter.get_finished_spans() == ()
    assert pending.commit() == 2
    activation, run_span = exporter.get_finished_spans()
    assert (activation.start_time, activation.end_time) == (100, 200)
    assert activation.parent is not None and activation.parent.span_id == run_span.context.span_id
    assert format(activation.links[0].context.span_id, "016x") == "b7ad6b7169203331"
    assert len(pending) == 0


def test_abort_drops_and_a_failing_recording_does_not_stop_the_rest(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    pending = tracing.PendingSpans()
    run = tracing.new_root_context()
    _queue_one_activation(pending, run)
    pending.abort()
    assert pending.commit() == 0

    def broken() -> None:
        raise RuntimeError("bug in a span attribute builder")

    pending.defer(broken)
    _queue_one_activation(pending, run)
    assert pending.commit() == 2
    assert [s.name for s in exporter.get_finished_spans()] == ["workflow.activate Order"]


def test_nothing_is_queued_when_tracing_is_off() -> None:
    pending = tracing.PendingSpans()
    _queue_one_activation(pending, {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    assert len(pending) == 0
