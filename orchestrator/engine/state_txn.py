"""The state view the engine works against.

The engine never opens RocksDB itself: the runner hands it a transaction-scoped view whose
writes are buffered until the checkpoint commits (docs/design.md §5), so an aborted Kafka
transaction can drop them without touching the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class StateTxn(Protocol):
    """Read-your-writes view over one partition's store plus the writes buffered since the last checkpoint."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def put_new(self, key: bytes, value: bytes) -> None:
        """`put` of a key that neither the store nor the buffered writes hold: the engine made it from
        a sequence number it has just allocated. Deleted before the checkpoint, it leaves no write."""
        ...

    def delete(self, key: bytes) -> None: ...

    def scan(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Sorted by key, half-open [start, end), merging the store with buffered writes (deletes hide keys)."""
        ...
