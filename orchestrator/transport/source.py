"""A group-subscribed consumer of several source topics whose offsets commit through a transaction.

The connector runtime (orchestrator/bridge/runtime.py) reads domain topics with it: positions are
per (topic, partition), handed to `send_offsets_to_transaction` together with what the records
produced, so each source record's effect is committed exactly once (read_committed, no auto
commit). Rebalance callbacks name (topic, partition) pairs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, Consumer, KafkaError, TopicPartition

from orchestrator.errors import TopicError, TransactionAbortableError
from orchestrator.transport.consumer import consume_available, records_of
from orchestrator.transport.kafka_clients import consumer_config
from orchestrator.transport.producer import TransactionalProducer
from orchestrator.transport.records import InboundRecord

TopicPartitionKey = tuple[str, int]
SourceCallback = Callable[[list[TopicPartitionKey]], None]


log = logging.getLogger(__name__)


class SourceConsumer:
    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        on_assign: SourceCallback,
        on_revoke: SourceCallback,
        on_lost: SourceCallback,
        extra_config: Mapping[str, str] | None = None,
    ) -> None:
        config = consumer_config(bootstrap_servers, {"max.poll.interval.ms": "300000", **(extra_config or {})})
        config["group.id"] = group_id
        self.group_id = group_id
        self.topics = list(topics)
        self.last_error: KafkaError | None = None
        self._consumer = Consumer(config)
        self._consumer.subscribe(
            self.topics,
            on_assign=lambda _c, parts: on_assign([(p.topic, p.partition) for p in parts]),
            on_revoke=lambda _c, parts: on_revoke([(p.topic, p.partition) for p in parts]),
            on_lost=lambda _c, parts: on_lost([(p.topic, p.partition) for p in parts]),
        )

    def poll_batch(self, max_records: int, timeout_s: float) -> list[InboundRecord]:
        records, error = records_of(consume_available(self._consumer, max_records, timeout_s))
        if error is not None:
            self.last_error = error
        return records

    def group_metadata(self) -> object:
        return self._consumer.consumer_group_metadata()

    @staticmethod
    def offsets(positions: Mapping[TopicPartitionKey, int]) -> list[TopicPartition]:
        return [TopicPartition(t, p, o) for (t, p), o in sorted(positions.items())]

    def committed(self, keys: Sequence[TopicPartitionKey], timeout_s: float = 10.0) -> dict[TopicPartitionKey, int]:
        """The group's committed next offsets; pairs without a commit are absent."""
        if not keys:
            return {}
        tps = [TopicPartition(t, p) for t, p in keys]
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in self._consumer.committed(tps, timeout=timeout_s)
            if tp.offset >= 0
        }

    def rewind(self, keys: Sequence[TopicPartitionKey], timeout_s: float = 10.0) -> None:
        """Seek back to the group's committed offsets (after an aborted transaction)."""
        assigned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        keys = [k for k in keys if k in assigned]  # revoked meanwhile: the next owner starts from the commit
        committed = self.committed(keys, timeout_s)
        for key in keys:
            offset = committed.get(key, OFFSET_INVALID)
            self._consumer.seek(TopicPartition(key[0], key[1], offset if offset >= 0 else OFFSET_BEGINNING))

    def close(self) -> None:
        self._consumer.close()


def abort_batch(
    producer: TransactionalProducer,
    consumer: SourceConsumer,
    positions: dict[TopicPartitionKey, int],
    forget: Callable[[], None],
) -> None:
    """Abort the batch's transaction, let the caller `forget` what it held for it, and rewind the
    consumer to the committed offsets, so the whole batch is read and written again (design.md §5).

    A failed abort is only logged: the next begin() fences or resets the transaction anyway."""
    try:
        producer.abort()
    except TransactionAbortableError as exc:
        log.warning("abort failed (%s)", exc)
    forget()
    keys = list(positions)
    positions.clear()
    consumer.rewind(keys)


def seek_group(
    bootstrap_servers: str,
    group_id: str,
    topics: Sequence[str],
    to_end: bool,
    extra_config: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
) -> dict[TopicPartitionKey, int]:
    """Commit the group's offsets at the end (or start) of every partition of `topics`.

    What `kafka-consumer-groups --reset-offsets` does, for a connector adopting a live
    choreography from now on. The group must have no running members (the broker refuses the
    commit of a group that is rebalancing or owned), so stop its connectors first.
    """
    config = consumer_config(bootstrap_servers, extra_config)
    config["group.id"] = group_id
    consumer = Consumer(config)
    try:
        positions: dict[TopicPartitionKey, int] = {}
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
            if meta is None or meta.error is not None:
                raise TopicError(f"topic {topic!r} does not exist")
            for p in meta.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s, cached=False)
                positions[(topic, p)] = int(high if to_end else low)
        if positions:
            consumer.commit(offsets=SourceConsumer.offsets(positions), asynchronous=False)
        return positions
    finally:
        consumer.close()


__all__ = ["SourceConsumer", "TopicPartitionKey", "seek_group"]
