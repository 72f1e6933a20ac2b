"""Ingest from a real events topic: resumable from the store's offsets, idempotent, dead-letters
undecodable records, survives SIGKILL of the ingesting process, and a rebuild gives the same store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from benchmarks.visibility_data import encoded_events
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.delivery import DeliveringProducer
from orchestrator.transport.kafka_clients import new_consumer
from orchestrator.transport.records import OutboundRecord
from orchestrator.visibility.ingest import Ingester
from orchestrator.visibility.queries import WorkflowQueries
from orchestrator.visibility.store import VisibilityStore
from orchestrator.workflow.status import WorkflowStatus
from tests.integration.harness import ROOT
from tests.visibility.test_store import dump

serde = SingleObjectSerde(SchemaRepository())


class App:
    def __init__(self, admin: KafkaAdmin, bootstrap: str, partitions: int = 3) -> None:
        self.name = f"vis-{uuid.uuid4().hex[:10]}"
        self.bootstrap = bootstrap
        admin.create(self.events, partitions, 1, {})
        admin.create(self.dlq, 1, 1, {})
        self._producer = DeliveringProducer(bootstrap)

    @property
    def events(self) -> str:
        return f"{self.name}.events"

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    def produce(self, records: list[tuple[bytes, bytes]]) -> None:
        self._producer.send_all([OutboundRecord(self.events, k, v) for k, v in records], timeout_s=60)

    def ingester(self, store: VisibilityStore) -> Ingester:
        ingester = Ingester(store, serde, self.bootstrap, self.events, self.dlq, batch_max=500)
        ingester.open()
        return ingester

    def dead_letters(self) -> list[dict[str, bytes]]:
        consumer = new_consumer(self.bootstrap, uuid.uuid4().hex)
        try:
            _low, high = consumer.get_watermark_offsets(TopicPartition(self.dlq, 0), timeout=10, cached=False)
            consumer.assign([TopicPartition(self.dlq, 0, 0)])
            out: list[dict[str, bytes]] = []
            while len(out) < high:
                for m in consumer.consume(100, 5):
                    out.append(dict(m.headers() or []))  # type: ignore[arg-type]
            return out
        finally:
            consumer.close()


@pytest.fixture
def app(kafka_admin: KafkaAdmin, kafka_bootstrap: str) -> App:
    return App(kafka_admin, kafka_bootstrap)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Callable[[str], VisibilityStore]]:
    opened: list[VisibilityStore] = []

    def make(name: str) -> VisibilityStore:
        store = VisibilityStore(f"sqlite:///{tmp_path / name}.sqlite3")
        store.create()
        opened.append(store)
        return store

    yield make
    for s in opened:
        s.close()


def test_ingest_resumes_from_its_offsets_and_dead_letters_bad_records(
    app: App, sqlite_store: Callable[[str], VisibilityStore]
) -> None:
    records = list(encoded_events(serde, 0, 60))
    half = len(records) // 2
    app.produce(records[:half])
    app.produce([(b"order-00000001", b"\x00not avro at all")])
    store = sqlite_store("incremental")
    first = app.ingester(store)
    done = first.catch_up(60)
    first.close()
    assert done.caught_up and done.applied == half
    (dead,) = app.dead_letters()
    assert dead["sb-dlq-reason"] == b"malformed" and dead["sb-dlq-source-topic"] == app.events.encode()
    assert store.counters()["dead_lettered"] == 1

    app.produce(records[half:])
    second = app.ingester(store)  # a new process: starts from the offsets the store holds
    done = second.catch_up(60)
    assert done.caught_up and done.applied == len(records) - half
    assert second.catch_up(5).applied == 0  # nothing new: nothing re-applied
    second.close()
    assert store.counters()["events_ingested"] == len(records)
    assert len(app.dead_letters()) == 1  # the bad record was dead-lettered once

    rebuilt = sqlite_store("rebuilt")
    from_scratch = app.ingester(rebuilt)
    from_scratch.catch_up(60)
    from_scratch.close()
    assert dump(rebuilt) == dump(store)
    counts = WorkflowQueries(store).counts()
    assert counts.total == 60 and counts.by_status[WorkflowStatus.COMPLETED] > 40


def test_ingest_follows_the_topic_in_the_background(app: App, sqlite_store: Callable[[str], VisibilityStore]) -> None:
    import threading

    store = sqlite_store("live")
    ingester = app.ingester(store)
    stop = threading.Event()
    thread = threading.Thread(target=ingester.run, args=(stop,), daemon=True)
    thread.start()
    try:
        app.produce(list(encoded_events(serde, 0, 5)))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and WorkflowQueries(store).counts().total < 5:
            time.sleep(0.1)
        assert WorkflowQueries(store).counts().total == 5
        assert ingester.status.running and ingester.status.last_error is None
    finally:
        stop.set()
        thread.join(30)
        ingester.close()
    assert not thread.is_alive()


@pytest.mark.slow
def test_sigkill_mid_ingest_loses_and_doubles_nothing(
    app: App, sqlite_store: Callable[[str], VisibilityStore], tmp_path: Path
) -> None:
    records = list(encoded_events(serde, 0, 3_000))
    app.produce(records)
    url = f"sqlite:///{tmp_path / 'killed.sqlite3'}"
    env = {
        **os.environ,
        "SAGABRIDGE_APP": app.name,
        "SAGABRIDGE_BOOTSTRAP_SERVERS": app.bootstrap,
        "SAGABRIDGE_VISIBILITY__STORE_URL": url,
        "SAGABRIDGE_VISIBILITY__BATCH_MAX": "200",
    }
    cmd = [sys.executable, "-m", "orchestrator.cli", "visibility", "sync", "--timeout", "300"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watcher = VisibilityStore(url)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # kill it once some, not all, batches are committed
            try:
                ingested = watcher.counters().get("events_ingested", 0)
            except Exception:  # the schema may not exist yet
                ingested = 0
            if 0 < ingested < len(records) or proc.poll() is not None:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        partial = watcher.counters()["events_ingested"]
        assert partial < len(records), "the ingest finished before it could be killed"
        finished = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
        assert watcher.counters()["events_ingested"] == len(records)
        rebuilt = sqlite_store("reference")
        reference = app.ingester(rebuilt)
        reference.catch_up(120)
        reference.close()
        assert dump(watcher) == dump(rebuilt)
    finally:
        if proc.poll() is None:
            proc.kill()
        watcher.close()
