"""PendingTxn read-your-writes semantics: a dict is the oracle, real RocksDB is under test."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from orchestrator.engine.overlay import OverlayTxn
from orchestrator.state import PartitionStore, PendingTxn

# A tiny alphabet makes collisions, prefixes and adjacent keys (incl. 0x00 / 0xff bytes) common.
keys = st.binary(min_size=0, max_size=3).map(lambda b: bytes(x % 4 * 0x55 for x in b))
values = st.binary(max_size=4)


class OverlayMachine(RuleBasedStateMachine):
    """Committed state in RocksDB + buffered writes must always read like one dict."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="sb-overlay-"))
        self.store = PartitionStore.open(self.dir, 0)
        self.txn: PendingTxn = self.store.begin()
        self.committed: dict[bytes, bytes] = {}
        self.model: dict[bytes, bytes] = {}
        self.offset = -1
        self.fresh: set[bytes] = set()  # put_new since the last checkpoint, never touched by other writes

    def _untouched(self, key: bytes) -> bool:
        """Neither the store nor this txn has ever written `key`: what put_new may be told."""
        return key not in self.committed and key not in self.txn.writes_for(self.store)

    @rule(key=keys, value=values)
    def put(self, key: bytes, value: bytes) -> None:
        self.txn.put(key, value)
        self.model[key] = value

    @rule(key=keys, value=values)
    def put_new(self, key: bytes, value: bytes) -> None:
        if not self._untouched(key):
            return
        self.txn.put_new(key, value)
        self.model[key] = value
        self.fresh.add(key)

    @rule(key=keys)
    def delete(self, key: bytes) -> None:
        self.txn.delete(key)
        self.model.pop(key, None)

    @rule(key=keys)
    def get(self, key: bytes) -> None:
        assert self.txn.get(key) == self.model.get(key)

    @rule(start=keys, end=keys)
    def scan(self, start: bytes, end: bytes) -> None:
        expected = sorted((k, v) for k, v in self.model.items() if start <= k < end)
        assert list(self.txn.scan(start, end)) == expected

    @rule(with_offset=st.booleans())
    def checkpoint(self, with_offset: bool) -> None:
        if with_offset:
            self.offset += 1
        changelog = {r.key: r.value for r in self.txn.changelog_records("changelog", 0)}
        forgotten = {k for k in self.fresh if k not in self.model}  # created and deleted in this txn
        assert not forgotten & changelog.keys(), "a key the store never had got a changelog record"
        self.store.apply(self.txn, self.offset if with_offset else None)
        self.committed = dict(self.model)
        self.txn = self.store.begin()
        self.fresh.clear()

    @rule()
    def abort(self) -> None:
        self.txn = self.store.begin()
        self.model = dict(self.committed)
        self.fresh.clear()

    @precondition(lambda self: self.txn.is_empty())
    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = PartitionStore.open(self.dir, 0)
        self.txn = self.store.begin()

    @invariant()
    def committed_state_is_in_rocksdb(self) -> None:
        assert dict(self.store.scan(b"", b"\xff" * 4)) == self.committed
        assert self.store.changelog_offset() == (None if self.offset < 0 else self.offset)

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)


OverlayMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=30, deadline=None)
TestOverlay = OverlayMachine.TestCase


def test_deleting_while_scanning_sees_the_scan_start_state(tmp_path: Path) -> None:
    """The engine fires due timers by scanning the timer index and deleting each entry."""
    with PartitionStore.open(tmp_path, 0) as store:
        store.apply_changelog([(b"t/1", b"", 0), (b"t/3", b"", 1)])
        txn = store.begin()
        txn.put(b"t/2", b"")
        fired = []
        for key, _ in txn.scan(b"t/", b"t0"):
            fired.append(key)
            txn.delete(key)
            txn.put(b"t/9", b"")  # rescheduling during the scan is not seen by this scan
        assert fired == [b"t/1", b"t/2", b"t/3"]
        assert list(txn.scan(b"t/", b"t0")) == [(b"t/9", b"")]


def test_a_key_created_and_deleted_within_a_checkpoint_leaves_no_write(tmp_path: Path) -> None:
    """A step scheduled and settled before the commit: no changelog record, no RocksDB write, and
    through the engine's per-record overlay too; a key the store holds still gets its tombstone."""
    with PartitionStore.open(tmp_path, 0) as store:
        store.apply_changelog([(b"s/old", b"v", 0)])
        txn = store.begin()
        turn = OverlayTxn(txn)
        turn.put_new(b"s/1", b"a")
        turn.put_new(b"t/1", b"")
        turn.flush()
        txn.put(b"s/1", b"b")  # rewritten: still a key only this checkpoint ever held
        later = OverlayTxn(txn)
        later.delete(b"s/1")
        later.delete(b"t/1")
        later.delete(b"s/old")
        later.put_new(b"h/1", b"x")
        later.delete(b"h/1")  # created and deleted within one turn
        later.flush()
        assert [(r.key, r.value) for r in txn.changelog_records("changelog", 0)] == [(b"s/old", None)]
        assert list(txn.scan(b"", b"\xff")) == []
        store.apply(txn, 1)
        assert list(store.scan(b"", b"\xff")) == []
