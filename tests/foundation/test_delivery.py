"""DeliveringProducer: success only once the broker acknowledged the caller's own records, and a
deadline that holds when there is no broker at all; the topic reader's deadlines likewise."""

from __future__ import annotations

import threading
import time

import pytest

from orchestrator.devstack.processes import free_port
from orchestrator.errors import DeliveryError, TransportError
from orchestrator.transport.delivery import DeliveringProducer
from orchestrator.transport.records import OutboundRecord
from orchestrator.transport.tail import TopicTail
from tests.conftest import TopicFactory


def test_records_are_acknowledged_per_caller(kafka_bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory("delivery", partitions=2)
    producer = DeliveringProducer(kafka_bootstrap)
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            producer.send_all([OutboundRecord(topic, f"k{n}-{i}".encode(), b"v") for i in range(50)], timeout_s=60)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    producer.close()
    assert errors == []


def test_no_broker_means_delivery_error_at_the_deadline() -> None:
    producer = DeliveringProducer(f"127.0.0.1:{free_port()}", {"message.timeout.ms": "60000"})
    # "not acknowledged ... before the deadline": our deadline, not librdkafka's 60 s message timeout
    with pytest.raises(DeliveryError, match="not acknowledged by the broker before the deadline"):
        producer.send_all([OutboundRecord("nowhere", b"k", b"v")], timeout_s=1.0)


def test_a_flush_past_its_deadline_keeps_the_records_for_the_next_flush() -> None:
    producer = DeliveringProducer(f"127.0.0.1:{free_port()}", {"message.timeout.ms": "60000"})
    deadline = time.monotonic() + 30
    producer.queue(OutboundRecord("nowhere", b"k1", b"v"), deadline)
    producer.queue(OutboundRecord("nowhere", b"k2", b"v"), deadline)
    for _ in range(2):  # a caller flushing in a loop through an outage waits for the same records again
        with pytest.raises(DeliveryError, match="2 record"):
            producer.flush(time.monotonic() + 0.5)


def test_a_topic_reader_without_a_broker_fails_within_its_deadline() -> None:
    with TopicTail(f"127.0.0.1:{free_port()}", "nowhere", request_timeout_s=1.0) as tail:
        with pytest.raises(TransportError):
            tail.partitions()
        assert tail.poll(10, 0.2) == []  # nothing to read, but the call returns
