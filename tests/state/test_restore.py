"""Restore from a real, transactionally written, compacted changelog into real RocksDB."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from orchestrator.errors import ChangelogRestoreError, StatePartitionMismatchError
from orchestrator.state import PartitionStore
from orchestrator.transport.restore import ChangelogRestorer
from tests.state.changelog_writer import CheckpointWriter

TopicFactory = Callable[..., str]
COMPACT = {"cleanup.policy": "compact"}


def everything(store: PartitionStore) -> dict[bytes, bytes]:
    return dict(store.scan(b"", b"\xff" * 8))


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Callable[[str, int], PartitionStore]]:
    opened: list[PartitionStore] = []

    def open_store(name: str, partition: int) -> PartitionStore:
        store = PartitionStore.open(tmp_path / name / str(partition), partition)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def write_rounds(writer: CheckpointWriter, store: PartitionStore, rounds: range) -> None:
    """Checkpoints with puts, overwrites, deletes (tombstones) and aborted checkpoints in between."""
    for r in rounds:
        txn = store.begin()
        txn.put(f"w/wf-{r}".encode(), f"header-{r}".encode())
        for seq in range(3):
            txn.put(f"h/wf-{r}/{seq:010d}".encode(), bytes([r % 256, seq]) * 20)
        txn.put(b"t/timer", b"")  # empty value, distinct from a tombstone
        if r >= 2:
            txn.delete(f"w/wf-{r - 2}".encode())  # tombstone for a key written earlier
            txn.put(f"h/wf-{r - 1}/0000000000".encode(), b"overwritten")
        writer.checkpoint(store, txn)
        if r % 3 == 1:
            aborted = store.begin()
            aborted.put(f"aborted/{r}".encode(), b"must not be restored")
            aborted.delete(f"w/wf-{r}".encode())  # an aborted tombstone must not delete either
            writer.checkpoint(store, aborted, commit=False)


def test_restore_rebuilds_an_identical_store_per_partition(
    kafka_bootstrap: str, topic_factory: TopicFactory, stores: Callable[[str, int], PartitionStore]
) -> None:
    topic = topic_factory("changelog", 2, COMPACT)
    writer = CheckpointWriter(kafka_bootstrap, topic)
    sources = [stores("source", p) for p in (0, 1)]
    for source in sources:
        write_rounds(writer, source, range(8))
        aborted = source.begin()  # the changelog ends with an aborted transaction and its marker
        aborted.put(b"aborted/last", b"x")
        writer.checkpoint(source, aborted, commit=False)

    with ChangelogRestorer(kafka_bootstrap, topic) as restorer:
        for source in sources:
            target = stores("target", source.partition)
            stats = restorer.restore(target, source.partition, batch_size=7)
            assert everything(target) == everything(source)
            assert target.changelog_offset() == source.changelog_offset()
            assert not any(k.startswith(b"aborted/") for k in everything(target))
            assert target.get(b"t/timer") == b""
            assert not stats.wiped and stats.skipped == 0
            assert stats.partition == source.partition and stats.from_offset == 0
            assert stats.records > 0 and stats.to_offset > (source.changelog_offset() or 0)


def test_restore_resumes_from_the_stored_offset(
    kafka_bootstrap: str, topic_factory: TopicFactory, stores: Callable[[str, int], PartitionStore]
) -> None:
    topic = topic_factory("changelog", 1, COMPACT)
    writer = CheckpointWriter(kafka_bootstrap, topic)
    source, target = stores("source", 0), stores("target", 0)
    write_rounds(writer, source, range(5))
    with ChangelogRestorer(kafka_bootstrap, topic) as restorer:
        first = restorer.restore(target, 0, batch_size=4)
        resumed_at = target.changelog_offset()
        assert resumed_at is not None
        write_rounds(writer, source, range(5, 9))
        second = restorer.restore(target, 0, batch_size=4)
        assert second.from_offset == resumed_at + 1 and not second.wiped
        assert 0 < second.records < first.records + second.records
        assert everything(target) == everything(source)
        assert target.changelog_offset() == source.changelog_offset()
        again = restorer.restore(target, 0)  # already up to date: nothing to read
        assert again.records == 0 and everything(target) == everything(source)


def test_a_store_ahead_of_the_changelog_is_wiped_and_rebuilt(
    kafka_bootstrap: str, topic_factory: TopicFactory, stores: Callable[[str, int], PartitionStore]
) -> None:
    topic = topic_factory("changelog", 1, COMPACT)
    writer = CheckpointWriter(kafka_bootstrap, topic)
    source, target = stores("source", 0), stores("target", 0)
    write_rounds(writer, source, range(3))
    target.apply_changelog([(b"w/from-an-old-changelog", b"stale", 10_000)])
    with ChangelogRestorer(kafka_bootstrap, topic) as restorer:
        stats = restorer.restore(target, 0)
    assert stats.wiped and stats.from_offset == 0
    assert everything(target) == everything(source)
    assert target.changelog_offset() == source.changelog_offset()


def test_empty_changelog(
    kafka_bootstrap: str, topic_factory: TopicFactory, stores: Callable[[str, int], PartitionStore]
) -> None:
    topic = topic_factory("changelog", 1, COMPACT)
    fresh, stale = stores("fresh", 0), stores("stale", 0)
    stale.apply_changelog([(b"k", b"v", 0)])
    with ChangelogRestorer(kafka_bootstrap, topic) as restorer:
        nothing = restorer.restore(fresh, 0)
        assert (nothing.records, nothing.wiped, nothing.from_offset, nothing.to_offset) == (0, False, 0, 0)
        assert fresh.changelog_offset() is None
        recreated = restorer.restore(stale, 0)  # changelog recreated empty: the store must not survive
        assert recreated.wiped and everything(stale) == {} and stale.changelog_offset() is None


@pytest.mark.parametrize("zombie_commits", [True, False])
def test_restore_waits_for_an_undecided_transaction_instead_of_skipping_it(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    stores: Callable[[str, int], PartitionStore],
    zombie_commits: bool,
) -> None:
    """An open transaction in range is never applied, nor jumped over: restore ends only once it is decided.

    (Aiming at the last stable offset instead would lose the previous owner's final checkpoint,
    whose commit markers are written only after its commit_transaction returned.)
    """
    topic = topic_factory("changelog", 1, COMPACT)
    writer, zombie = CheckpointWriter(kafka_bootstrap, topic), CheckpointWriter(kafka_bootstrap, topic)
    source, target = stores("source", 0), stores("target", 0)
    write_rounds(writer, source, range(2))
    zombie.begin_open_transaction(0, [(b"w/in-flight", b"v")])
    write_rounds(writer, source, range(2, 4))  # committed, but behind the open transaction
    with ChangelogRestorer(kafka_bootstrap, topic, idle_timeout_s=1.0) as restorer:
        with pytest.raises(ChangelogRestoreError, match="no progress"):
            restorer.restore(target, 0)
        assert target.get(b"w/in-flight") is None
        assert target.get(b"w/wf-1") == b"header-1"  # what precedes the open transaction is kept
        assert target.get(b"w/wf-3") is None
        zombie.end_open(commit=zombie_commits)
        stats = restorer.restore(target, 0)
    assert not stats.wiped
    assert target.get(b"w/in-flight") == (b"v" if zombie_commits else None)
    assert {k: v for k, v in everything(target).items() if k != b"w/in-flight"} == everything(source)


def test_keyless_records_are_skipped_not_fatal(
    kafka_bootstrap: str, topic_factory: TopicFactory, stores: Callable[[str, int], PartitionStore]
) -> None:
    topic = topic_factory("changelog", 1)  # a compacted topic would refuse the keyless record itself
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(topic, key=b"a", value=b"1", partition=0)
    producer.produce(topic, key=None, value=b"no key", partition=0)
    producer.produce(topic, key=b"b", value=b"2", partition=0)
    assert producer.flush(30) == 0
    target = stores("target", 0)
    with ChangelogRestorer(kafka_bootstrap, topic) as restorer:
        stats = restorer.restore(target, 0)
    assert (stats.records, stats.skipped) == (2, 1)
    assert everything(target) == {b"a": b"1", b"b": b"2"}


def test_restoring_a_store_into_another_partition_is_refused(
    kafka_bootstrap: str, topic_factory: TopicFactory, stores: Callable[[str, int], PartitionStore]
) -> None:
    topic = topic_factory("changelog", 2, COMPACT)
    with ChangelogRestorer(kafka_bootstrap, topic) as restorer, pytest.raises(StatePartitionMismatchError):
        restorer.restore(stores("target", 0), 1)
