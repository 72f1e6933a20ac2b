"""Our partition function agrees with the broker-side placement of librdkafka's murmur2_random."""

from __future__ import annotations

from confluent_kafka import Producer

from orchestrator.transport.partitioning import PRODUCER_PARTITIONER, murmur2, partition_for
from tests.conftest import TopicFactory


def test_murmur2_matches_kafka_reference_vectors() -> None:
    # Values from Kafka's UtilsTest.testMurmur2.
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert murmur2(b"a-little-bit-longer-string") == -1486304829
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert murmur2(b"abc") == 479470107


def test_partition_for_predicts_where_the_producer_puts_keys(kafka_bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory("murmur", partitions=7)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, **PRODUCER_PARTITIONER})
    placed: dict[bytes, int] = {}

    def record(err, msg) -> None:  # type: ignore[no-untyped-def]
        assert err is None
        placed[msg.key()] = msg.partition()

    keys = [f"order-{i}".encode() for i in range(200)]
    for key in keys:
        producer.produce(topic, key=key, value=b"x", on_delivery=record)
    producer.flush(10)
    assert {k: partition_for(k, 7) for k in keys} == placed
