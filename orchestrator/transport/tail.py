"""An assign-only, read_committed reader of every partition of one topic, from offsets it is given.

For projections that keep their own offsets next to the state they build (the visibility store):
it never joins a consumer group and never commits, so its position is exactly what the caller
stored, and any number of them can read the same topic without a rebalance between them.
Partitions added to the topic later are picked up by `refresh()`.

Every call that waits on the broker (metadata, watermarks, fetches, close) runs under a deadline
the process enforces (transport/deadline.py), since librdkafka's own timeouts are not guarantees.
A call past it raises KafkaCallTimeoutError and leaves the tail `lost` (its consumer may still be
blocked inside librdkafka): the owner drops it and opens a new one from its stored offsets.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TypeVar

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from orchestrator.errors import KafkaCallTimeoutError, ReaderLostError, TopicMissingError, TransportError
from orchestrator.transport.consumer import close_within, consume_available, to_inbound
from orchestrator.transport.deadline import call_with_deadline
from orchestrator.transport.kafka_clients import new_consumer
from orchestrator.transport.records import InboundRecord

log = logging.getLogger(__name__)
T = TypeVar("T")
_GRACE_S = 2.0  # librdkafka gets the first chance to time out (its error keeps the consumer usable)


class TopicTail:
    """Reads one topic's partitions from given offsets (assign-only, read_committed), every broker
    wait under a deadline; `lost` once one was missed."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        extra_config: Mapping[str, str] | None = None,
        *,
        request_timeout_s: float = 10.0,
        fetch_wait_ms: int = 100,
    ) -> None:
        # librdkafka wants a group id even for assign(); it is never joined nor committed to.
        self._consumer = new_consumer(
            bootstrap_servers,
            f"sagabridge-tail-{uuid.uuid4().hex[:12]}",
            extra_config,
            defaults={"fetch.wait.max.ms": fetch_wait_ms, "socket.timeout.ms": int(request_timeout_s * 1000)},
        )
        self.topic = topic
        self._timeout_s = request_timeout_s
        self._assigned: set[int] = set()
        self.lost = False

    def _call(self, operation: str, timeout_s: float, fn: Callable[[], T]) -> T:
        """`fn` under a deadline the process enforces; past it the tail is lost."""
        if self.lost:
            raise ReaderLostError(f"the reader of {self.topic!r} missed a deadline earlier and is not used again")
        try:
            return call_with_deadline(f"{self.topic}: {operation}", timeout_s + _GRACE_S, fn)
        except KafkaCallTimeoutError:
            self.lost = True
            raise

    # --- partitions ---------------------------------------------------------------------------------
    def partitions(self) -> list[int]:
        try:
            metadata = self._call(
                "metadata", self._timeout_s, lambda: self._consumer.list_topics(self.topic, timeout=self._timeout_s)
            )
        except KafkaException as exc:
            raise TransportError(f"cannot read the metadata of {self.topic!r}: {exc.args[0]}") from exc
        found = metadata.topics.get(self.topic)
        if found is None or found.error is not None or not found.partitions:
            raise TopicMissingError(self.topic)
        return sorted(found.partitions)

    def assign(self, offsets: Mapping[int, int], only: Sequence[int] | None = None) -> list[int]:
        """Read every partition (or `only` these) from `offsets` (without one: from the beginning)."""
        partitions = self.partitions() if only is None else sorted(only)
        tps = [TopicPartition(self.topic, p, offsets.get(p, OFFSET_BEGINNING)) for p in partitions]
        self._consumer.assign(tps)
        self._assigned = set(partitions)
        return partitions

    def refresh(self, offsets: Mapping[int, int]) -> list[int]:
        """Start reading partitions added to the topic since `assign` (from `offsets` or the beginning)."""
        new = [p for p in self.partitions() if p not in self._assigned]
        if new:
            self._consumer.incremental_assign(
                [TopicPartition(self.topic, p, offsets.get(p, OFFSET_BEGINNING)) for p in new]
            )
            self._assigned.update(new)
            log.info("%s: reading new partitions %s", self.topic, new)
        return new

    # --- reading ------------------------------------------------------------------------------------
    def poll(self, max_records: int, timeout_s: float) -> list[InboundRecord]:
        """Up to `max_records`, returning as soon as some are there (or [] after `timeout_s`)."""
        records = []
        messages = self._call(
            "fetch", timeout_s + self._timeout_s, lambda: consume_available(self._consumer, max_records, timeout_s)
        )
        for msg in messages:
            error = msg.error()
            if error is None:
                records.append(to_inbound(msg))
            elif error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise TopicMissingError(self.topic)
            elif error.fatal():
                raise TransportError(f"reading {self.topic!r} failed: {error.str()}")
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("reading %s: %s (retrying)", self.topic, error.str())
        return records

    def positions(self) -> dict[int, int]:
        """Next offset to read per assigned partition (control markers included); -1: not fetched yet."""
        tps = self._consumer.position([TopicPartition(self.topic, p) for p in sorted(self._assigned)])
        return {tp.partition: int(tp.offset) for tp in tps}

    def end_offsets(self) -> dict[int, int]:
        """The last stable offset per partition: what a read_committed reader can reach now."""
        ends = {}
        for p in sorted(self._assigned):
            try:
                _low, high = self._call(
                    f"end offset of [{p}]",
                    self._timeout_s,
                    partial(
                        self._consumer.get_watermark_offsets,
                        TopicPartition(self.topic, p),
                        timeout=self._timeout_s,
                        cached=False,
                    ),
                )
            except KafkaException as exc:
                raise TransportError(f"cannot read the end offsets of {self.topic}[{p}]: {exc.args[0]}") from exc
            ends[p] = int(high)
        return ends

    def lag(self, stored: Mapping[int, int]) -> dict[int, int]:
        """Records between `stored` and the end, per partition."""
        return {p: max(0, end - stored.get(p, 0)) for p, end in self.end_offsets().items()}

    def close(self) -> None:
        """Close the consumer within the deadline; a lost tail's consumer is left alone (its
        blocked call may still use it)."""
        if not self.lost:
            close_within(self._consumer, self._timeout_s)

    def __enter__(self) -> TopicTail:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
