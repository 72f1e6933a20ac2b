"""Rebuild a partition store from its compacted changelog (docs/design.md §6).

The restore consumer is assign-only: it never subscribes, so restoring never triggers a group
rebalance and never commits. It reads `read_committed`, so aborted transactions and zombie writes
never reach the store.

The target is the partition's true high watermark (log end, read_uncommitted), captured once at the
start, NOT the last stable offset: `commit_transaction` returns before the coordinator has written
the commit markers, so right after a previous owner's last commit the LSO can still sit before that
transaction and a restore aiming at it would silently drop a committed checkpoint. Aiming at the
high watermark instead makes restore wait until every transaction in range is decided; an open
zombie transaction is aborted by the broker after `transaction.timeout.ms`, so `idle_timeout_s`
must be larger than the producers' transaction timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from orchestrator.errors import ChangelogRestoreError, StatePartitionMismatchError
from orchestrator.state.partition_store import ChangelogEntry, PartitionStore
from orchestrator.transport.deadline import NO_WATCH, CallWatch
from orchestrator.transport.kafka_clients import ErrorCallback, consumer_config

log = logging.getLogger(__name__)

_DEFAULTS: dict[str, str | int | bool] = {
    # We only ever seek to offsets checked against the watermarks; anything else is a real error.
    "auto.offset.reset": "error",
    # A fetch long-polling at the log end outlives unassign(); the next partition's restore would
    # wait for it (default 500 ms) before its own first fetch.
    "fetch.wait.max.ms": 20,
    # Restore is a bulk read: bigger fetches, fewer round trips.
    "max.partition.fetch.bytes": 16 * 1024 * 1024,
    "fetch.max.bytes": 64 * 1024 * 1024,
}


# consume() waits out its whole timeout whenever fewer records than asked for exist, and commit
# markers make that the normal case at the end of a restore. Prefetching keeps the queue full
# during a bulk read, so a short wait costs nothing there and bounds the cost of the last batch.
_POLL_S = 0.02


@dataclass(frozen=True)
class RestoreStats:
    """What one restore did; `records` counts applied data records (tombstones included)."""

    partition: int
    records: int
    seconds: float
    from_offset: int
    to_offset: int
    wiped: bool
    skipped: int = 0  # keyless records: cannot name a store key, so they are logged and skipped

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float(self.records)


class ChangelogRestorer:
    """Separate assign-only consumer (never subscribed to the group), read_committed."""

    def __init__(
        self,
        bootstrap_servers: str,
        changelog_topic: str,
        extra_config: Mapping[str, str] | None = None,
        *,
        request_timeout_s: float = 10.0,
        idle_timeout_s: float = 120.0,
        watch: CallWatch = NO_WATCH,
        on_progress: Callable[[], None] | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        """`idle_timeout_s` bounds a restore without progress; keep it above `transaction.timeout.ms`.
        `on_progress` is called after every batch (the runner's liveness beat: a long restore is
        progress, not a stuck loop); `watch` guards each call that waits on the broker."""
        self._topic = changelog_topic
        self._watch = watch
        self._on_progress = on_progress
        self._request_timeout_s = request_timeout_s
        self._idle_timeout_s = idle_timeout_s
        # librdkafka insists on a group id; it is never joined (no subscribe) nor committed to.
        group = f"sagabridge-restore.{changelog_topic}"
        config = consumer_config(bootstrap_servers, extra_config, group_id=group, defaults=_DEFAULTS, on_error=on_error)
        self._consumer: Consumer | None = Consumer(config)
        # A read_committed watermark query answers the LSO; the log end needs a read_uncommitted client.
        # It only ever queries watermarks (never assigns, never fetches).
        self._probe: Consumer | None = Consumer({**config, "isolation.level": "read_uncommitted"})

    def restore(
        self, store: PartitionStore, partition: int, batch_size: int = 10_000, *, committed_end: bool = False
    ) -> RestoreStats:
        """Bring `store` up to the changelog's end as of now; wipe first if the store is ahead of it.

        `committed_end`: aim at the last stable offset instead of the log end, for a caller that may
        itself hold an open transaction on this partition (it would otherwise wait for itself).
        """
        if store.partition != partition:
            raise StatePartitionMismatchError(str(store.path), store.partition, partition)
        consumer = self._live_consumer()
        started = time.monotonic()
        tp = TopicPartition(self._topic, partition)
        low, high = self._watermarks(tp, committed_end)
        stored = store.changelog_offset()
        wiped = False
        # `stored` is the offset of a record we applied, so a consistent store has stored < high.
        # stored >= high: the changelog was recreated or truncated. stored + 1 < low: records we
        # never saw were deleted. Either way the changelog is the truth: start over from it.
        if stored is not None and (stored >= high or stored + 1 < low):
            log.warning(
                "state store %s at changelog offset %d, changelog %s[%d] spans [%d, %d): wiping and restoring",
                store.path,
                stored,
                self._topic,
                partition,
                low,
                high,
            )
            store.wipe()
            stored, wiped = None, True
        start = low if stored is None else stored + 1
        if start >= high:
            return RestoreStats(partition, 0, time.monotonic() - started, start, start, wiped)
        records, skipped = self._read(consumer, store, tp, start, high, batch_size)
        stats = RestoreStats(partition, records, time.monotonic() - started, start, high, wiped, skipped)
        log.info(
            "restored %s[%d] offsets [%d, %d): %d records in %.3fs",
            self._topic,
            partition,
            start,
            high,
            records,
            stats.seconds,
        )
        return stats

    def close(self) -> None:
        """Leave nothing behind: the consumer never joined a group, so this is quick. Idempotent."""
        clients = [c for c in (self._consumer, self._probe) if c is not None]
        self._consumer = self._probe = None
        for client in clients:
            with self._watch.guard("restore consumer close", self._request_timeout_s):
                client.close()

    def __enter__(self) -> ChangelogRestorer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------------

    def _read(
        self, consumer: Consumer, store: PartitionStore, tp: TopicPartition, start: int, high: int, batch_size: int
    ) -> tuple[int, int]:
        """Apply batches until the position reaches `high`.

        Control markers (commit/abort) and aborted records occupy offsets but are never delivered,
        so the loop ends on the consumer position, not on the offset of the last record seen.
        """
        records = skipped = 0
        consumer.assign([TopicPartition(tp.topic, tp.partition, start)])
        try:
            position, last_progress = start, time.monotonic()
            while position < high:
                batch: list[ChangelogEntry] = []
                # Never ask for more than can exist before `high`: consume() would wait for the rest.
                wanted = max(1, min(batch_size, high - position))
                with self._watch.guard("changelog fetch", _POLL_S + self._request_timeout_s):
                    messages = consumer.consume(num_messages=wanted, timeout=_POLL_S)
                for msg in messages:
                    error = msg.error()
                    if error is not None:
                        self._on_error(error, tp)
                        continue
                    key, offset = msg.key(), msg.offset()
                    if offset is None:  # only error events lack an offset; errors are handled above
                        continue
                    if key is None:
                        skipped += 1
                        log.warning("changelog %s[%d]@%d has no key: skipped", tp.topic, tp.partition, offset)
                        continue
                    batch.append((key, msg.value(), offset))
                if batch:
                    store.apply_changelog(batch)
                    records += len(batch)
                if self._on_progress is not None:
                    self._on_progress()
                new_position = self._position(consumer, tp, position)
                if new_position > position:
                    position, last_progress = new_position, time.monotonic()
                elif time.monotonic() - last_progress > self._idle_timeout_s:
                    raise ChangelogRestoreError(
                        f"restore of {tp.topic}[{tp.partition}] made no progress for {self._idle_timeout_s}s "
                        f"at offset {position} (target {high})"
                    )
        finally:
            consumer.unassign()
        return records, skipped

    def _on_error(self, error: KafkaError, tp: TopicPartition) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            return
        if error.fatal() or not error.retriable():
            raise ChangelogRestoreError(f"restore of {tp.topic}[{tp.partition}] failed: {error.str()}")
        log.warning("restore of %s[%d]: transient error %s", tp.topic, tp.partition, error.str())

    def _position(self, consumer: Consumer, tp: TopicPartition, previous: int) -> int:
        """Next offset to fetch; librdkafka reports a negative sentinel before the first fetch."""
        offset = int(consumer.position([tp])[0].offset)
        return offset if offset >= 0 else previous

    def _watermarks(self, tp: TopicPartition, committed_end: bool = False) -> tuple[int, int]:
        """(log start, log end) of the partition; the end counts undecided transactions too, unless
        `committed_end` (then the read_committed consumer's answer: the last stable offset)."""
        assert self._probe is not None and self._consumer is not None
        client = self._consumer if committed_end else self._probe
        try:
            with self._watch.guard("changelog watermarks", self._request_timeout_s):
                low, high = client.get_watermark_offsets(tp, timeout=self._request_timeout_s, cached=False)
        except KafkaException as exc:
            raise ChangelogRestoreError(
                f"cannot read the watermarks of changelog {tp.topic}[{tp.partition}]: {exc.args[0]}"
            ) from exc
        return int(low), int(high)

    def _live_consumer(self) -> Consumer:
        if self._consumer is None:
            raise ChangelogRestoreError("restorer is closed")
        return self._consumer
