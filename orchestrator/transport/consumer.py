"""Typed consumers: the group-subscribed inbox consumer and helpers shared by readers.

All consumers read with isolation.level=read_committed: an aborted checkpoint must never be
seen by anyone (docs/design.md §5).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from orchestrator.errors import ConsumerFatalError, KafkaCallTimeoutError, OffsetFetchError, TransportError
from orchestrator.transport.deadline import NO_WATCH, CallWatch, call_with_deadline
from orchestrator.transport.kafka_clients import consumer_config
from orchestrator.transport.records import InboundRecord

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class PolledBatch:
    """A consume() batch split: its records, the last transient error, and a fatal one if any
    (partition EOFs are neither). Shared by the inbox and the bridge's source consumer."""

    records: list[InboundRecord]
    error: KafkaError | None
    fatal: KafkaError | None


def split_batch(messages: list[Message]) -> PolledBatch:
    """The records of a consume() batch and the errors in it, by librdkafka's flags (not text)."""
    records, error, fatal = [], None, None
    for msg in messages:
        err = msg.error()
        if err is None:
            records.append(to_inbound(msg))
        elif err.fatal() or err.code() == KafkaError._FATAL:
            fatal = err
        elif err.code() != KafkaError._PARTITION_EOF:
            error = err
    return PolledBatch(records, error, fatal)


def is_fenced_instance(error: KafkaError) -> bool:
    """Our group.instance.id was given to another member (KIP-345): a duplicate, or librdkafka#3437."""
    return error.code() == KafkaError.FENCED_INSTANCE_ID or "group.instance.id" in error.str()


# Consumers whose close() overran its deadline: never destroyed while that call may still run.
_UNCLOSED: list[Consumer] = []


def close_within(consumer: Consumer, timeout_s: float) -> bool:
    """Close a consumer, waiting at most `timeout_s` (librdkafka's close can wait for an unreachable
    coordinator, confluentinc/librdkafka#4519). False: still closing in the background."""
    try:
        call_with_deadline("consumer close", timeout_s, consumer.close)
    except KafkaCallTimeoutError as exc:
        _UNCLOSED.append(consumer)
        log.error("%s; leaving it behind", exc)
        return False
    return True


@dataclass(frozen=True)
class GroupTiming:
    """How the group notices a dead member and hands its partitions over (docs/operations.md).

    `session_timeout_ms`: a member silent this long is evicted and its partitions move; it bounds
    the hand-over pause after a crash (6 s is the broker's default `group.min.session.timeout.ms`).
    `heartbeat_interval_ms`: how soon a member learns of a rebalance. `max_poll_interval_ms`: a
    member that stops polling this long leaves the group; the watchdog normally ends a stuck
    process long before, so this is a backstop sized above the longest restore.
    """

    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1000
    max_poll_interval_ms: int = 300_000

    def config(self) -> dict[str, str]:
        return {
            "session.timeout.ms": str(self.session_timeout_ms),
            "heartbeat.interval.ms": str(self.heartbeat_interval_ms),
            "max.poll.interval.ms": str(self.max_poll_interval_ms),
        }


