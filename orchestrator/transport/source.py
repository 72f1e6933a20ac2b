"""A group-subscribed consumer of several source topics whose offsets commit through a transaction.

The connector runtime (orchestrator/bridge/runtime.py) reads domain topics with it: positions are
per (topic, partition), handed to `send_offsets_to_transaction` together with what the records
produced, so each source record's effect is committed exactly once (read_committed, no auto
commit). Rebalance callbacks name (topic, partition) pairs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from orchestrator.errors import ConsumerFatalError, OffsetFetchError, TopicError, TransportError
from orchestrator.transport.consumer import GroupTiming, close_within, consume_available, split_batch
from orchestrator.transport.deadline import NO_WATCH, CallWatch, call_with_deadline
from orchestrator.transport.kafka_clients import consumer_config
from orchestrator.transport.records import InboundRecord

TopicPartitionKey = tuple[str, int]
# Our deadline over a call with a librdkafka timeout of its own: its error, when it honours it, wins.
DEADLINE_SLACK_S = 2.0
SourceCallback = Callable[[list[TopicPartitionKey]], None]


class SourceConsumer:
    """Every call that waits on the broker is bounded: polls, committed offsets, seeks and close are
    guarded by `watch` (a watchdog ends the process past deadline + grace, docs/operations.md),
    committed offsets also by librdkafka's own timeout, which it honours there."""

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        on_assign: SourceCallback,
        on_revoke: SourceCallback,
        on_lost: SourceCallback,
        extra_config: Mapping[str, str] | None = None,
        *,
        timing: GroupTiming | None = None,
        call_timeout_s: float = 10.0,
        watch: CallWatch = NO_WATCH,
    ) -> None:
        config = consumer_config(
            bootstrap_servers, extra_config, group_id=group_id, defaults=(timing or GroupTiming()).config()
        )
        self.group_id = group_id
        self.topics = list(topics)
        self.call_timeout_s = call_timeout_s
        self.last_error: KafkaError | None = None
        self._watch = watch
        self._consumer = Consumer(config)
        self._consumer.subscribe(
            self.topics,
            on_assign=lambda _c, parts: on_assign([(p.topic, p.partition) for p in parts]),
            on_revoke=lambda _c, parts: on_revoke([(p.topic, p.partition) for p in parts]),
            on_lost=lambda _c, parts: on_lost([(p.topic, p.partition) for p in parts]),
        )

    def poll_batch(self, max_records: int, timeout_s: float) -> list[InboundRecord]:
        """Records fetched so far, waiting at most `timeout_s` for the first one. Rebalance callbacks
        run inside this call and guard their own broker calls. A fatal error raises ConsumerFatalError."""
        with self._watch.guard("source consumer poll", timeout_s + self.call_timeout_s):
            batch = split_batch(consume_available(self._consumer, max_records, timeout_s))
        if batch.error is not None:
            self.last_error = batch.error
        if batch.fatal is not None:
            raise ConsumerFatalError(f"source consumer of group {self.group_id!r}: {batch.fatal.str()}")
        return batch.records

    def group_metadata(self) -> object:
        return self._consumer.consumer_group_metadata()

    @staticmethod
    def offsets(positions: Mapping[TopicPartitionKey, int]) -> list[TopicPartition]:
        return [TopicPartition(t, p, o) for (t, p), o in sorted(positions.items())]

    def assigned(self) -> list[TopicPartitionKey]:
        """The (topic, partition) pairs this member owns now (local: no broker call)."""
        return sorted((tp.topic, tp.partition) for tp in self._consumer.assignment())

    def committed(self, keys: Sequence[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        """The group's committed next offsets; pairs without a commit are absent.

        read_committed asks for stable offsets, so this waits for our own pending transaction to
        be decided. Raises OffsetFetchError when that takes past the call deadline.
        """
        if not keys:
            return {}
        tps = [TopicPartition(t, p) for t, p in keys]
        t = self.call_timeout_s
        try:
            with self._watch.guard("source consumer committed", t):
                committed = self._consumer.committed(tps, timeout=t)
        except KafkaException as exc:
            raise OffsetFetchError(f"committed offsets of group {self.group_id!r}: {exc.args[0]}") from exc
        return {(tp.topic, tp.partition): tp.offset for tp in committed if tp.offset >= 0}

    def rewind(self, committed: Mapping[TopicPartitionKey, int | None]) -> None:
        """Seek each pair to its committed position (None: nothing committed yet, the beginning).

        Nothing is asked of the broker. A pair no longer assigned (revoked meanwhile) is skipped:
        its next owner starts from the commit; one whose fetch has not started cannot be seeked
        and has consumed nothing, so it starts at the committed offset anyway.
        """
        with self._watch.guard("source consumer seek", self.call_timeout_s):
            assigned = set(self.assigned())
            for key, position in sorted(committed.items()):
                if key not in assigned:
                    continue
                offset = position if position is not None and position >= 0 else OFFSET_BEGINNING
                try:
                    self._consumer.seek(TopicPartition(key[0], key[1], offset))
                except KafkaException as exc:
                    if exc.args[0].code() not in (KafkaError._STATE, KafkaError._UNKNOWN_PARTITION):
                        raise TransportError(f"seeking {key[0]}[{key[1]}] to {offset}: {exc.args[0]}") from exc

    def close(self, timeout_s: float) -> None:
        """Leave the group; the revoke callback commits first. Guarded by the watch, not run on a
        helper thread: the callback must not race the loop's thread for the producer."""
        with self._watch.guard("source consumer close", timeout_s):
            self._consumer.close()


def poll_wait(interval_s: float, last_commit: float, pending: bool) -> float:
    """How long a commit-interval loop may poll: a whole interval while it holds nothing, else only
    until its next checkpoint is due (so a quiet topic never delays a commit of what was read)."""
    if not pending:
        return interval_s
    return max(0.0, min(interval_s, last_commit + interval_s - time.monotonic()))


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
    commit of a group that is rebalancing or owned), so stop its connectors first. Each broker call
    has a deadline the process enforces (KafkaCallTimeoutError past it).
    """
    consumer = Consumer(consumer_config(bootstrap_servers, extra_config, group_id=group_id))
    try:
        positions: dict[TopicPartitionKey, int] = {}
        for topic in topics:
            meta = call_with_deadline(
                f"metadata of {topic}",
                timeout_s + DEADLINE_SLACK_S,
                partial(consumer.list_topics, topic, timeout=timeout_s),
            ).topics.get(topic)
            if meta is None or meta.error is not None:
                raise TopicError(f"topic {topic!r} does not exist")
            for p in meta.partitions:
                tp = TopicPartition(topic, p)
                low, high = call_with_deadline(
                    f"watermarks of {topic}[{p}]",
                    timeout_s + DEADLINE_SLACK_S,
                    partial(consumer.get_watermark_offsets, tp, timeout=timeout_s, cached=False),
                )
                positions[(topic, p)] = int(high if to_end else low)
        if positions:
            offsets = SourceConsumer.offsets(positions)
            call_with_deadline(
                f"offset commit of group {group_id}",
                timeout_s,
                lambda: consumer.commit(offsets=offsets, asynchronous=False),
            )
        return positions
    finally:
        close_within(consumer, timeout_s)


__all__ = ["SourceConsumer", "TopicPartitionKey", "seek_group"]
