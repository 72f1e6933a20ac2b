"""Writes checkpoints the way the runner does (docs/design.md §5), so restore tests have a real source store.

Changelog records of a txn are produced in a Kafka transaction; only after commit does the source
store apply the txn with the offset of its last changelog record. Aborted checkpoints are
produced too (so the changelog holds aborted records) but never applied.
"""

from __future__ import annotations

import uuid

from confluent_kafka import KafkaError, Message, Producer

from orchestrator.state import PartitionStore, PendingTxn


class CheckpointWriter:
    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.topic = topic
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "transactional.id": f"sb-test-{topic}-{uuid.uuid4().hex[:8]}",
                "linger.ms": 5,
            }
        )
        self._producer.init_transactions(30)
        self._delivered: dict[int, int] = {}

    def checkpoint(self, store: PartitionStore, txn: PendingTxn, *, commit: bool = True) -> int | None:
        """Produce the txn's changelog records transactionally; apply to `store` only if committed."""
        self._delivered.clear()
        self._producer.begin_transaction()
        for record in txn.changelog_records(self.topic, store.partition):
            assert record.partition == store.partition
            self._producer.produce(
                record.topic,
                key=record.key,
                value=record.value,
                partition=store.partition,
                on_delivery=self._on_delivery,
            )
        assert self._producer.flush(30) == 0
        offset = self._delivered.get(store.partition)
        if not commit:
            self._producer.abort_transaction(30)
            return None
        self._producer.commit_transaction(30)
        store.apply(txn, offset)
        return offset

    def begin_open_transaction(self, partition: int, items: list[tuple[bytes, bytes]]) -> None:
        """Leave a transaction open (a zombie's in-flight checkpoint) until `end_open`."""
        self._producer.begin_transaction()
        for key, value in items:
            self._producer.produce(self.topic, key=key, value=value, partition=partition)
        assert self._producer.flush(30) == 0

    def end_open(self, *, commit: bool) -> None:
        if commit:
            self._producer.commit_transaction(30)
        else:
            self._producer.abort_transaction(30)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        assert err is None, err
        partition, offset = msg.partition(), msg.offset()
        assert partition is not None and offset is not None
        self._delivered[partition] = max(offset, self._delivered.get(partition, -1))
