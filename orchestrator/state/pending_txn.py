"""Read-your-writes overlay buffered between two checkpoints.

The engine mutates a `PendingTxn` while it handles inputs; nothing touches RocksDB until the
Kafka transaction carrying the same writes as changelog records has committed (DESIGN §5). So an
aborted checkpoint is undone by simply dropping the object: there is nothing to roll back.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator
from typing import Protocol

from orchestrator.errors import StateTxnError
from orchestrator.transport.records import OutboundRecord

# A buffered write: the new value, or None for a delete (a changelog tombstone).
Writes = dict[bytes, bytes | None]


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
    The touched keys are also kept sorted, so a prefix scan costs O(log n + hits) instead of a
    pass over every write buffered since the last checkpoint (it was the engine's top hot spot).
    """

    __slots__ = ("_applied", "_generation", "_sorted_keys", "_store", "_writes")

    def __init__(self, store: StoreView) -> None:
        self._store = store
        self._generation = store.generation
        self._writes: Writes = {}
        self._sorted_keys: list[bytes] = []
        self._applied = False

    def get(self, key: bytes) -> bytes | None:
        self._check_usable()
        if key in self._writes:
            return self._writes[key]
        return self._store.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        # Validate now: a bad type found at apply time would surface only after the Kafka commit.
        if not isinstance(key, bytes) or not isinstance(value, bytes):
            raise TypeError(f"state keys and values are bytes, got {type(key).__name__}/{type(value).__name__}")
        self._check_usable()
        self._buffer(key, value)

    def delete(self, key: bytes) -> None:
        if not isinstance(key, bytes):
            raise TypeError(f"state keys are bytes, got {type(key).__name__}")
        self._check_usable()
        self._buffer(key, None)

    def _buffer(self, key: bytes, value: bytes | None) -> None:
        if key not in self._writes:
            insort(self._sorted_keys, key)
        self._writes[key] = value

    def scan(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Sorted merged view of [start, end): buffered puts win, buffered deletes hide stored keys."""
        self._check_usable()
        if start >= end:
            return iter(())
        keys = self._sorted_keys
        writes = self._writes
        buffered = [(k, writes[k]) for k in keys[bisect_left(keys, start) : bisect_left(keys, end)]]
        return _merge(self._store.scan(start, end), buffered)

    def is_empty(self) -> bool:
        return not self._writes

    def changelog_records(self, topic: str, partition: int) -> list[OutboundRecord]:
        """One record per touched key (last write wins); deletes become tombstones (value None).

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


def _merge(
    stored: Iterator[tuple[bytes, bytes]], buffered: list[tuple[bytes, bytes | None]]
) -> Iterator[tuple[bytes, bytes]]:
    """Merge two sorted streams; on equal keys the buffered write replaces the stored value."""
    i, n = 0, len(buffered)
    for key, value in stored:
        while i < n and buffered[i][0] < key:
            bkey, bvalue = buffered[i]
            i += 1
            if bvalue is not None:
                yield bkey, bvalue
        if i < n and buffered[i][0] == key:
            bvalue = buffered[i][1]
            i += 1
            if bvalue is not None:
                yield key, bvalue
            continue
        yield key, value
    for bkey, bvalue in buffered[i:]:
        if bvalue is not None:
            yield bkey, bvalue
