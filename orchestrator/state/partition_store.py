"""One RocksDB per assigned inbox partition, written only at checkpoints.

Why one DB per partition: a rebalance moves whole partitions, so a partition's state is dropped,
wiped or restored as one directory without touching its neighbours. The `__meta__` column family
records the last applied changelog offset in the *same* WriteBatch as the data it describes, so
after any crash the store is a consistent prefix of the changelog and restore fills exactly the gap.
Writes go to the WAL without fsync: a machine crash may lose the newest batches, but data and
offset are lost together, and the changelog (the source of truth) replays them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from rocksdict import ColumnFamily, Options, Rdict, ReadOptions, WriteBatch

from orchestrator.errors import (
    ChangelogOffsetError,
    StateCorruptError,
    StateFormatVersionError,
    StatePartitionMismatchError,
    StateStoreClosedError,
    StateStoreOpenError,
)
from orchestrator.state.pending_txn import PendingTxn
from orchestrator.state.store_memory import StoreMemory

FORMAT_VERSION = 1
META_CF = "__meta__"
META_OFFSET = b"changelog_offset"
META_FORMAT_VERSION = b"format_version"
META_PARTITION = b"partition"

# Scans read this many entries per native iterator, then drop it: an abandoned scan generator
# must never pin the DB (a live rocksdict iterator keeps the LOCK held even after close()).
SCAN_PAGE = 512
# The first page is small and pages grow to SCAN_PAGE: most scans stop at their first entry (the
# earliest timer or retention entry, asked for on every pass of the runner loop), and reading a
# full page for them cost 512 entries per partition per pass once finished workflows piled up.
FIRST_SCAN_PAGE = 4

# A changelog batch being restored: (store key, value or None for a tombstone, changelog offset).
ChangelogEntry = tuple[bytes, bytes | None, int]


def partition_path(state_dir: Path, group: str, partition: int) -> Path:
    """The directory layout of docs/design.md §4: `<state_dir>/<group>/<partition>/`."""
    return state_dir / group / str(partition)


def prefix_end(prefix: bytes) -> bytes:
    """Smallest key greater than every key starting with `prefix`, for `scan(prefix, prefix_end(prefix))`."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        raise ValueError(f"prefix {prefix!r} has no finite upper bound")
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def _encode_int(value: int) -> bytes:
    return str(value).encode("ascii")


