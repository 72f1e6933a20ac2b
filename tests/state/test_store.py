"""PartitionStore on real RocksDB: atomic apply with the offset, lifecycle, meta checks."""

from __future__ import annotations

import gc
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from rocksdict import Options, Rdict

from orchestrator.errors import (
    ChangelogOffsetError,
    StateCorruptError,
    StateFormatVersionError,
    StatePartitionMismatchError,
    StateStoreClosedError,
    StateStoreOpenError,
    StateTxnError,
)
from orchestrator.state import FORMAT_VERSION, PartitionStore, partition_path, prefix_end
from orchestrator.state.partition_store import META_CF, SCAN_PAGE

if TYPE_CHECKING:  # mypy checks PendingTxn against the engine's protocol; runtime needs no engine import
    from orchestrator.engine.state_txn import StateTxn

ALL = (b"", b"\xff" * 8)


def everything(store: PartitionStore) -> dict[bytes, bytes]:
    return dict(store.scan(*ALL))


def test_open_creates_the_partition_directory_and_starts_empty(tmp_path: Path) -> None:
    path = partition_path(tmp_path / "state", "orders", 3)
    assert path == tmp_path / "state" / "orders" / "3"
    with PartitionStore.open(path, 3) as store:
        assert path.is_dir()
        assert store.changelog_offset() is None
        assert store.get(b"missing") is None
        assert everything(store) == {}


def test_apply_writes_data_and_offset_together_and_survives_reopen(tmp_path: Path) -> None:
    with PartitionStore.open(tmp_path, 0) as store:
        txn: StateTxn = store.begin()
        txn.put(b"w/a", b"header")
        txn.put(b"h/a/0000000001", b"")
        txn.put(b"gone", b"x")
        txn.delete(b"gone")
        assert store.get(b"w/a") is None  # nothing reaches RocksDB before apply
        pending = store.begin()
        pending.put(b"w/b", b"1")
        store.apply(pending, 41)
        assert store.changelog_offset() == 41
        second = store.begin()
        second.put(b"w/a", b"header")
        second.put(b"h/a/0000000001", b"")
        second.delete(b"w/b")
        store.apply(second, 44)
    with PartitionStore.open(tmp_path, 0) as reopened:
        assert reopened.changelog_offset() == 44
        assert everything(reopened) == {b"w/a": b"header", b"h/a/0000000001": b""}


def test_checkpoint_without_changelog_records_keeps_the_offset(tmp_path: Path) -> None:
    with PartitionStore.open(tmp_path, 0) as store:
        store.apply(store.begin(), 7)
        txn = store.begin()
        assert txn.is_empty()
        store.apply(txn, None)
        assert store.changelog_offset() == 7


def test_offset_never_moves_backwards_and_a_refused_apply_writes_nothing(tmp_path: Path) -> None:
    with PartitionStore.open(tmp_path, 0) as store:
        store.apply(store.begin(), 10)
        for bad in (10, 9, -1):
            txn = store.begin()
            txn.put(b"k", b"v")
            with pytest.raises(ChangelogOffsetError):
                store.apply(txn, bad)
            assert store.get(b"k") is None
        with pytest.raises(ChangelogOffsetError):
            store.apply_changelog([(b"k", b"v", 10)])
        assert store.changelog_offset() == 10
        assert everything(store) == {}


def test_changelog_records_carry_final_values_and_tombstones_on_the_inbox_partition(tmp_path: Path) -> None:
    with PartitionStore.open(tmp_path, 5) as store:
        txn = store.begin()
        txn.put(b"a", b"1")
        txn.put(b"a", b"2")
        txn.delete(b"b")
        txn.put(b"c", b"")
        records = txn.changelog_records("app.changelog", 5)
        assert [(r.topic, r.key, r.value, r.partition) for r in records] == [
            ("app.changelog", b"a", b"2", 5),
            ("app.changelog", b"b", None, 5),
            ("app.changelog", b"c", b"", 5),
        ]


def test_apply_changelog_applies_puts_tombstones_and_last_offset(tmp_path: Path) -> None:
    with PartitionStore.open(tmp_path, 0) as store:
        store.apply_changelog([])
        assert store.changelog_offset() is None
        store.apply_changelog([(b"a", b"1", 0), (b"b", b"2", 1), (b"a", None, 5)])
        assert store.changelog_offset() == 5
        assert everything(store) == {b"b": b"2"}


def test_transaction_misuse_is_refused(tmp_path: Path) -> None:
    with PartitionStore.open(tmp_path / "0", 0) as store, PartitionStore.open(tmp_path / "1", 1) as other:
        txn = store.begin()
        txn.put(b"k", b"v")
        with pytest.raises(StateTxnError):
            other.apply(txn, None)
        store.apply(txn, None)
        with pytest.raises(StateTxnError):
            store.apply(txn, None)
        with pytest.raises(StateTxnError):
            txn.put(b"k", b"again")
        stale = store.begin()
        stale.put(b"x", b"y")
        store.wipe()
        with pytest.raises(StateTxnError):
            store.apply(stale, None)
        with pytest.raises(StateTxnError):
            stale.get(b"x")
        assert everything(store) == {}


