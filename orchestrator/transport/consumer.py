"""Typed consumers: the group-subscribed inbox consumer and helpers shared by readers.

All consumers read with isolation.level=read_committed: an aborted checkpoint must never be
seen by anyone (docs/design.md §5).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, Consumer, KafkaError, Message, TopicPartition

from orchestrator.transport.kafka_clients import consumer_config
from orchestrator.transport.records import InboundRecord

PartitionCallback = Callable[[list[int]], None]


def to_inbound(msg: Message) -> InboundRecord:
    headers: list[tuple[str, Any]] = list(msg.headers() or [])  # type: ignore[arg-type]
    timestamp = msg.timestamp()
    return InboundRecord(
        topic=msg.topic() or "",
        partition=msg.partition() or 0,
        offset=msg.offset() or 0,
        key=msg.key() if isinstance(msg.key(), bytes) else None,
        value=msg.value() if isinstance(msg.value(), bytes) else None,
        headers=tuple((k, v if isinstance(v, bytes) else b"") for k, v in headers),
        timestamp_ms=timestamp[1] if timestamp else 0,
    )


def consume_available(consumer: Consumer, max_records: int, timeout_s: float) -> list[Message]:
    """Up to `max_records` messages, returning as soon as one is there (or empty after `timeout_s`).

    `Consumer.consume(n, timeout)` waits out the whole timeout unless n messages arrive, which
    puts a full poll timeout into every step's latency below saturation. So: take what is already
    fetched; if nothing, wait for the first message only, then drain without waiting.
    """
    messages = consumer.consume(max_records, 0)
    if messages or timeout_s <= 0:
        return messages
    first = consumer.poll(timeout_s)
    if first is None:
        return []
    return [first, *consumer.consume(max_records - 1, 0)] if max_records > 1 else [first]


def records_of(messages: list[Message]) -> tuple[list[InboundRecord], KafkaError | None]:
    """The records of a consume() batch, and the last real error in it (partition EOFs are not)."""
    records, last_error = [], None
    for msg in messages:
        error = msg.error()
        if error is None:
            records.append(to_inbound(msg))
        elif error.code() != KafkaError._PARTITION_EOF:
            last_error = error
    return records, last_error


class InboxConsumer:
    """The orchestrator's subscribed consumer; offsets are committed through the producer's transaction."""

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        topic: str,
        on_assign: PartitionCallback,
        on_revoke: PartitionCallback,
        on_lost: PartitionCallback,
        extra_config: Mapping[str, str] | None = None,
    ) -> None:
        config = consumer_config(
            bootstrap_servers, extra_config, group_id=group_id, defaults={"max.poll.interval.ms": "600000"}
        )
        self.topic = topic
        self._consumer = Consumer(config)
        self._callbacks = (on_assign, on_revoke, on_lost)
        self._consumer.subscribe(
            [topic],
            on_assign=lambda _c, parts: on_assign([p.partition for p in parts]),
            on_revoke=lambda _c, parts: on_revoke([p.partition for p in parts]),
            on_lost=lambda _c, parts: on_lost([p.partition for p in parts]),
        )

    def poll_batch(self, max_records: int, timeout_s: float) -> list[InboundRecord]:
        records, error = records_of(consume_available(self._consumer, max_records, timeout_s))
        if error is not None:
            self.last_error = error
        return records

    def group_metadata(self) -> object:
        return self._consumer.consumer_group_metadata()

    def offsets(self, positions: Mapping[int, int]) -> list[TopicPartition]:
        return [TopicPartition(self.topic, p, o) for p, o in sorted(positions.items())]

    def committed_positions(self, partitions: Sequence[int], timeout_s: float = 10.0) -> dict[int, int]:
        """The group's committed next offsets; partitions without a commit are absent."""
        tps = [TopicPartition(self.topic, p) for p in partitions]
        return {tp.partition: tp.offset for tp in self._consumer.committed(tps, timeout=timeout_s) if tp.offset >= 0}

    def rewind(self, partitions: Sequence[int], positions: Mapping[int, int]) -> None:
        """Seek to our last committed position (or the group's, or the beginning)."""
        unknown = [TopicPartition(self.topic, p) for p in partitions if p not in positions]
        committed = self._consumer.committed(unknown, timeout=10) if unknown else []
        from_group = {tp.partition: tp.offset for tp in committed}
        for p in partitions:
            offset = positions.get(p, from_group.get(p, OFFSET_INVALID))
            if offset < 0:
                offset = OFFSET_BEGINNING
            self._consumer.seek(TopicPartition(self.topic, p, offset))

    def close(self) -> None:
        self._consumer.close()
