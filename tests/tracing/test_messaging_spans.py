"""Kafka span helpers: semconv names/values, kinds, parent/child and links."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes import messaging_attributes as semconv
from opentelemetry.trace import SpanKind, StatusCode

from orchestrator.tracing import (
    attributes as attr,
)
from orchestrator.tracing import (
    child_span,
    consumer_span,
    inject_headers,
    process_span,
    producer_span,
    receive_span,
)


class PaymentDeclined(Exception):
    pass


def test_attribute_names_match_the_installed_semantic_conventions() -> None:
    for name in (
        "MESSAGING_SYSTEM",
        "MESSAGING_DESTINATION_NAME",
        "MESSAGING_DESTINATION_PARTITION_ID",
        "MESSAGING_OPERATION_TYPE",
        "MESSAGING_OPERATION_NAME",
        "MESSAGING_CONSUMER_GROUP_NAME",
        "MESSAGING_CLIENT_ID",
        "MESSAGING_MESSAGE_ID",
        "MESSAGING_MESSAGE_BODY_SIZE",
        "MESSAGING_BATCH_MESSAGE_COUNT",
        "MESSAGING_KAFKA_MESSAGE_KEY",
        "MESSAGING_KAFKA_OFFSET",
        "MESSAGING_KAFKA_MESSAGE_TOMBSTONE",
    ):
        assert getattr(attr, name) == getattr(semconv, name), name
    ops = semconv.MessagingOperationTypeValues
    assert (ops.SEND.value, ops.RECEIVE.value, ops.PROCESS.value) == (attr.OP_SEND, attr.OP_RECEIVE, attr.OP_PROCESS)
    assert semconv.MessagingSystemValues.KAFKA.value == attr.SYSTEM_KAFKA


def test_producer_span_attributes(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    with producer_span("payments.commands", key=b"wf-1", partition=2, message_id="cmd-1/1", body_size=42):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.name == "send payments.commands"
    assert span.kind is SpanKind.PRODUCER
    assert dict(span.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.destination.name": "payments.commands",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.kafka.message.key": "wf-1",
        "messaging.destination.partition.id": "2",
        "messaging.message.id": "cmd-1/1",
        "messaging.message.body.size": 42,
    }


def test_binary_or_null_keys_are_not_recorded(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    with producer_span("t", key=b"\xff\x00"):
        pass
    with producer_span("t", key=None):
        pass
    for span in exporter.get_finished_spans():
        assert "messaging.kafka.message.key" not in (span.attributes or {})


def test_process_span_continues_the_producers_trace(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    with producer_span("inventory.commands", key="wf-7") as sent:
        headers = inject_headers(sent)
    with (
        process_span("inventory.commands", headers=headers, group="inventory", key=b"wf-7", partition=0, offset=17),
        child_span("reserve stock"),
    ):
        pass
    produced, inner, processed = exporter.get_finished_spans()
    assert processed.kind is SpanKind.CONSUMER
    assert processed.name == "process inventory.commands"
    assert processed.context.trace_id == produced.context.trace_id
    assert processed.parent is not None and processed.parent.span_id == produced.context.span_id
    assert inner.parent is not None and inner.parent.span_id == processed.context.span_id
    attrs = dict(processed.attributes or {})
    assert attrs["messaging.operation.type"] == "process"
    assert attrs["messaging.consumer.group.name"] == "inventory"
    assert attrs["messaging.kafka.offset"] == 17
    assert attrs["messaging.destination.partition.id"] == "0"
    assert attrs["messaging.kafka.message.key"] == "wf-7"


def test_process_span_with_own_parent_links_the_producer(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with producer_span("orders.inbox") as reply:
        headers = inject_headers(reply)
    with child_span("workflow run") as run:
        run_headers = inject_headers(run)
    with process_span("orders.inbox", headers=headers, parent=dict((k, v.decode()) for k, v in run_headers)):
        pass
    processed = exporter.get_finished_spans()[-1]
    assert processed.parent is not None and processed.parent.span_id == run.get_span_context().span_id
    assert [link.context.span_id for link in processed.links] == [reply.get_span_context().span_id]


def test_process_span_without_trace_headers_starts_a_new_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with child_span("unrelated current span"), consumer_span("t", headers=[("traceparent", b"junk")]):
        pass
    processed, outer = exporter.get_finished_spans()
    assert processed.parent is None
    assert processed.context.trace_id != outer.context.trace_id


def test_receive_span_is_a_client_span_with_links(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    with producer_span("t") as a:
        pass
    with receive_span("t", group="g", count=3, links=[a]):
        pass
    received = exporter.get_finished_spans()[-1]
    assert received.kind is SpanKind.CLIENT
    assert received.name == "poll t"
    assert (received.attributes or {})["messaging.batch.message_count"] == 3
    assert (received.attributes or {})["messaging.operation.type"] == "receive"
    assert received.links[0].context.span_id == a.get_span_context().span_id


def test_exception_marks_the_span_failed_and_propagates(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(PaymentDeclined), process_span("payments.commands"):
        raise PaymentDeclined("card expired")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "PaymentDeclined"
    assert [e.name for e in span.events] == ["exception"]
