"""A saga with a retry, a restart and a compensation is one trace with the right tree (real broker)."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from tests.tracing.sagasim import run_saga


def test_saga_with_retry_restart_and_compensation_is_one_trace(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    saga = run_saga(kafka_bootstrap, topic_factory)
    spans, topics, inbox = saga.spans, saga.topics, saga.inbox
    by_id = {s.context.span_id: s for s in spans}
    assert len(by_id) == len(spans)

    # one trace, every participant in it, no span whose parent is missing except the caller's root
    assert {format(s.context.trace_id, "032x") for s in spans} == {saga.trace_id}
    assert {_service(s) for s in spans} == {"shop-api", "orchestrator", "inventory", "payments", "shipping"}
    orphans = [s.name for s in spans if s.parent is not None and s.parent.span_id not in by_id]
    assert orphans == []

    run = _one(spans, "workflow Order")
    assert _parent(run, by_id).name == "POST /orders"
    assert run.status.status_code is StatusCode.ERROR and (run.attributes or {})["error.type"] == "AddressRejected"

    attempts = [s for s in spans if s.kind is SpanKind.PRODUCER and _service(s) == "orchestrator"]
    assert sorted(s.name for s in attempts) == sorted(
        ["step reserve", "step charge", "step charge", "step ship", "compensate refund", "compensate release"]
    )
    for attempt in attempts:
        assert attempt.parent is not None and attempt.parent.span_id == run.context.span_id
        (handler,) = [s for s in spans if s.parent is not None and s.parent.span_id == attempt.context.span_id]
        assert handler.kind is SpanKind.CONSUMER and handler.name.startswith("process ")
        assert _attr(handler, "messaging.destination.name") == _attr(attempt, "messaging.destination.name")
        assert topics[_service(handler)] == _attr(handler, "messaging.destination.name")
        (reply,) = [s for s in spans if s.parent is not None and s.parent.span_id == handler.context.span_id]
        assert (reply.kind, reply.name) == (SpanKind.PRODUCER, f"send {inbox}")
        assert attempt.end_time is not None and reply.end_time is not None and attempt.end_time >= reply.end_time

    charges = sorted(
        (s for s in attempts if s.name == "step charge"), key=lambda s: str(_attr(s, "sagabridge.step.attempt"))
    )
    assert [c.status.status_code for c in charges] == [StatusCode.ERROR, StatusCode.UNSET]
    assert _attr(charges[0], "error.type") == "GatewayTimeout"
    assert _attr(_one(spans, "step ship"), "error.type") == "AddressRejected"
    assert all(_attr(s, "sagabridge.step.compensation") for s in attempts if s.name.startswith("compensate"))

    timer = _one(spans, "timer retry charge")
    assert timer.parent is not None and timer.parent.span_id == run.context.span_id

    activations = [s for s in spans if s.name == "workflow.activate Order"]
    assert len(activations) == 1 + 6 + 1  # start, six replies, one timer
    assert all(a.parent is not None and a.parent.span_id == run.context.span_id for a in activations)
    reply_sends = {s.context.span_id for s in spans if s.kind is SpanKind.PRODUCER and _service(s) != "orchestrator"}
    linked = {link.context.span_id for a in activations for link in a.links}
    assert linked == reply_sends  # every consumed reply is linked from the activation that handled it


def _service(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


def _attr(span: ReadableSpan, name: str) -> object:
    return (span.attributes or {})[name]


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    (found,) = [s for s in spans if s.name == name]
    return found


def _parent(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None
    return by_id[span.parent.span_id]
