"""The memory the partition stores of one process share (docs/configuration.md, `[rocksdb]`), on
real RocksDB: the memtables of all stores stay within one budget, the rest is flushed to SST files
and still read back, and the block cache is one for every store."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.state import PartitionStore, RocksDBSettings, StoreMemory
from orchestrator.state.store_memory import MIB

VALUE = 1024  # bytes: incompressible, like encoded headers and history entries


def _fill(store: PartitionStore, prefix: bytes, entries: int, offset: int) -> int:
    """Write `entries` in checkpoints of 500, the way the runner applies them; returns the last offset."""
    for start in range(0, entries, 500):
        txn = store.begin()
        for i in range(start, min(entries, start + 500)):
            txn.put(prefix + b"%08d" % i, os.urandom(VALUE))
        offset += 1
        store.apply(txn, offset)
    return offset


def _sst_files(path: Path) -> int:
    return len(list(path.glob("*.sst")))


def test_memtables_of_all_stores_stay_within_the_process_budget(tmp_path: Path) -> None:
    memory = StoreMemory(RocksDBSettings(write_buffer_mib=1, total_write_buffer_mib=2, block_cache_mib=4))
    stores = [PartitionStore.open(tmp_path / str(p), p, memory) for p in range(3)]
    try:
        offsets = [0, 0, 0]
        for p, store in enumerate(stores):  # 3 x 6 MiB: nine times the budget
            offsets[p] = _fill(store, b"h/wf-", 6_000, offsets[p])
        # 18 MiB written; what stays in memory is the budget (2 MiB) plus, at worst, the memtable each
        # store is filling while its full ones flush in the background
        bound = 2 * MIB + len(stores) * MIB
        usage = memory.write_buffer_usage()
        assert usage is not None and usage <= bound
        assert sum(s.memory_bytes()["memtables"] for s in stores) <= bound
        assert all(_sst_files(s.path) > 0 for s in stores)  # the rest went to SST files
        for store in stores:  # and reads find it there, through the one shared block cache
            assert all(store.get(b"h/wf-%08d" % i) is not None for i in range(0, 6_000, 7))
        assert memory.block_cache_usage() > 0
        assert memory.block_cache_usage() <= 4 * MIB
    finally:
        for store in stores:
            store.close()


def test_index_and_filter_blocks_go_to_the_block_cache(tmp_path: Path) -> None:
    """With cache_index_and_filter_blocks, what the SST readers hold outside the cache is their own
    objects only; without it, their index blocks too (memory that grows with the data)."""
    held = {}
    for in_cache in (True, False):
        settings = RocksDBSettings(write_buffer_mib=1, cache_index_and_filter_blocks=in_cache)
        with PartitionStore.open(tmp_path / str(in_cache), 0, StoreMemory(settings)) as store:
            _fill(store, b"h/wf-", 6_000, 0)
            assert all(store.get(b"h/wf-%08d" % i) is not None for i in range(0, 6_000, 7))
            held[in_cache] = store.memory_bytes()["table_readers"]
    assert held[True] < held[False] / 2


def test_without_a_process_budget_each_store_keeps_its_own_memtables(tmp_path: Path) -> None:
    """`total_write_buffer_mib = 0`: no write buffer manager; a store flushes at write_buffer_mib."""
    memory = StoreMemory(RocksDBSettings(write_buffer_mib=1, total_write_buffer_mib=0))
    assert memory.write_buffer_usage() is None
    with PartitionStore.open(tmp_path / "0", 0, memory) as store:
        _fill(store, b"h/wf-", 4_000, 0)
        assert store.memory_bytes()["memtables"] <= 2 * MIB + MIB // 2  # max_write_buffers x 1 MiB
        assert _sst_files(store.path) > 0


def test_a_store_reopened_with_other_memory_settings_keeps_its_data(tmp_path: Path) -> None:
    """The memory settings are not part of the data: changing them needs no wipe or restore."""
    path = tmp_path / "0"
    with PartitionStore.open(path, 0, StoreMemory(RocksDBSettings(write_buffer_mib=1))) as store:
        offset = _fill(store, b"w/wf-", 3_000, 0)
    settings = RocksDBSettings(block_cache_mib=8, write_buffer_mib=16, cache_index_and_filter_blocks=False)
    with PartitionStore.open(path, 0, StoreMemory(settings)) as store:
        assert store.changelog_offset() == offset
        assert len(list(store.scan(b"w/", b"w0"))) == 3_000


def test_stores_opened_without_memory_share_the_process_default(tmp_path: Path) -> None:
    assert StoreMemory.default() is StoreMemory.default()
    with PartitionStore.open(tmp_path / "0", 0) as a, PartitionStore.open(tmp_path / "1", 1) as b:
        _fill(a, b"h/", 10, 0)
        _fill(b, b"h/", 10, 0)
        usage = StoreMemory.default().write_buffer_usage()
        assert usage is not None and usage >= a.memory_bytes()["memtables"] + b.memory_bytes()["memtables"]
