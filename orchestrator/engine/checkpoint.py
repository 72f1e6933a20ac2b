"""The ordered exactly-once checkpoint (docs/design.md §5), in the style of Quix Streams.

  1. produce the changelog records of every dirty partition (outputs are already in the txn)
  2. send_offsets_to_transaction(next inbox offsets, group metadata)
  3. commit_transaction
  4. only then apply each partition's buffered writes to RocksDB in ONE WriteBatch
     together with the changelog offset they produced.

Anything failing before step 3 completes leaves RocksDB untouched: the caller aborts and
replays from the committed offsets, so state and Kafka can never disagree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.engine.core import PartitionEngine
from orchestrator.state import PartitionStore, PendingTxn
from orchestrator.transport.consumer import InboxConsumer
from orchestrator.transport.producer import TransactionalProducer

log = logging.getLogger(__name__)

FaultHook = Callable[[str], None]


@dataclass
class PartitionSlot:
    """Everything one assigned inbox partition owns."""

    partition: int
    store: PartitionStore
    engine: PartitionEngine
    txn: PendingTxn
    committed_position: int | None = None  # next inbox offset as of the last commit
    position: int | None = None  # next inbox offset after what was processed
    inputs: int = 0

    @property
    def dirty(self) -> bool:
        return self.inputs > 0 or not self.txn.is_empty() or self.position != self.committed_position


@dataclass
class CheckpointStats:
    commits: int = 0
    aborts: int = 0
    inputs: int = 0
    changelog_records: int = 0
    last_error: str | None = field(default=None)


class Checkpointer:
    def __init__(
        self,
        producer: TransactionalProducer,
        consumer: InboxConsumer,
        changelog_topic: str,
        fault_hook: FaultHook | None = None,
    ) -> None:
        self._producer = producer
        self._consumer = consumer
        self._changelog = changelog_topic
        self._fault_hook = fault_hook
        self.stats = CheckpointStats()

    @property
    def producer(self) -> TransactionalProducer:
        return self._producer

    @producer.setter
    def producer(self, producer: TransactionalProducer) -> None:
        """After a recovery the runner hands over the producer that fenced the lost one."""
        self._producer = producer

    @property
    def consumer(self) -> InboxConsumer:
        return self._consumer

    @consumer.setter
    def consumer(self, consumer: InboxConsumer) -> None:
        """After a fatal consumer error the runner hands over the consumer that replaced it."""
        self._consumer = consumer

    def commit(self, slots: list[PartitionSlot], timeout_s: float | None = None) -> None:
        """Run steps 1-4 within `timeout_s` (default: the producer's call deadline).
        Raises TransactionAbortableError/TransactionFatalError; the caller decides."""
        dirty = [s for s in slots if s.dirty]
        if not dirty and not self._producer.in_transaction:
            return
        for slot in dirty:
            records = slot.txn.changelog_records(self._changelog, slot.partition)
            self._producer.produce_all(records)
            self.stats.changelog_records += len(records)
        self._fault("before_commit")
        positions = {s.partition: s.position for s in dirty if s.position is not None}
        offsets = self._consumer.offsets(positions, owner=self._producer.transactional_id)
        self._producer.commit(offsets, self._consumer.group_metadata(), timeout_s)
        self._fault("after_commit")
        for slot in dirty:
            offset = self._producer.delivered.get((self._changelog, slot.partition))
            slot.store.apply(slot.txn, offset)
            slot.txn = slot.store.begin()
            slot.engine.mark_committed()
            slot.committed_position = slot.position
            self.stats.inputs += slot.inputs
            slot.inputs = 0
        self.stats.commits += 1

    def abort(self, slots: list[PartitionSlot]) -> None:
        """Drop everything since the last commit and rewind the inbox to the committed offsets.

        The state is dropped even when abort_transaction fails (TransactionFatalError propagates): an
        unfinished transaction never counts, and the caller's recovery aborts it on the broker."""
        self.stats.aborts += 1
        try:
            self._producer.abort()
        finally:
            for slot in slots:
                slot.txn = slot.store.begin()
                slot.engine.discard(None)
                slot.position = slot.committed_position
                slot.inputs = 0
        self._consumer.rewind({s.partition: s.committed_position for s in slots})

    def _fault(self, stage: str) -> None:
        if self._fault_hook is not None:
            self._fault_hook(stage)
