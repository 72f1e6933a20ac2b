"""An assign-only, read_committed reader of every partition of one topic, from offsets it is given.

For projections that keep their own offsets next to the state they build (the visibility store):
it never joins a consumer group and never commits, so its position is exactly what the caller
stored, and any number of them can read the same topic without a rebalance between them. Every
broker call has a deadline; partitions added to the topic later are picked up by `refresh()`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from orchestrator.errors import TopicMissingError, TransportError
from orchestrator.transport.consumer import consume_available, to_inbound
from orchestrator.transport.kafka_clients import new_consumer
from orchestrator.transport.records import InboundRecord

log = logging.getLogger(__name__)


class TopicTail:
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

    # --- partitions ---------------------------------------------------------------------------------
    def partitions(self) -> list[int]:
        try:
            metadata = self._consumer.list_topics(self.topic, timeout=self._timeout_s)
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
        for msg in consume_available(self._consumer, max_records, timeout_s):
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
                _low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(self.topic, p), timeout=self._timeout_s, cached=False
                )
            except KafkaException as exc:
                raise TransportError(f"cannot read the end offsets of {self.topic}[{p}]: {exc.args[0]}") from exc
            ends[p] = int(high)
        return ends

    def lag(self, stored: Mapping[int, int]) -> dict[int, int]:
        """Records between `stored` and the end, per partition."""
        return {p: max(0, end - stored.get(p, 0)) for p, end in self.end_offsets().items()}

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicTail:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