class PartitionStore:
    """The RocksDB of one inbox partition: committed reads, checkpoint apply, changelog restore."""

    def __init__(self, path: Path, partition: int, memory: StoreMemory | None = None) -> None:
        """Open (creating if needed) the store in directory `path`; prefer `PartitionStore.open`.
        `memory`: the block cache and memtable budget shared with the process's other stores
        (None: `StoreMemory.default()`)."""
        self._path = Path(path)
        self._partition = partition
        self._memory = memory or StoreMemory.default()
        self._generation = 0
        self._db: Rdict | None = None
        self._meta: Rdict | None = None
        self._meta_cf: ColumnFamily | None = None
        self._open_db()

    @classmethod
    def open(cls, path: Path, partition: int, memory: StoreMemory | None = None) -> PartitionStore:
        """Open the store in directory `path` (see `partition_path`), creating directories as needed."""
        return cls(path, partition, memory)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def partition(self) -> int:
        return self._partition

    @property
    def generation(self) -> int:
        """Bumped by wipe() and close(), so transactions begun before them cannot be applied after."""
        return self._generation

    @property
    def closed(self) -> bool:
        return self._db is None

    # -- reads -------------------------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._live_db().get(key)
        return value

    def scan(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Committed entries with start <= key < end, in key order (lazy, paged)."""
        self._live_db()
        if start >= end:
            return iter(())
        return self._scan_pages(start, end)

    def memory_bytes(self) -> dict[str, int]:
        """RocksDB's own figures of this store's memory: memtables, and what its SST readers hold
        outside the block cache (their index and filter blocks too without cache_index_and_filter_blocks)."""
        db = self._live_db()
        return {
            "memtables": db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0,
            "table_readers": db.property_int_value("rocksdb.estimate-table-readers-mem") or 0,
        }

    def changelog_offset(self) -> int | None:
        """Offset of the last changelog record applied to this store; None for an empty store."""
        raw = self._live_meta().get(META_OFFSET)
        return None if raw is None else self._parse_int(META_OFFSET, raw)

    # -- writes ------------------------------------------------------------------------------------

    def begin(self) -> PendingTxn:
        """A fresh overlay for the next checkpoint; it reads through to this store."""
        self._live_db()
        return PendingTxn(self)

    def apply(self, txn: PendingTxn, changelog_offset: int | None) -> None:
        """Write a committed checkpoint: all buffered writes and the offset in ONE WriteBatch.

        `changelog_offset` is the offset of the last changelog record of the committed Kafka
        transaction; None keeps the stored offset (a checkpoint that produced no changelog records).
        """
        db, meta_cf = self._live_db(), self._live_meta_cf()
        writes = txn.writes_for(self)
        if changelog_offset is not None:
            self._check_offset_grows(changelog_offset)
        batch = WriteBatch(raw_mode=True)
        for key, value in writes.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        if changelog_offset is not None:
            batch.put(META_OFFSET, _encode_int(changelog_offset), meta_cf)
        batch.put(META_FORMAT_VERSION, _encode_int(FORMAT_VERSION), meta_cf)
        db.write(batch)
        txn.mark_applied()

    def apply_changelog(self, records: Sequence[ChangelogEntry]) -> None:
        """Apply one restore batch (in offset order) and its last offset in ONE WriteBatch."""
        if not records:
            return
        db, meta_cf = self._live_db(), self._live_meta_cf()
        last_offset = records[-1][2]
        self._check_offset_grows(last_offset)
        batch = WriteBatch(raw_mode=True)
        for key, value, _offset in records:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        batch.put(META_OFFSET, _encode_int(last_offset), meta_cf)
        db.write(batch)

    def wipe(self) -> None:
        """Destroy all data and reopen empty: the changelog was recreated or is behind the store."""
        self._live_db()
        self.close()
        try:
            Rdict.destroy(str(self._path), Options(raw_mode=True))
        except Exception as exc:  # rocksdict raises bare Exception for RocksDB status errors
            raise StateStoreOpenError(str(self._path), f"wipe could not destroy the files: {exc}") from exc
        self._open_db()

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Release RocksDB (and its LOCK) now; idempotent. Never left to the garbage collector."""
        if self._db is None:
            return
        db, meta = self._db, self._meta
        self._db, self._meta, self._meta_cf = None, None, None
        self._generation += 1
        try:
            if meta is not None:
                meta.close()
        finally:
            db.close()

    def __enter__(self) -> PartitionStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_db", None) is not None:
            warnings.warn(f"PartitionStore {self._path} was not closed", ResourceWarning, stacklevel=1)

    def __repr__(self) -> str:
        state = "closed" if self._db is None else "open"
        return f"PartitionStore(path={str(self._path)!r}, partition={self._partition}, {state})"

    # -- internals ---------------------------------------------------------------------------------

    def _open_db(self) -> None:
        self._path.mkdir(parents=True, exist_ok=True)
        try:
            db = Rdict(
                str(self._path),
                self._memory.db_options(),
                column_families={META_CF: self._memory.meta_options()},
            )
        except Exception as exc:  # rocksdict raises bare Exception for RocksDB status errors
            raise StateStoreOpenError(str(self._path), str(exc)) from exc
        self._db = db
        self._meta = db.get_column_family(META_CF)
        self._meta_cf = db.get_column_family_handle(META_CF)
        self._generation += 1
        try:
            self._check_meta()
        except BaseException:
            self.close()
            raise

    def _check_meta(self) -> None:
        """Refuse stores we cannot interpret; stamp a fresh store with version and partition."""
        meta, path = self._live_meta(), str(self._path)
        raw_version = meta.get(META_FORMAT_VERSION)
        if raw_version is None:
            if self._scan_page(b"", None, 1):
                raise StateCorruptError(f"state store at {path!r} holds data but no format version")
            batch = WriteBatch(raw_mode=True)
            batch.put(META_FORMAT_VERSION, _encode_int(FORMAT_VERSION), self._live_meta_cf())
            batch.put(META_PARTITION, _encode_int(self._partition), self._live_meta_cf())
            self._live_db().write(batch)
            return
        version = self._parse_int(META_FORMAT_VERSION, raw_version)
        if version > FORMAT_VERSION:
            raise StateFormatVersionError(path, version, FORMAT_VERSION)
        if version < 1:
            raise StateCorruptError(f"state store at {path!r} has invalid format version {version}")
        raw_partition = meta.get(META_PARTITION)
        if raw_partition is not None:
            stored = self._parse_int(META_PARTITION, raw_partition)
            if stored != self._partition:
                raise StatePartitionMismatchError(path, stored, self._partition)

    def _check_offset_grows(self, new: int) -> None:
        stored = self.changelog_offset()
        if new < 0 or (stored is not None and new <= stored):
            raise ChangelogOffsetError(str(self._path), -1 if stored is None else stored, new)

    def _scan_pages(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]:
        cursor, size = start, FIRST_SCAN_PAGE
        while True:
            page = self._scan_page(cursor, end, size)
            yield from page
            if len(page) < size:
                return
            cursor = page[-1][0] + b"\x00"  # the next possible key after the last one seen
            size = min(size * 8, SCAN_PAGE)

    def _scan_page(self, start: bytes, end: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        """At most `limit` entries; the native iterator is released before this returns."""
        read_opts = ReadOptions()
        if end is not None:
            read_opts.set_iterate_upper_bound(end)
        it = self._live_db().iter(read_opts)
        out: list[tuple[bytes, bytes]] = []
        it.seek(start)
        while len(out) < limit and it.valid():
            out.append((it.key(), it.value()))
            it.next()
        del it
        return out

    def _parse_int(self, name: bytes, raw: Any) -> int:
        try:
            return int(bytes(raw).decode("ascii"))
        except (TypeError, ValueError, UnicodeDecodeError) as exc:
            raise StateCorruptError(
                f"state store at {str(self._path)!r}: __meta__ {name.decode()} is not an integer: {raw!r}"
            ) from exc

    def _live_db(self) -> Rdict:
        if self._db is None:
            raise StateStoreClosedError(f"state store {str(self._path)!r} (partition {self._partition}) is closed")
        return self._db

    def _live_meta(self) -> Rdict:
        self._live_db()
        assert self._meta is not None
        return self._meta

    def _live_meta_cf(self) -> ColumnFamily:
        self._live_db()
        assert self._meta_cf is not None
        return self._meta_cf
