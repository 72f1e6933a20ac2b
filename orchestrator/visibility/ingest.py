"""Feeds the visibility store from the events topic: read_committed, batched, resumable.

The ingester reads every partition of `<app>.events` from the offsets stored in the visibility
store (transport.tail.TopicTail, assign-only), decodes each record and hands a batch to
`VisibilityStore.apply_batch`, which folds it and moves the offsets in one transaction. A crash
anywhere simply means the next start re-reads from the stored offsets; the store skips what it
already has. An undecodable record is dead-lettered to `<app>.dlq` (reason and source in the
headers) before its batch commits, so it is neither lost nor able to stall a partition.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from orchestrator.errors import DecodeError, SagaBridgeError, SchemaRegistryUnavailableError
from orchestrator.serialization import AvroSerde
from orchestrator.transport.delivery import DeliveringProducer
from orchestrator.transport.dlq import dead_letter
from orchestrator.transport.records import InboundRecord, OutboundRecord
from orchestrator.transport.tail import TopicTail
from orchestrator.visibility.projection import EVENTS_NAMESPACE, SourceEvent
from orchestrator.visibility.store import BatchResult, VisibilityStore

log = logging.getLogger(__name__)
_MAX_BACKOFF_S = 5.0
_REFRESH_PARTITIONS_S = 30.0


def decode_event(serde: AvroSerde, record: InboundRecord) -> SourceEvent | None:
    """The record as a projection input; None when it names no workflow (no key, tombstone).
    Raises DecodeError for bad bytes (the caller dead-letters the record)."""
    if record.value is None or record.key is None:
        return None
    decoded = serde.decode(record.value)
    workflow_id = decoded.value.get("workflow_id") if decoded.schema_name.startswith(EVENTS_NAMESPACE) else None
    if not isinstance(workflow_id, str):
        try:
            workflow_id = record.key.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return SourceEvent(record.partition, record.offset, workflow_id, decoded.schema_name, decoded.value, record.value)


@dataclass
class IngestStatus:
    """What the ingester is doing, for the API's status endpoint and logs."""

    topic: str
    running: bool = False
    caught_up: bool = False
    lag: dict[int, int] = field(default_factory=dict)
    applied: int = 0  # events folded by this process
    dead_lettered: int = 0
    batches: int = 0
    last_batch_at_ms: int | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What `Ingester.catch_up` did: events applied, whether it reached the end, how long it took."""

    applied: int
    caught_up: bool
    seconds: float


class Ingester:
    """Follows `<app>.events` into a VisibilityStore, one transaction per batch (offsets included)."""

    def __init__(
        self,
        store: VisibilityStore,
        serde: AvroSerde,
        bootstrap_servers: str,
        topic: str,
        dlq_topic: str,
        extra_config: Mapping[str, str] | None = None,
        *,
        batch_max: int = 5_000,
        poll_timeout_s: float = 0.2,
        request_timeout_s: float = 10.0,
    ) -> None:
        self.store = store
        self.serde = serde
        self.topic = topic
        self.dlq_topic = dlq_topic
        self.batch_max = batch_max
        self.poll_timeout_s = poll_timeout_s
        self.request_timeout_s = request_timeout_s
        self.status = IngestStatus(topic)
        self._bootstrap = bootstrap_servers
        self._extra = dict(extra_config or {})
        self._tail = self._new_tail()
        self._dlq: DeliveringProducer | None = None
        self._refreshed_at = 0.0

    def _new_tail(self) -> TopicTail:
        return TopicTail(self._bootstrap, self.topic, self._extra, request_timeout_s=self.request_timeout_s)

    def open(self) -> None:
        """Assign every partition from the stored offsets; a missing topic fails here (TopicMissingError)."""
        self._tail.assign(self.store.offsets(self.topic))
        self._refreshed_at = time.monotonic()

    def close(self) -> None:
        """Close the reader and the dead-letter producer."""
        self._tail.close()
        if self._dlq is not None:
            self._dlq.close()

    # --- one batch ----------------------------------------------------------------------------------
    def step(self, timeout_s: float | None = None) -> BatchResult | None:
        """Read what is there (waiting up to `timeout_s` for the first record) and apply it."""
        records = self._tail.poll(self.batch_max, self.poll_timeout_s if timeout_s is None else timeout_s)
        positions = self._tail.positions()
        if not records:
            if any(p >= 0 for p in positions.values()):
                self._store_positions(positions)  # markers only: keep the lag honest
            return None
        events: list[SourceEvent] = []
        dead: list[OutboundRecord] = []
        for record in records:
            try:
                event = decode_event(self.serde, record)
            except SchemaRegistryUnavailableError:
                raise  # transient: the batch is retried, nothing is dead-lettered
            except DecodeError as exc:
                dead.append(dead_letter(record, self.dlq_topic, exc))
                continue
            if event is not None:
                events.append(event)
        if dead:
            self._dead_letter(dead)
        ends = {r.partition: r.offset + 1 for r in records}
        for p in ends:  # the position also covers transaction markers after the last record
            ends[p] = max(ends[p], positions.get(p, -1))
        result = self.store.apply_batch(self.topic, events, ends, dead_lettered=len(dead))
        self.status.applied += result.applied
        self.status.dead_lettered += len(dead)
        self.status.batches += 1
        self.status.last_batch_at_ms = int(time.time() * 1000)
        return result

    def _store_positions(self, positions: Mapping[int, int]) -> None:
        stored = self.store.offsets(self.topic)
        moved = {p: o for p, o in positions.items() if o > stored.get(p, 0)}
        if moved:
            self.store.apply_batch(self.topic, [], moved)

    def _dead_letter(self, records: list[OutboundRecord]) -> None:
        if self._dlq is None:
            self._dlq = DeliveringProducer(self._bootstrap, self._extra)
        self._dlq.send_all(records, timeout_s=self.request_timeout_s)
        for r in records:
            log.warning(
                "dead-lettered %s to %s: %s", r.header("sb-dlq-source-offset"), r.topic, r.header("sb-dlq-error")
            )

    # --- loops --------------------------------------------------------------------------------------
    def catch_up(self, timeout_s: float, progress: Callable[[int, int], None] | None = None) -> CatchUp:
        """Apply everything committed to the topic up to now, then return (or at the deadline).
        `progress(done, total)` is called after each batch with records read so far."""
        started = time.monotonic()
        deadline = started + timeout_s
        ends = self._tail.end_offsets()
        stored = self.store.offsets(self.topic)
        total = sum(max(0, end - stored.get(p, 0)) for p, end in ends.items())
        applied = 0
        while True:
            positions = {p: max(o, stored.get(p, 0)) for p, o in self._tail.positions().items()}
            remaining = sum(max(0, end - positions.get(p, 0)) for p, end in ends.items())
            if progress is not None:
                progress(total - remaining, total)
            if remaining == 0:
                self.status.caught_up = True
                return CatchUp(applied, True, time.monotonic() - started)
            if time.monotonic() >= deadline:
                return CatchUp(applied, False, time.monotonic() - started)
            result = self.step(timeout_s=min(0.5, max(0.0, deadline - time.monotonic())))
            applied += 0 if result is None else result.applied

    def run(self, stop: threading.Event) -> None:
        """Follow the topic until `stop` is set. Failures (broker, database) are logged, shown in
        `status`, and retried with backoff from the stored offsets: the API keeps serving."""
        self.status.running = True
        backoff = 0.1
        rewind = False
        try:
            while not stop.is_set():
                try:
                    if rewind:  # a fresh assignment from the store's offsets: unlike a seek, it
                        if self._tail.lost:  # works in any fetch state; a reader that missed a
                            self._tail = self._new_tail()  # deadline is dropped, never reused
                        self._tail.assign(self.store.offsets(self.topic))
                        rewind = False
                    if time.monotonic() - self._refreshed_at > _REFRESH_PARTITIONS_S:
                        self._refreshed_at = time.monotonic()
                        stored = self.store.offsets(self.topic)
                        self._tail.refresh(stored)
                        self.status.lag = self._tail.lag(stored)
                    result = self.step()
                    if result is None:
                        self.status.caught_up = True
                        self.status.lag = {}
                    self.status.last_error = None
                    backoff = 0.1
                except SagaBridgeError as exc:
                    self.status.last_error = f"{type(exc).__name__}: {exc}"
                    log.error("visibility ingest failed (retrying in %.1fs): %s", backoff, self.status.last_error)
                    stop.wait(backoff)
                    backoff = min(_MAX_BACKOFF_S, backoff * 2)
                    rewind = True  # the reader may be past what the store committed
        finally:
            self.status.running = False