class InboxConsumer:
    """The orchestrator's subscribed consumer; offsets are committed through the producer's transaction.

    Cooperative-sticky assignment: a rebalance revokes only the partitions that move, so the others
    keep running through it; callbacks get the added / revoked / lost partitions only. With a
    `group_instance_id` the member is static (KIP-345): a restart within the session timeout gets
    its partitions back without any rebalance, and a second process with the same id is fenced.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        topic: str,
        on_assign: PartitionCallback,
        on_revoke: PartitionCallback,
        on_lost: PartitionCallback,
        extra_config: Mapping[str, str] | None = None,
        *,
        group_instance_id: str | None = None,
        timing: GroupTiming = GroupTiming(),
        call_timeout_s: float = 10.0,
        watch: CallWatch = NO_WATCH,
    ) -> None:
        config = consumer_config(
            bootstrap_servers,
            extra_config,
            group_id=group_id,
            defaults={"partition.assignment.strategy": "cooperative-sticky", **timing.config()},
        )
        if group_instance_id is not None:
            config["group.instance.id"] = group_instance_id
        # Fatal errors (a fenced static member) are reported here, not necessarily as a message.
        config["error_cb"] = self._on_error
        self.topic = topic
        self.call_timeout_s = call_timeout_s
        self.last_error: KafkaError | None = None
        self._fatal: KafkaError | None = None
        self._detached = False
        self._watch = watch
        self._consumer = Consumer(config)
        self._consumer.subscribe(
            [topic],
            on_assign=self._callback(on_assign),
            on_revoke=self._callback(on_revoke),
            on_lost=self._callback(on_lost),
        )

    def _callback(self, fn: PartitionCallback) -> Callable[[Consumer, list[TopicPartition]], None]:
        def call(_consumer: Consumer, parts: list[TopicPartition]) -> None:
            if not self._detached:
                fn([p.partition for p in parts])

        return call

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal() or error.code() == KafkaError._FATAL:
            self._fatal = error
        else:
            self.last_error = error
            log.debug("inbox consumer: %s", error.str())

    def poll_batch(self, max_records: int, timeout_s: float) -> list[InboundRecord]:
        """Records fetched so far, waiting at most `timeout_s` for the first one. Rebalance
        callbacks run inside this call; they guard their own work (the watch does not count it)."""
        with self._watch.guard("consumer poll", timeout_s + self.call_timeout_s):
            batch = split_batch(consume_available(self._consumer, max_records, timeout_s))
        if batch.error is not None:
            self.last_error = batch.error
        if batch.fatal is not None:
            self._fatal = batch.fatal
        if self._fatal is not None:
            raise ConsumerFatalError(
                f"inbox consumer of {self.topic!r}: {self._fatal.str()}",
                fenced_instance=is_fenced_instance(self._fatal),
            )
        return batch.records

    def group_metadata(self) -> object:
        return self._consumer.consumer_group_metadata()

    def offsets(self, positions: Mapping[int, int], owner: str | None = None) -> list[TopicPartition]:
        """Offsets to commit; `owner` (the committing transactional.id) rides along as the offset
        metadata, so the next owner of a partition knows whose transaction may still be open."""
        return [TopicPartition(self.topic, p, o, owner) for p, o in sorted(positions.items())]

    def committed_positions(self, partitions: Sequence[int], timeout_s: float | None = None) -> dict[int, int]:
        """The group's committed next offsets; partitions without a commit are absent.

        read_committed consumers ask for *stable* offsets, so this waits for a previous owner's
        pending transaction to be decided. Raises OffsetFetchError when that takes past `timeout_s`.
        """
        return {p: offset for p, (offset, _owner) in self.committed(partitions, timeout_s).items()}

    def committed(self, partitions: Sequence[int], timeout_s: float | None = None) -> dict[int, tuple[int, str | None]]:
        """(committed next offset, the transactional.id that committed it) per partition with a commit."""
        t = timeout_s or self.call_timeout_s
        tps = [TopicPartition(self.topic, p) for p in partitions]
        try:
            with self._watch.guard("consumer committed", t):
                committed = self._consumer.committed(tps, timeout=t)
        except KafkaException as exc:
            raise OffsetFetchError(f"committed offsets of {self.topic} {list(partitions)}: {exc.args[0]}") from exc
        return {tp.partition: (tp.offset, tp.metadata or None) for tp in committed if tp.offset >= 0}

    def rewind(self, positions: Mapping[int, int | None]) -> None:
        """Seek each partition to its last committed position (None: nothing committed yet, so the
        beginning, as auto.offset.reset=earliest would). Nothing is asked of the broker: the caller
        knows the committed positions, so a rewind cannot fail because the broker is gone.

        A partition whose fetch has not started yet cannot be seeked (librdkafka's _STATE); it has
        consumed nothing, so it will start at the committed offset anyway. A partition the group has
        already taken away (a rebalance under way, a fenced member) is skipped: its callback drops it.
        """
        with self._watch.guard("consumer seek", self.call_timeout_s):
            assigned = {tp.partition for tp in self._consumer.assignment() if tp.topic == self.topic}
            for p, position in sorted(positions.items()):
                if p not in assigned:  # already taken by the group: its revoke/lost callback drops it
                    log.debug("partition %d no longer assigned: no seek", p)
                    continue
                offset = position if position is not None and position >= 0 else OFFSET_BEGINNING
                try:
                    self._consumer.seek(TopicPartition(self.topic, p, offset))
                except KafkaException as exc:
                    if exc.args[0].code() not in (KafkaError._STATE, KafkaError._UNKNOWN_PARTITION):
                        raise TransportError(f"seeking {self.topic}[{p}] to {offset}: {exc.args[0]}") from exc
                    log.debug("partition %d not fetching (%s): no seek needed", p, exc.args[0])

    def abandon(self, timeout_s: float) -> None:
        """After a fatal error: stop calling our callbacks (the caller already dropped the partitions),
        close within `timeout_s`, leave the client behind if it will not close."""
        self._detached = True
        close_within(self._consumer, timeout_s)

    def close(self, timeout_s: float) -> None:
        """Leave the group; the revoke callback commits first. Bounded by the watch, not by librdkafka,
        whose close can wait for an unreachable coordinator (confluentinc/librdkafka#4519)."""
        with self._watch.guard("consumer close", timeout_s):
            self._consumer.close()
