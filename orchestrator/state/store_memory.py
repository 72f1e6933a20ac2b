"""The RocksDB memory of one process: one block cache and one memtable budget for every store.

Why shared: an instance owns as many partition stores as the group hands it, and RocksDB's
defaults are per store (64 MiB memtables, an 8-32 MiB block cache per table factory). An idle
workflow costs a header and a history entry; with the defaults those stay in memtables that never
reach their flush size, so the process grew ~0.5 KiB per stored workflow, times the partitions it
happened to own. With one cache and one write buffer manager the store's memory is a figure the
operator sets (`[rocksdb]` in the settings, docs/configuration.md) and the data beyond it lives in
SST files, read through the page cache the kernel can reclaim.
"""

from __future__ import annotations

import threading

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from rocksdict import BlockBasedOptions, Cache, Options, WriteBufferManager

MIB = 1024 * 1024
# The meta column family holds three small keys: one memtable block is plenty, and a small buffer
# keeps it out of the shared budget's way.
_META_WRITE_BUFFER = 1 * MIB


class RocksDBSettings(BaseModel):
    """`[rocksdb]`: the memory every partition store of the process shares (docs/configuration.md)."""

    model_config = ConfigDict(extra="forbid")

    block_cache_mib: int = Field(
        default=64,
        ge=1,
        le=1_048_576,
        description="one LRU block cache shared by every partition store of the process: data blocks read "
        "from SST files and, with cache_index_and_filter_blocks, their index and filter blocks",
    )
    write_buffer_mib: int = Field(
        default=8,
        ge=1,
        le=4096,
        description="size of one memtable of one store: writes are flushed to an SST file once it is full",
    )
    max_write_buffers: int = Field(
        default=2,
        ge=2,
        le=32,
        description="memtables per store (the one being written and those waiting to be flushed); more "
        "absorb write bursts, each can hold write_buffer_mib",
    )
    total_write_buffer_mib: int = Field(
        default=64,
        ge=0,
        le=1_048_576,
        description="all memtables of the process together (a RocksDB write buffer manager): past it the "
        "store being written flushes; 0: no process-wide cap (each store up to write_buffer_mib x "
        "max_write_buffers)",
    )
    cache_index_and_filter_blocks: bool = Field(
        default=True,
        description="keep SST index and filter blocks in the block cache (bounded by block_cache_mib, "
        "level-0 ones pinned) rather than in memory of their own that grows with the data",
    )

    @field_validator("total_write_buffer_mib")
    @classmethod
    def _budget_holds_a_memtable(cls, value: int, info: ValidationInfo) -> int:
        buffer = info.data.get("write_buffer_mib")
        if value and buffer is not None and value < buffer:
            raise ValueError(
                f"{value} MiB cannot hold one memtable of write_buffer_mib ({buffer} MiB): every write would "
                f"flush; raise it to at least {buffer}, lower write_buffer_mib, or set 0 for no process-wide cap"
            )
        return value


class StoreMemory:
    """The shared block cache and write buffer manager, and the `Options` every store opens with.

    One per process (the runner builds it from the settings); stores opened without one share
    `StoreMemory.default()`. RocksDB keeps both alive for as long as any store uses them.
    """

    _default: StoreMemory | None = None
    _default_lock = threading.Lock()

    def __init__(self, settings: RocksDBSettings | None = None) -> None:
        self.settings = settings or RocksDBSettings()
        s = self.settings
        self._cache = Cache(s.block_cache_mib * MIB)
        self._write_buffers = (
            WriteBufferManager(s.total_write_buffer_mib * MIB, False) if s.total_write_buffer_mib else None
        )

    @classmethod
    def default(cls) -> StoreMemory:
        """The process-wide memory of stores opened without settings (tests, shadow mode, tools)."""
        with cls._default_lock:
            if cls._default is None:
                cls._default = StoreMemory()
            return cls._default

    def db_options(self) -> Options:
        """Options of a store's default column family (and of the DB: the shared write budget)."""
        opts = self._table_options(self.settings.write_buffer_mib * MIB)
        opts.create_if_missing(True)
        opts.create_missing_column_families(True)
        if self._write_buffers is not None:
            opts.set_write_buffer_manager(self._write_buffers)
        return opts

    def meta_options(self) -> Options:
        """Options of the `__meta__` column family: same cache, a small memtable."""
        return self._table_options(_META_WRITE_BUFFER)

    def block_cache_usage(self) -> int:
        """Bytes in the shared block cache now."""
        return self._cache.get_usage()

    def write_buffer_usage(self) -> int | None:
        """Bytes in all memtables of the process now (None: no process-wide cap, not tracked)."""
        return None if self._write_buffers is None else self._write_buffers.get_usage()

    def _table_options(self, write_buffer: int) -> Options:
        s = self.settings
        table = BlockBasedOptions()
        table.set_block_cache(self._cache)
        table.set_cache_index_and_filter_blocks(s.cache_index_and_filter_blocks)
        table.set_pin_l0_filter_and_index_blocks_in_cache(s.cache_index_and_filter_blocks)
        opts = Options(raw_mode=True)
        opts.set_block_based_table_factory(table)
        opts.set_write_buffer_size(write_buffer)
        opts.set_max_write_buffer_number(s.max_write_buffers)
        return opts
