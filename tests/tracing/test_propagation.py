"""W3C trace context through Kafka headers and the engine's dict carrier."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanContext

from orchestrator.tracing import (
    child_span,
    extract_carrier,
    extract_context,
    inject_carrier,
    inject_headers,
    span_context_of,
    trace_id_hex,
)
from orchestrator.transport.header_names import TRACEPARENT, TRACESTATE

VALID = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _sc(ctx: Context) -> SpanContext:
    found = span_context_of(ctx)
    assert found is not None
    return found


def test_headers_round_trip_keeps_trace_and_span_id(provider: TracerProvider) -> None:
    with child_span("work") as span:
        headers = inject_headers(span)
    assert [name for name, _ in headers] == [TRACEPARENT]
    assert all(isinstance(v, bytes) for _, v in headers)
    extracted = _sc(extract_context(headers))
    assert extracted.trace_id == span.get_span_context().trace_id
    assert extracted.span_id == span.get_span_context().span_id
    assert extracted.is_remote
    assert extracted.trace_flags == span.get_span_context().trace_flags
    assert extracted.trace_flags.sampled


def test_inject_defaults_to_the_current_span(provider: TracerProvider) -> None:
    with child_span("outer") as span:
        carrier = inject_carrier()
        ctx_carrier = inject_carrier(trace.set_span_in_context(span))
    assert carrier == ctx_carrier
    assert carrier[TRACEPARENT].split("-")[2] == format(span.get_span_context().span_id, "016x")


def test_dict_carrier_round_trip_and_tracestate(provider: TracerProvider) -> None:
    stored = {TRACEPARENT: VALID, TRACESTATE: "vendor=abc", "sb-start-ns": "1"}
    ctx = extract_carrier(stored)
    assert format(_sc(ctx).trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert inject_carrier(ctx) == {TRACEPARENT: VALID, TRACESTATE: "vendor=abc"}
    assert inject_carrier(stored) == {TRACEPARENT: VALID, TRACESTATE: "vendor=abc"}  # our keys stay private
    assert inject_headers(stored) == [(TRACEPARENT, VALID.encode()), (TRACESTATE, b"vendor=abc")]


def test_extract_accepts_str_values_and_last_header_wins(provider: TracerProvider) -> None:
    other = "00-11111111111111111111111111111111-2222222222222222-01"
    ctx = extract_context([(TRACEPARENT, VALID.encode()), ("sb-attempt", b"2"), (TRACEPARENT, other)])
    assert format(_sc(ctx).trace_id, "032x") == "1" * 32


def test_bad_headers_give_an_empty_context_never_an_error(provider: TracerProvider) -> None:
    for headers in (
        None,
        [],
        [(TRACEPARENT, None)],
        [(TRACEPARENT, b"\xff\xfe")],
        [(TRACEPARENT, b"garbage")],
        [(TRACEPARENT, b"00-00000000000000000000000000000000-b7ad6b7169203331-01")],  # all-zero trace id
        [(TRACESTATE, b"a=b")],
    ):
        assert span_context_of(extract_context(headers)) is None, headers
    assert span_context_of(extract_carrier({TRACEPARENT: "nope"})) is None
    assert span_context_of(extract_carrier(None)) is None


def test_trace_id_hex(provider: TracerProvider) -> None:
    assert trace_id_hex({TRACEPARENT: VALID}) == "0af7651916cd43dd8448eb211c80319c"
    assert trace_id_hex({}) is None
    with child_span("x") as span:
        assert trace_id_hex(span) == format(span.get_span_context().trace_id, "032x")


def test_extracted_context_parents_a_consumer_span(provider: TracerProvider) -> None:
    with child_span("child", parent=extract_context([(TRACEPARENT, VALID.encode())])) as span:
        pass
    assert format(span.get_span_context().trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent is not None and format(span.parent.span_id, "016x") == "b7ad6b7169203331"  # type: ignore[attr-defined]
