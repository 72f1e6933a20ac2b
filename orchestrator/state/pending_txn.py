"""Read-your-writes overlay buffered between two checkpoints.

The engine mutates a `PendingTxn` while it handles inputs; nothing touches RocksDB until the
Kafka transaction carrying the same writes as changelog records has committed (docs/design.md §5). So an
aborted checkpoint is undone by simply dropping the object: there is nothing to roll back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from orchestrator.errors import StateTxnError
from orchestrator.state.write_buffer import WriteBuffer, Writes
from orchestrator.transport.records import OutboundRecord


class StoreView(Protocol):
    """What a pending transaction needs from its store: committed reads and a generation."""

    @property
    def generation(self) -> int: ...

    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]: ...


class PendingTxn:
    """Buffered writes over one partition store; implements `orchestrator.engine.state_txn.StateTxn`.

    Single-threaded, like the partition it belongs to. A scan sees the transaction as it was when
    the scan started, so deleting keys while iterating a scan (e.g. firing due timers) is safe.
    The writes live in a `WriteBuffer` (sorted keys: prefix scans cost O(log n + hits)).
    """

    __slots__ = ("_applied", "_buffer", "_generation", "_store", "_writes")

    def __init__(self, store: StoreView) -> None:
        self._store = store
        self._generation = store.generation
        self._buffer = WriteBuffer()
        self._writes: Writes = self._buffer.writes
        self._applied = False

    def get(self, key: bytes) -> bytes | None:
        self._check_usable()
        if key in self._writes:
            return self._writes[key]
        return self._store.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._check_write(key, value)
        self._buffer.put(key, value)

    def put_new(self, key: bytes, value: bytes) -> None:
        """`put` of a key the store does not hold (a fresh sequence number's): deleting it again
        before the checkpoint leaves no write at all, neither a changelog record nor a RocksDB one."""
        self._check_write(key, value)
        self._buffer.put_new(key, value)

    def _check_write(self, key: bytes, value: bytes) -> None:
        # Validate now: a bad type found at apply time would surface only after the Kafka commit.
        if not isinstance(key, bytes) or not isinstance(value, bytes):
            raise TypeError(f"state keys and values are bytes, got {type(key).__name__}/{type(value).__name__}")
        self._check_usable()

    def delete(self, key: bytes) -> None:
        if not isinstance(key, bytes):
            raise TypeError(f"state keys are bytes, got {type(key).__name__}")
        self._check_usable()
        self._buffer.put(key, None)

    def scan(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Sorted merged view of [start, end): buffered puts win, buffered deletes hide stored keys."""
        self._check_usable()
        if start >= end:
            return iter(())
        return self._buffer.scan(self._store.scan(start, end), start, end)

    def is_empty(self) -> bool:
        return not self._writes

    def changelog_records(self, topic: str, partition: int) -> list[OutboundRecord]:
        """One record per touched key (last write wins); deletes become tombstones (value None).
        A key created and deleted since the last checkpoint (`put_new`) has no record: the store never had it.

        The partition is fixed to the inbox partition: the changelog is co-partitioned, and the
        store key (not the workflow id) is the record key, so the default partitioner would be wrong.
        """
        return [OutboundRecord(topic=topic, key=k, value=v, partition=partition) for k, v in self._writes.items()]

    # -- used by PartitionStore.apply ---------------------------------------------------------------

    def writes_for(self, store: StoreView) -> Writes:
        """The buffered writes, after checking this transaction may be applied to `store`."""
        if store is not self._store:
            raise StateTxnError("this transaction was begun on another partition store")
        self._check_usable()
        return self._writes

    def mark_applied(self) -> None:
        self._applied = True

    def _check_usable(self) -> None:
        if self._applied:
            raise StateTxnError("transaction already applied; call store.begin() for the next checkpoint")
        if self._store.generation != self._generation:
            raise StateTxnError("the store was wiped or closed since this transaction began")