def test_put_rejects_non_bytes_before_anything_is_committed(tmp_path: Path) -> None:
    with PartitionStore.open(tmp_path, 0) as store:
        txn = store.begin()
        with pytest.raises(TypeError):
            txn.put(b"k", "text")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            txn.delete("k")  # type: ignore[arg-type]
        assert txn.is_empty()


def test_close_is_idempotent_and_use_after_close_is_a_typed_error(tmp_path: Path) -> None:
    store = PartitionStore.open(tmp_path, 0)
    txn = store.begin()
    store.close()
    store.close()
    assert store.closed
    with pytest.raises(StateStoreClosedError):
        store.get(b"k")
    with pytest.raises(StateStoreClosedError):
        store.begin()
    with pytest.raises(StateStoreClosedError):
        store.wipe()
    with pytest.raises(StateTxnError):
        txn.get(b"k")


def test_second_open_of_a_live_store_is_refused_and_close_releases_the_lock(tmp_path: Path) -> None:
    store = PartitionStore.open(tmp_path, 0)
    abandoned = store.scan(*ALL)  # a half-consumed scan must not pin RocksDB after close
    txn = store.begin()
    txn.put(b"k", b"v")
    store.apply(txn, 0)
    next(abandoned, None)
    with pytest.raises(StateStoreOpenError):
        PartitionStore.open(tmp_path, 0)
    store.close()
    with PartitionStore.open(tmp_path, 0) as again:
        assert again.get(b"k") == b"v"
    del abandoned
    gc.collect()


def test_wipe_destroys_data_and_keeps_the_store_usable(tmp_path: Path) -> None:
    with PartitionStore.open(tmp_path, 2) as store:
        store.apply_changelog([(b"a", b"1", 100)])
        store.wipe()
        assert store.changelog_offset() is None
        assert everything(store) == {}
        store.apply_changelog([(b"b", b"2", 0)])
    with PartitionStore.open(tmp_path, 2) as reopened:
        assert everything(reopened) == {b"b": b"2"}
    with pytest.raises(StatePartitionMismatchError):
        PartitionStore.open(tmp_path, 3)


def _write_meta(path: Path, key: bytes, value: bytes) -> None:
    db = Rdict(str(path), Options(raw_mode=True), column_families={META_CF: Options(raw_mode=True)})
    meta = db.get_column_family(META_CF)
    meta[key] = value
    meta.close()
    db.close()


def test_a_store_from_a_future_format_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    PartitionStore.open(tmp_path, 0).close()
    _write_meta(tmp_path, b"format_version", str(FORMAT_VERSION + 1).encode())
    with pytest.raises(StateFormatVersionError) as info:
        PartitionStore.open(tmp_path, 0)
    assert info.value.found == FORMAT_VERSION + 1
    assert "supports up to" in str(info.value)
    _write_meta(tmp_path, b"format_version", b"garbage")
    with pytest.raises(StateCorruptError):
        PartitionStore.open(tmp_path, 0)
    # The refused opens released RocksDB: the directory can still be fixed and reopened.
    _write_meta(tmp_path, b"format_version", str(FORMAT_VERSION).encode())
    PartitionStore.open(tmp_path, 0).close()


def test_scan_is_sorted_half_open_and_pages_through_large_ranges(tmp_path: Path) -> None:
    with PartitionStore.open(tmp_path, 0) as store:
        keys = [f"h/wf/{i:010d}".encode() for i in range(SCAN_PAGE * 2 + 7)]
        store.apply_changelog([(k, k[-3:], i) for i, k in enumerate(keys)])
        store.apply_changelog([(b"h/wf", b"parent", 10_000), (b"h/wg/0", b"next", 10_001)])
        assert [k for k, _ in store.scan(b"h/wf/", prefix_end(b"h/wf/"))] == keys
        assert list(store.scan(keys[3], keys[5])) == [(keys[3], keys[3][-3:]), (keys[4], keys[4][-3:])]
        assert list(store.scan(keys[5], keys[5])) == []
        assert list(store.scan(keys[5], keys[3])) == []


def test_prefix_end() -> None:
    assert prefix_end(b"t/") == b"t0"
    assert prefix_end(b"a\xff\xff") == b"b"
    with pytest.raises(ValueError):
        prefix_end(b"\xff")


_CRASH_CHILD = """
import sys
from pathlib import Path
from orchestrator.state import PartitionStore
store = PartitionStore.open(Path(sys.argv[1]), 0)
i = 0
while True:
    txn = store.begin()
    txn.put(b"counter", str(i).encode())
    for j in range(50):
        txn.put(f"k/{i:08d}/{j:02d}".encode(), b"v" * 64)
    store.apply(txn, i)
    if i == 20:
        print("ready", flush=True)
    i += 1
"""


def test_a_killed_process_leaves_data_and_offset_consistent(tmp_path: Path) -> None:
    """SIGKILL in the middle of checkpointing: every batch is either fully there with its offset, or not."""
    command = [sys.executable, "-c", _CRASH_CHILD, str(tmp_path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
    with PartitionStore.open(tmp_path, 0) as store:
        offset = store.changelog_offset()
        assert offset is not None and offset >= 20
        assert store.get(b"counter") == str(offset).encode()
        batches: dict[int, int] = {}
        for key, _ in store.scan(b"k/", prefix_end(b"k/")):
            batch = int(key.split(b"/")[1])
            batches[batch] = batches.get(batch, 0) + 1
        assert batches == {i: 50 for i in range(offset + 1)}
