"""Buffered writes with read-your-writes scans: the one merge of pending writes over a store.

Both layers of buffering use it: the checkpoint's `PendingTxn` over RocksDB, and the engine's
per-record `OverlayTxn` over that. The touched keys are kept sorted next to the last write per
key, so a prefix scan costs O(log n + hits) instead of a pass over every buffered write (scans of
the checkpoint buffer were the engine's top hot spot before).

Keys written with `put_new` are keys no layer below holds (the engine makes them from a sequence
number it has just allocated: a step, its deadline, a history entry). Deleting such a key before
the checkpoint forgets it altogether: the store never had it, so there is nothing to tombstone,
and a step that is scheduled and settled within one checkpoint costs no changelog record and no
RocksDB write at all.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

# The last write of a key: its new value, or None for a delete (a changelog tombstone).
Writes = dict[bytes, bytes | None]


class WriteBuffer:
    """Last write per key plus the sorted set of touched keys (single-threaded)."""

    __slots__ = ("_sorted_keys", "fresh", "writes")

    def __init__(self) -> None:
        self.writes: Writes = {}
        self._sorted_keys: list[bytes] = []
        self.fresh: set[bytes] = set()  # buffered keys that nothing below this buffer holds

    def put(self, key: bytes, value: bytes | None) -> None:
        """Buffer a write; None deletes (a key only this buffer ever held is forgotten instead)."""
        writes = self.writes
        if key not in writes:
            insort(self._sorted_keys, key)
        elif value is None and key in self.fresh:
            self._forget(key)
            return
        writes[key] = value

    def put_new(self, key: bytes, value: bytes) -> None:
        """Buffer the first value of a key that nothing below this buffer holds (see the module doc).
        A key this buffer already wrote keeps what it knew about the layers below."""
        if key not in self.writes:
            insort(self._sorted_keys, key)
            self.fresh.add(key)
        self.writes[key] = value

    def _forget(self, key: bytes) -> None:
        del self.writes[key]
        self.fresh.discard(key)
        keys = self._sorted_keys
        del keys[bisect_left(keys, key)]

    def clear(self) -> None:
        self.writes.clear()
        self._sorted_keys.clear()
        self.fresh.clear()

    def __len__(self) -> int:
        return len(self.writes)

    def scan(self, stored: Iterator[tuple[bytes, bytes]], start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]:
        """`stored` (sorted, [start, end)) with the buffered writes merged in: buffered puts win,
        buffered deletes hide stored keys. The buffered side is taken now, so writes made while
        the caller iterates do not disturb the scan."""
        keys = self._sorted_keys
        writes = self.writes
        buffered = [(k, writes[k]) for k in keys[bisect_left(keys, start) : bisect_left(keys, end)]]
        if not buffered:
            return stored
        return _merge(stored, buffered)


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
