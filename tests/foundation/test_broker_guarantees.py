"""Proof that the test broker is a real one: transactions are enforced, compaction is honoured."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

from tests.conftest import TopicFactory


def _read_all(bootstrap: str, topic: str, isolation: str) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"probe-{uuid.uuid4().hex}",
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        values: list[bytes] = []
        idle = 0
        while idle < 3:
            msg = consumer.poll(1.0)
            if msg is None:
                idle += 1
                continue
            assert msg.error() is None, msg.error()
            values.append(msg.value() or b"")
        return values
    finally:
        consumer.close()


def test_aborted_transaction_is_invisible_to_read_committed(kafka_bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory("txn")
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"probe-{topic}"})
    producer.init_transactions(30)

    producer.begin_transaction()
    producer.produce(topic, key=b"k", value=b"aborted")
    producer.flush(10)
    producer.abort_transaction(30)

    producer.begin_transaction()
    producer.produce(topic, key=b"k", value=b"committed")
    producer.commit_transaction(30)

    assert _read_all(kafka_bootstrap, topic, "read_committed") == [b"committed"]
    # A read_uncommitted reader sees the aborted record too: the broker really wrote it, and
    # only the transaction markers hide it. This is what makes the test able to fail.
    assert _read_all(kafka_bootstrap, topic, "read_uncommitted") == [b"aborted", b"committed"]


def test_zombie_producer_is_fenced_by_a_restart_with_the_same_transactional_id(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    from confluent_kafka import KafkaException

    topic = topic_factory("fence")
    tid = f"instance-{topic}"
    zombie = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": tid})
    zombie.init_transactions(30)
    zombie.begin_transaction()
    zombie.produce(topic, value=b"zombie")
    zombie.flush(10)

    restarted = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": tid})
    restarted.init_transactions(30)  # bumps the epoch: the zombie's open transaction is aborted
    restarted.begin_transaction()
    restarted.produce(topic, value=b"restarted")
    restarted.commit_transaction(30)

    fenced = False
    try:
        zombie.commit_transaction(10)
    except KafkaException as exc:
        fenced = exc.args[0].fatal() or not exc.args[0].retriable()
    assert fenced
    assert _read_all(kafka_bootstrap, topic, "read_committed") == [b"restarted"]
