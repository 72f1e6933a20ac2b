"""Bad input never stops a consuming loop: it lands in the DLQ untouched, with reasons (real broker)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from orchestrator.errors import UnknownSchemaError
from orchestrator.serialization import FRAMINGS, AvroSerde, DecodedRecord, Framing, make_serde
from orchestrator.transport.consumer import to_inbound
from orchestrator.transport.dlq import dead_letter, decode_or_dead_letter
from orchestrator.transport.kafka_clients import new_consumer
from orchestrator.transport.records import InboundRecord, OutboundRecord
from tests.serialization.helpers import CHARGE, REPO

MAX_BYTES = 2048


def charge(i: int, order_id: str | None = None) -> dict[str, object]:
    return {"order_id": order_id or f"o-{i}", "customer_id": f"c-{i}", "amount_cents": 100 + i, "currency": "EUR"}


def test_dead_letter_keeps_the_original_and_appends_reason_headers() -> None:
    source = InboundRecord("in", 3, 42, b"k", b"\x01\x02", (("h", b"v"),))
    out = dead_letter(source, "app.dlq", UnknownSchemaError("fingerprint 00"))
    assert (out.topic, out.key, out.value, out.headers[0]) == ("app.dlq", b"k", b"\x01\x02", ("h", b"v"))
    assert out.header("sb-dlq-reason") == "unknown-schema"
    assert (
        out.header("sb-dlq-source-topic"),
        out.header("sb-dlq-source-partition"),
        out.header("sb-dlq-source-offset"),
    ) == ("in", "3", "42")
    assert out.header("sb-dlq-error") == "UnknownSchemaError: fingerprint 00"
    assert dead_letter(source, "d", RuntimeError("x" * 5000)).header("sb-dlq-reason") == "processing-error"


def bad_records(
    serde: AvroSerde, other: AvroSerde, big: AvroSerde, framing: str
) -> dict[str, tuple[str, bytes | None]]:
    """kind -> (expected sb-dlq-reason, value bytes) for every kind of bad input."""
    good = serde.encode(CHARGE, charge(0))
    header = 10 if framing == "single-object" else 5
    unknown = (b"\xc3\x01" + b"\xee" * 8 if framing == "single-object" else b"\x00\x7f\xff\xff\xf0") + good[header:]
    return {
        "garbage": ("malformed", os.urandom(40)),
        "truncated": ("malformed", good[:-3]),
        "other-framing": ("malformed", other.encode(CHARGE, charge(0))),
        "tombstone": ("malformed", None),
        "unknown-schema": ("unknown-schema", unknown),
        "wrong-type": (
            "wrong-record-type",
            serde.encode(
                "sagabridge.demo.orders.OrderPlaced",
                {"order_id": "o", "customer_id": "c", "sku": "s", "quantity": 1, "amount_cents": 1, "currency": "E"},
            ),
        ),
        "too-large": ("too-large", big.encode(CHARGE, charge(0, "x" * 4000))),
    }


def consume(bootstrap: str, topic: str, count: int, timeout_s: float = 60.0) -> list[InboundRecord]:
    consumer = new_consumer(bootstrap, f"g-{topic}")
    consumer.subscribe([topic])
    records: list[InboundRecord] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < count and time.monotonic() < deadline:
            records += [to_inbound(m) for m in consumer.consume(100, 0.5) if m.error() is None]
    finally:
        consumer.close()
    return records


@pytest.mark.parametrize("framing", FRAMINGS)
def test_n_good_and_m_bad_of_each_kind_in_n_processed_and_m_dead_lettered_out(
    framing: Framing, kafka_bootstrap: str, schema_registry_url: str, topic_factory: Callable[..., str]
) -> None:
    source, dlq = topic_factory("dlq-src"), topic_factory("dlq-out")
    serde = make_serde(framing, REPO, schema_registry_url, max_record_bytes=MAX_BYTES)
    big = make_serde(framing, REPO, schema_registry_url, max_record_bytes=10 * MAX_BYTES)
    other = make_serde("confluent" if framing == "single-object" else "single-object", REPO, schema_registry_url)
    bad = bad_records(serde, other, big, framing)
    n_good, m_each = 12, 2
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    sent_bad: dict[tuple[str, int], bytes | None] = {}
    produced = 0
    for i in range(n_good):  # bad records between good ones: the loop must carry on after each
        producer.produce(
            source, key=f"wf-{i}".encode(), value=serde.encode(CHARGE, charge(i)), headers=[("kind", b"good")]
        )
        produced += 1
        if i < m_each:
            for kind, (_, value) in bad.items():
                producer.produce(
                    source,
                    key=f"bad-{kind}-{i}".encode(),
                    value=value,
                    headers=[("kind", kind.encode()), ("trace", b"\x00\xff")],
                )
                sent_bad[(kind, i)] = value
                produced += 1
    assert producer.flush(30) == 0

    processed: list[dict[str, object]] = []
    dead: list[OutboundRecord] = []
    for record in consume(kafka_bootstrap, source, produced):  # the consuming loop under test
        outcome = decode_or_dead_letter(serde, record, dlq, CHARGE)
        if isinstance(outcome, DecodedRecord):
            processed.append(outcome.value)
        else:
            dead.append(outcome)
            producer.produce(outcome.topic, key=outcome.key, value=outcome.value, headers=list(outcome.headers))
    assert producer.flush(30) == 0

    assert processed == [charge(i) for i in range(n_good)]
    dlq_records = consume(kafka_bootstrap, dlq, len(bad) * m_each)
    assert len(dlq_records) == len(dead) == len(bad) * m_each
    for record in dlq_records:
        kind = record.header("kind") or ""
        i = int((record.key or b"").decode().rsplit("-", 1)[1])
        assert record.header("sb-dlq-reason") == bad[kind][0], (kind, record.header("sb-dlq-error"))
        assert record.value == sent_bad[(kind, i)]  # original bytes untouched
        assert record.headers[:2] == (("kind", kind.encode()), ("trace", b"\x00\xff"))
        assert record.header("sb-dlq-source-topic") == source
        assert record.header("sb-dlq-source-partition") == "0"
    offsets = sorted(int(r.header("sb-dlq-source-offset") or -1) for r in dlq_records)
    assert len(set(offsets)) == len(offsets) and offsets[-1] < produced
