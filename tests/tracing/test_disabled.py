"""Tracing off: every helper short-circuits, nothing is created, nothing is propagated."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import INVALID_SPAN

from orchestrator import tracing
from orchestrator.tracing.span_primitives import NOOP_SCOPE

VALID = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def _exercise_everything() -> None:
    assert not tracing.tracing_enabled()
    assert tracing.inject_headers() == []
    assert tracing.inject_headers(VALID) == []
    assert tracing.inject_carrier() == {}
    assert tracing.span_context_of(tracing.extract_context([("traceparent", VALID["traceparent"].encode())])) is None
    assert tracing.span_context_of(tracing.extract_carrier(VALID)) is None
    assert tracing.new_root_context() == {}
    assert tracing.open_deferred_span(VALID) == {}
    assert tracing.open_step_attempt(VALID) == {}
    for scope in (
        tracing.producer_span("t"),
        tracing.process_span("t", headers=[]),
        tracing.receive_span("t"),
        tracing.child_span("x"),
        tracing.activation_span(VALID, "Order", "wf", reason="start"),
    ):
        assert scope is NOOP_SCOPE
        with scope as span:
            assert span is INVALID_SPAN
    assert tracing.start_span_at("x", VALID, 1) is INVALID_SPAN
    tracing.close_deferred_span(VALID | {"sb-start-ns": "1"}, "x")
    tracing.close_step_attempt(
        VALID,
        step_name="s",
        workflow_type="T",
        workflow_id="w",
        topic="t",
        attempt_no=1,
        command_id="c",
        outcome="success",
    )
    tracing.record_wait(VALID, "timer", "t", workflow_type="T", workflow_id="w", start_ns=1)
    tracing.close_run(VALID, workflow_type="T", workflow_id="w", status="completed")
    assert tracing.flush_tracing()


def test_nothing_configured_means_off() -> None:
    assert tracing.setup_tracing("svc") is None
    _exercise_everything()


def test_suppressed_scope_records_nothing_even_with_a_provider(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """What the engine does around deterministic replay."""
    assert tracing.tracing_enabled()
    with tracing.suppressed():
        _exercise_everything()
    assert tracing.tracing_enabled()
    assert exporter.get_finished_spans() == ()


def test_sdk_disabled_wins_even_over_explicit_exporters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert tracing.setup_tracing("svc", exporters=[InMemorySpanExporter()]) is None
    _exercise_everything()


def test_exporter_none_means_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert tracing.setup_tracing("svc") is None
    _exercise_everything()
