"""The worker SDK against the real broker: replies, error mapping, dedupe, DLQ, shutdown."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from orchestrator.models.demo.payments import ChargePayment, PaymentCharged
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.transport import header_names
from orchestrator.transport.consumer import to_inbound
from orchestrator.transport.records import InboundRecord
from orchestrator.worker import CommandContext, NonRetryableError, RetryableError, Service

serde = SingleObjectSerde(SchemaRepository())


class Declined(NonRetryableError):
    pass


class Flaky(RetryableError):
    pass


@pytest.fixture
def topics(topic_factory) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        "commands": topic_factory("payments.commands"),
        "replies": topic_factory("inbox"),
        "dlq": topic_factory("dlq"),
    }


@pytest.fixture
def running(kafka_bootstrap: str, topics: dict[str, str]) -> Iterator[tuple[Service, dict[str, int]]]:
    calls: dict[str, int] = {}
    service = Service(
        "payments",
        kafka_bootstrap,
        serde,
        command_topic=topics["commands"],
        group_id=f"g-{uuid.uuid4().hex}",
        concurrency=4,
        dlq_topic=topics["dlq"],
    )

    @service.handler(ChargePayment)
    def charge(cmd: ChargePayment, ctx: CommandContext) -> PaymentCharged:  # a sync handler
        calls[ctx.command_id] = calls.get(ctx.command_id, 0) + 1
        if cmd.customer_id == "declined":
            raise Declined("card declined")
        if cmd.customer_id == "flaky" and ctx.attempt == 1:
            raise Flaky("try again")
        if cmd.customer_id == "boom":
            raise ValueError("unexpected")  # unclassified: retryable by default
        return PaymentCharged(payment_id=f"p-{ctx.command_id}", order_id=cmd.order_id, amount_cents=cmd.amount_cents)

    thread = threading.Thread(target=service.run, kwargs={"poll_timeout_s": 0.2}, daemon=True)
    thread.start()
    yield service, calls
    service.stop()
    thread.join(15)
    assert not thread.is_alive(), "service did not stop gracefully"


def _send(bootstrap: str, topic: str, reply_to: str, command_id: str, attempt: int, customer: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    cmd = ChargePayment(order_id="o1", customer_id=customer, amount_cents=100, currency="EUR")
    producer.produce(
        topic,
        key=b"wf-1",
        value=serde.encode(cmd.avro_schema_name, cmd.to_avro()),
        headers=[
            (header_names.WORKFLOW_ID, b"wf-1"),
            (header_names.COMMAND_ID, command_id.encode()),
            (header_names.ATTEMPT, str(attempt).encode()),
            (header_names.REPLY_TO, reply_to.encode()),
            (header_names.COMMAND_TYPE, cmd.avro_schema_name.encode()),
            (header_names.TRACEPARENT, b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ],
    )
    producer.flush(10)


def _replies(bootstrap: str, topic: str, count: int, timeout_s: float = 30) -> list[InboundRecord]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex, "isolation.level": "read_committed"}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    out: list[InboundRecord] = []
    import time

    deadline = time.monotonic() + timeout_s
    while len(out) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            out.append(to_inbound(msg))
    consumer.close()
    return out


def test_success_reply_echoes_protocol_headers(kafka_bootstrap: str, topics: dict[str, str], running) -> None:  # type: ignore[no-untyped-def]
    _send(kafka_bootstrap, topics["commands"], topics["replies"], "wf-1/1", 1, "alice")
    (reply,) = _replies(kafka_bootstrap, topics["replies"], 1)
    assert reply.key == b"wf-1"
    assert reply.header(header_names.REPLY_STATUS) == "success"
    assert (
        reply.header(header_names.WORKFLOW_ID),
        reply.header(header_names.COMMAND_ID),
        reply.header(header_names.ATTEMPT),
    ) == ("wf-1", "wf-1/1", "1")
    assert reply.header(header_names.TRACEPARENT) is not None
    decoded = serde.decode(reply.value or b"")
    assert decoded.schema_name == "sagabridge.demo.payments.PaymentCharged"
    assert decoded.value["payment_id"] == "p-wf-1/1"


def test_error_mapping_and_dedupe(kafka_bootstrap: str, topics: dict[str, str], running) -> None:  # type: ignore[no-untyped-def]
    _service, calls = running
    send = lambda cid, attempt, customer: _send(  # noqa: E731
        kafka_bootstrap, topics["commands"], topics["replies"], cid, attempt, customer
    )
    send("c-declined", 1, "declined")
    send("c-flaky", 1, "flaky")
    send("c-boom", 1, "boom")
    replies = _replies(kafka_bootstrap, topics["replies"], 3)
    by_id = {r.header(header_names.COMMAND_ID): r for r in replies}
    assert by_id["c-declined"].header(header_names.REPLY_STATUS) == "failure"
    assert by_id["c-declined"].header(header_names.ERROR_TYPE) == "Declined"
    assert by_id["c-declined"].header(header_names.RETRYABLE) == "false"
    assert by_id["c-flaky"].header(header_names.RETRYABLE) == "true"
    assert (
        by_id["c-boom"].header(header_names.RETRYABLE) == "true"
        and by_id["c-boom"].header(header_names.ERROR_TYPE) == "ValueError"
    )
    error = serde.decode(by_id["c-declined"].value or b"")
    assert error.schema_name == "sagabridge.protocol.StepError" and error.value["retryable"] is False

    # Redelivery of a settled command (permanent failure): answered from the store, not executed.
    send("c-declined", 1, "declined")
    # The retryable failure's next attempt executes again and now succeeds...
    send("c-flaky", 2, "flaky")
    more = _replies(kafka_bootstrap, topics["replies"], 5)[3:]
    assert {(r.header(header_names.COMMAND_ID), r.header(header_names.REPLY_STATUS)) for r in more} == {
        ("c-declined", "failure"),
        ("c-flaky", "success"),
    }
    # ...and a late duplicate of that success is answered from the store too.
    send("c-flaky", 1, "flaky")
    last = _replies(kafka_bootstrap, topics["replies"], 6)[5]
    assert last.header(header_names.REPLY_STATUS) == "success"
    assert calls == {"c-declined": 1, "c-flaky": 2, "c-boom": 1}


def test_record_without_protocol_headers_goes_to_dlq_and_service_keeps_running(
    kafka_bootstrap: str,
    topics: dict[str, str],
    running,  # type: ignore[no-untyped-def]
) -> None:
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(topics["commands"], key=b"x", value=b"\x00garbage")
    producer.flush(10)
    (dead,) = _replies(kafka_bootstrap, topics["dlq"], 1)
    assert dead.value == b"\x00garbage"
    assert dead.header(header_names.DLQ_REASON) == "missing-protocol-headers"
    assert dead.header(header_names.DLQ_SOURCE_TOPIC) == topics["commands"]
    _send(kafka_bootstrap, topics["commands"], topics["replies"], "after", 1, "alice")
    (reply,) = _replies(kafka_bootstrap, topics["replies"], 1)
    assert reply.header(header_names.REPLY_STATUS) == "success"


def test_undecodable_command_with_headers_gets_a_permanent_failure(
    kafka_bootstrap: str,
    topics: dict[str, str],
    running,  # type: ignore[no-untyped-def]
) -> None:
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(
        topics["commands"],
        key=b"wf-1",
        value=b"not avro",
        headers=[
            (header_names.WORKFLOW_ID, b"wf-1"),
            (header_names.COMMAND_ID, b"bad"),
            (header_names.ATTEMPT, b"1"),
            (header_names.REPLY_TO, topics["replies"].encode()),
        ],
    )
    producer.flush(10)
    (reply,) = _replies(kafka_bootstrap, topics["replies"], 1)
    assert reply.header(header_names.REPLY_STATUS) == "failure"
    assert reply.header(header_names.RETRYABLE) == "false"
    assert reply.header(header_names.ERROR_TYPE) == "UndecodableCommand"
