"""A write buffer over a StateTxn, so one inbox record or one timer applies atomically.

If handling fails half-way (a bug, a value that cannot be encoded), the buffer is dropped and
the record is dead-lettered with no partial state left in the checkpoint's transaction.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from orchestrator.engine.state_txn import StateTxn

_DELETED = None


class OverlayTxn:
    """Read-your-writes buffer; :meth:`flush` replays the writes onto the underlying txn."""

    def __init__(self, base: StateTxn) -> None:
        self._base = base
        self._writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        if key in self._writes:
            return self._writes[key]
        return self._base.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._writes[key] = value

    def delete(self, key: bytes) -> None:
        self._writes[key] = _DELETED

    def scan(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]:
        mine = sorted((k, v) for k, v in self._writes.items() if start <= k < end)
        if not mine:
            yield from self._base.scan(start, end)
            return
        local = dict(mine)
        merged = heapq.merge(
            ((k, 0, v) for k, v in self._base.scan(start, end) if k not in local),
            ((k, 1, v) for k, v in mine),
        )
        for key, _, value in merged:
            if value is not None:
                yield key, value

    def flush(self) -> None:
        for key, value in self._writes.items():
            if value is None:
                self._base.delete(key)
            else:
                self._base.put(key, value)
        self._writes.clear()
