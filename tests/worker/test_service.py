"""The worker SDK against the real broker: replies, error mapping, dedupe, DLQ, shutdown."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from examples.orders.models.payments import ChargePayment, PaymentCharged
from orchestrator.errors import ConfigurationError
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.transport import header_names
from orchestrator.transport.consumer import to_inbound
from orchestrator.transport.records import InboundRecord, make_headers
from orchestrator.worker import CommandContext, NonRetryableError, RetryableError, Service
from tests.conftest import TopicFactory

serde = SingleObjectSerde(SchemaRepository())


class Declined(NonRetryableError):
    pass


class Flaky(RetryableError):
    pass


@pytest.fixture
def topics(topic_factory: TopicFactory) -> dict[str, str]:
    return {
        "commands": topic_factory("payments.commands"),
        "replies": topic_factory("inbox"),
        "dlq": topic_factory("dlq"),
    }


Running = tuple[Service, dict[str, int]]


@pytest.fixture
def running(kafka_bootstrap: str, topics: dict[str, str]) -> Iterator[Running]:
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


def _send(
    bootstrap: str,
    topic: str,
    reply_to: str,
    command_id: str,
    attempt: int,
    customer: str,
    *,
    traceparent: str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    attempt_header: bytes | None = None,
    cancel_requested: bool = False,
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    cmd = ChargePayment(order_id="o1", customer_id=customer, amount_cents=100, currency="EUR")
    producer.produce(
        topic,
        key=b"wf-1",
        value=serde.encode(cmd.avro_schema_name, cmd.to_avro()),
        headers=[
            (header_names.WORKFLOW_ID, b"wf-1"),
            (header_names.COMMAND_ID, command_id.encode()),
            (header_names.ATTEMPT, attempt_header if attempt_header is not None else str(attempt).encode()),
            (header_names.REPLY_TO, reply_to.encode()),
            (header_names.COMMAND_TYPE, cmd.avro_schema_name.encode()),
            (header_names.TRACEPARENT, traceparent.encode()),
            *([(header_names.CANCEL_REQUESTED, b"true")] if cancel_requested else []),
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


def test_success_reply_echoes_protocol_headers(kafka_bootstrap: str, topics: dict[str, str], running: Running) -> None:
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


def test_error_mapping_and_dedupe(kafka_bootstrap: str, topics: dict[str, str], running: Running) -> None:
    _service, calls = running

    def send(cid: str, attempt: int, customer: str) -> None:
        _send(kafka_bootstrap, topics["commands"], topics["replies"], cid, attempt, customer)

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
    running: Running,
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
    running: Running,
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


def test_a_replayed_outcome_echoes_the_attempt_it_answers(
    kafka_bootstrap: str, topics: dict[str, str], running: Running
) -> None:
    """Issue 14: the stored outcome answers a later delivery as that delivery's reply (its
    sb-attempt, its trace context), or the orchestrator would ignore it as late."""
    _service, calls = running

    def send(attempt: int, trace: str) -> None:
        _send(kafka_bootstrap, topics["commands"], topics["replies"], "c-dup", attempt, "declined", traceparent=trace)

    send(1, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    (first,) = _replies(kafka_bootstrap, topics["replies"], 1)
    send(3, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    second = _replies(kafka_bootstrap, topics["replies"], 2)[1]
    assert calls == {"c-dup": 1}
    assert (first.header(header_names.ATTEMPT), second.header(header_names.ATTEMPT)) == ("1", "3")
    assert second.header(header_names.COMMAND_ID) == "c-dup" and second.key == b"wf-1"
    for name in (
        header_names.REPLY_STATUS,
        header_names.ERROR_TYPE,
        header_names.ERROR_MESSAGE,
        header_names.RETRYABLE,
    ):
        assert second.header(name) == first.header(name), name
    assert second.value == first.value
    assert second.header(header_names.TRACEPARENT) == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_attempts_of_one_command_in_one_batch_run_one_after_the_other() -> None:
    """A backlog after an outage holds several attempts of a command id: the first executes, the
    others wait for its stored outcome instead of executing beside it."""
    service = Service("payments", "unused:9092", serde, concurrency=8)
    running_now: list[str] = []
    executed: list[int] = []

    @service.handler(ChargePayment)
    async def charge(cmd: ChargePayment, ctx: CommandContext) -> PaymentCharged:
        assert ctx.command_id not in running_now, "two attempts of one command ran concurrently"
        running_now.append(ctx.command_id)
        await asyncio.sleep(0.05)
        running_now.remove(ctx.command_id)
        executed.append(ctx.attempt)
        return PaymentCharged(payment_id=ctx.command_id, order_id=cmd.order_id, amount_cents=cmd.amount_cents)

    cmd = ChargePayment(order_id="o1", customer_id="c", amount_cents=1, currency="EUR")
    value = serde.encode(cmd.avro_schema_name, cmd.to_avro())

    def record(offset: int, command_id: str, attempt: int) -> InboundRecord:
        headers = {
            header_names.WORKFLOW_ID: "wf",
            header_names.COMMAND_ID: command_id,
            header_names.ATTEMPT: str(attempt),
            header_names.REPLY_TO: "inbox",
        }
        return InboundRecord("payments.commands", 0, offset, b"wf", value, make_headers(headers))

    batch = [record(0, "wf/1", 1), record(1, "wf/2", 1), record(2, "wf/1", 2), record(3, "wf/1", 3)]
    replies = asyncio.run(service._handle_batch(asyncio.Semaphore(8), batch))
    assert sorted(executed) == [1, 1]  # wf/1 once (attempt 1), wf/2 once
    attempts = [dict(r[3])[header_names.ATTEMPT] for r in replies if r is not None]
    assert attempts == [b"1", b"1", b"2", b"3"]
    assert len({r[2] for r in replies if r is not None and dict(r[3])[header_names.COMMAND_ID] == b"wf/1"}) == 1


def test_a_command_with_a_bad_attempt_header_is_dead_lettered(
    kafka_bootstrap: str,
    topics: dict[str, str],
    running: Running,
) -> None:
    _send(kafka_bootstrap, topics["commands"], topics["replies"], "c-bad", 1, "alice", attempt_header=b"first")
    (dead,) = _replies(kafka_bootstrap, topics["dlq"], 1)
    assert dead.header(header_names.DLQ_REASON) == "missing-protocol-headers"
    assert dead.header("sb-dlq-error") == "sb-attempt 'first' is not a positive integer"
    _send(kafka_bootstrap, topics["commands"], topics["replies"], "after", 1, "alice")
    (reply,) = _replies(kafka_bootstrap, topics["replies"], 1)
    assert reply.header(header_names.REPLY_STATUS) == "success"


def test_a_command_flagged_cancel_requested_is_declined_unless_it_already_ran(
    kafka_bootstrap: str,
    topics: dict[str, str],
    running: Running,
) -> None:
    service, calls = running

    def send(cid: str, attempt: int, flagged: bool) -> None:
        _send(kafka_bootstrap, topics["commands"], topics["replies"], cid, attempt, "alice", cancel_requested=flagged)

    send("c-ran", 1, False)
    send("c-ran", 2, True)  # it ran: the stored success answers, the workflow compensates it
    send("c-new", 2, True)  # it did not: declined, never executed...
    send("c-new", 1, False)  # ...not even when an older attempt shows up afterwards
    replies = _replies(kafka_bootstrap, topics["replies"], 4)
    got = [
        (
            r.header(header_names.COMMAND_ID),
            r.header(header_names.ATTEMPT),
            r.header(header_names.REPLY_STATUS),
            r.header(header_names.ERROR_TYPE),
        )
        for r in replies
    ]
    assert got == [
        ("c-ran", "1", "success", None),
        ("c-ran", "2", "success", None),
        ("c-new", "2", "failure", "WorkflowCancelled"),
        ("c-new", "1", "failure", "WorkflowCancelled"),
    ]
    assert replies[2].header(header_names.RETRYABLE) == "false"
    assert calls == {"c-ran": 1}
    assert service.stats.declined == 1


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"command_topic": "payments commands"}, "Service(command_topic)"),
        ({"dlq_topic": ""}, "Service(dlq_topic)"),
        ({"concurrency": 0}, "Service(concurrency)"),
        ({"dedupe_capacity": 0}, "Service(dedupe_capacity)"),
        ({"extra_config": {"no.such.property": "1"}}, "Service(extra_config)"),
    ],
)
def test_bad_service_settings_fail_at_construction(kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        Service("payments", "127.0.0.1:9092", serde, **kwargs)  # type: ignore[arg-type]
    assert err.value.setting == param and "Fix:" in str(err.value)
    assert Service("payments", "127.0.0.1:9092", serde).command_topic == "payments.commands"
