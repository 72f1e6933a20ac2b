"""The small Avro record every throughput case moves, and a fast way to fill a topic with it.

One schema for the ceiling and the peers, so a msgs/s figure always means the same bytes on the
wire (about 20 B of schemaless Avro body, keyed by one of `keys` entity ids).
"""

from __future__ import annotations

import io
import time
from typing import Any

import fastavro
from confluent_kafka import Producer

from benchmarks.errors import BenchmarkError
from orchestrator.transport.partitioning import PRODUCER_PARTITIONER

SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "BenchEvent",
    "namespace": "sagabridge.bench",
    "fields": [
        {"name": "entity", "type": "string"},
        {"name": "seq", "type": "long"},
        {"name": "amount_cents", "type": "long"},
        {"name": "currency", "type": "string"},
    ],
}
PARSED = fastavro.parse_schema(SCHEMA)
KEYS = 1_000


def key_of(i: int, keys: int = KEYS) -> bytes:
    return f"entity-{i % keys:06d}".encode()


def record(i: int, keys: int = KEYS) -> dict[str, Any]:
    return {"entity": key_of(i, keys).decode(), "seq": i, "amount_cents": 100 + i % 9_000, "currency": "EUR"}


def encode(value: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, PARSED, value)
    return buf.getvalue()


def decode(data: bytes) -> dict[str, Any]:
    value = fastavro.schemaless_reader(io.BytesIO(data), PARSED, None)
    if not isinstance(value, dict):
        raise BenchmarkError(f"expected a record, decoded {type(value).__name__}")
    return value


def producer_config(bootstrap: str) -> dict[str, Any]:
    """Throughput-leaning but durable: acks=all, idempotence, small linger, lz4 off (tiny records)."""
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 500_000,
        **PRODUCER_PARTITIONER,
    }


def produce_all(bootstrap: str, topic: str, count: int) -> float:
    """Produce `count` pre-encoded records and wait for every ack; returns records/s.

    Values are encoded before the clock starts (this is the transport's rate, not fastavro's),
    and the first record is sent and acknowledged untimed, so connection setup and the idempotent
    producer's id handshake are not in the figure.
    """
    values = [(key_of(i), encode(record(i))) for i in range(count)]
    producer = Producer(producer_config(bootstrap))
    failures: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    producer.produce(topic, values[0][1], values[0][0], on_delivery=on_delivery)
    producer.flush(30)
    started = time.perf_counter()
    for key, value in values[1:]:
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(120)
    seconds = time.perf_counter() - started
    if remaining or failures:
        raise BenchmarkError(f"producing to {topic}: {remaining} unflushed, {len(failures)} failed ({failures[:1]})")
    return (count - 1) / max(seconds, 1e-9)


def check(err: object) -> None:
    """Raise on a librdkafka error object from a consumed message."""
    if err is not None:
        raise BenchmarkError(f"consume error: {err}")
