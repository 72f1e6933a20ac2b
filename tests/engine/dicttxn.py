"""A dict-backed StateTxn for pure unit tests (the engine tests use the real RocksDB store)."""

from __future__ import annotations

from collections.abc import Iterator


class DictTxn:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: bytes) -> None:
        self.data.pop(key, None)

    def scan(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]:
        yield from sorted((k, v) for k, v in self.data.items() if start <= k < end)
