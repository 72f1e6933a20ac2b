"""A write buffer over a StateTxn, so one inbox record or one timer applies atomically.

If handling fails half-way (a bug, a value that cannot be encoded), the buffer is dropped and
the record is dead-lettered with no partial state left in the checkpoint's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.engine.state_txn import StateTxn
from orchestrator.state.write_buffer import WriteBuffer


class OverlayTxn:
    """Read-your-writes buffer; :meth:`flush` replays the writes onto the underlying txn."""

    __slots__ = ("_base", "_buffer", "_writes")

    def __init__(self, base: StateTxn) -> None:
        self._base = base
        self._buffer = WriteBuffer()
        self._writes = self._buffer.writes

    def get(self, key: bytes) -> bytes | None:
        if key in self._writes:
            return self._writes[key]
        return self._base.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._buffer.put(key, value)

    def put_new(self, key: bytes, value: bytes) -> None:
        self._buffer.put_new(key, value)

    def delete(self, key: bytes) -> None:
        self._buffer.put(key, None)

    def scan(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]:
        return self._buffer.scan(self._base.scan(start, end), start, end)

    def flush(self) -> None:
        """Apply the buffered writes to the base txn, in the order they were made (a new key as new,
        so the base may forget it when a later turn of the checkpoint deletes it)."""
        fresh = self._buffer.fresh
        for key, value in self._writes.items():
            if value is None:
                self._base.delete(key)
            elif key in fresh:
                self._base.put_new(key, value)
            else:
                self._base.put(key, value)
        self._buffer.clear()
