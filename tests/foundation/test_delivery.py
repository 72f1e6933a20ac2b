"""DeliveringProducer: success only once the broker acknowledged the caller's own records, and a
deadline that holds when there is no broker at all."""

from __future__ import annotations

import threading

import pytest

from orchestrator.devstack.processes import free_port
from orchestrator.errors import DeliveryError
from orchestrator.transport.delivery import DeliveringProducer
from orchestrator.transport.records import OutboundRecord
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
