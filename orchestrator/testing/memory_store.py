"""An in-memory partition store, so the test environment needs no RocksDB.

It stands where `PartitionStore` stands for the engine: the engine writes through the real
`PendingTxn` overlay and the environment applies it at each checkpoint, exactly as the runner
applies it after a committed Kafka transaction. Only the bytes' resting place differs.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

from orchestrator.state import PendingTxn


class MemoryStore:
    """Committed key/value state of one partition, sorted for range scans."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []
        self._generation = 1
        self.changelog_offset: int | None = None

    @property
    def generation(self) -> int:
        """Bumped when the store is wiped, as `PartitionStore` does."""
        return self._generation

    def get(self, key: bytes) -> bytes | None:
        """The committed value of `key`."""
        return self._data.get(key)

    def scan(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]:
        """A snapshot of [start, end) in key order (later writes do not disturb the iteration)."""
        keys = self._keys[bisect_left(self._keys, start) : bisect_left(self._keys, end)]
        return iter([(k, self._data[k]) for k in keys])

    def begin(self) -> PendingTxn:
        """A fresh buffered transaction over this store."""
        return PendingTxn(self)

    def apply(self, txn: PendingTxn, changelog_offset: int | None) -> None:
        """Apply a checkpoint's buffered writes (deletes included) as one step."""
        for key, value in txn.writes_for(self).items():
            if value is None:
                if self._data.pop(key, None) is not None:
                    self._keys.pop(bisect_left(self._keys, key))
            else:
                if key not in self._data:
                    insort(self._keys, key)
                self._data[key] = value
        if changelog_offset is not None:
            self.changelog_offset = changelog_offset
        txn.mark_applied()

    def close(self) -> None:
        """Nothing to release; present so both stores close the same way."""
