"""Where a consumer group without committed offsets starts: the earliest offset, now, or a timestamp.

`auto.offset.reset` knows only earliest and latest, and applies per fetch, so "observe from
Monday 09:00" needs the offsets committed before the group first consumes. `start_group_at`
commits, for every partition the group has no offset for yet, the earliest offset, the log end,
or the first offset at or after a timestamp (`offsets_for_times`; the end when nothing is that
recent). Partitions that already have an offset keep it: a restart resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from confluent_kafka import Consumer, TopicPartition

from orchestrator.errors import TopicError
from orchestrator.transport.kafka_clients import consumer_config

TopicPartitionKey = tuple[str, int]


class GroupActiveError(TopicError):
    """The group has running members, so the broker refused a commit from outside it."""

    def __init__(self, group_id: str, detail: str) -> None:
        self.group_id = group_id
        super().__init__(f"consumer group {group_id!r} is running ({detail}): its members already chose their start")


class StartKind(StrEnum):
    EARLIEST = "earliest"
    LATEST = "latest"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class StartPosition:
    kind: StartKind
    timestamp_ms: int | None = None


def start_group_at(
    bootstrap_servers: str,
    group_id: str,
    topics: Sequence[str],
    start: StartPosition,
    extra_config: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
) -> dict[TopicPartitionKey, int]:
    """Commit start offsets for the partitions of `topics` the group has none for; returns them.

    The group must have no running members (the broker refuses commits from outside a live group).
    """
    consumer = Consumer(consumer_config(bootstrap_servers, extra_config, group_id=group_id))
    try:
        partitions: list[TopicPartition] = []
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
            if meta is None or meta.error is not None:
                raise TopicError(f"topic {topic!r} does not exist")
            partitions += [TopicPartition(topic, p) for p in meta.partitions]
        committed = consumer.committed(partitions, timeout=timeout_s)
        fresh = [TopicPartition(tp.topic, tp.partition) for tp in committed if tp.offset < 0]
        if not fresh:
            return {}
        chosen: dict[TopicPartitionKey, int] = {}
        if start.kind is StartKind.TIMESTAMP:
            assert start.timestamp_ms is not None
            asked = [TopicPartition(tp.topic, tp.partition, start.timestamp_ms) for tp in fresh]
            for tp in consumer.offsets_for_times(asked, timeout=timeout_s):
                if tp.offset < 0:  # nothing that recent: start at the end
                    _, high = consumer.get_watermark_offsets(tp, timeout=timeout_s, cached=False)
                    chosen[(tp.topic, tp.partition)] = int(high)
                else:
                    chosen[(tp.topic, tp.partition)] = int(tp.offset)
        else:
            for tp in fresh:
                low, high = consumer.get_watermark_offsets(tp, timeout=timeout_s, cached=False)
                chosen[(tp.topic, tp.partition)] = int(low if start.kind is StartKind.EARLIEST else high)
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in sorted(chosen.items())], asynchronous=False)
        return chosen
    finally:
        consumer.close()


__all__ = ["GroupActiveError", "StartKind", "StartPosition", "start_group_at"]
