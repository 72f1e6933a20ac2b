"""Turns what the engine harness produced into the events topic's records, and feeds a store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from orchestrator.testing import WorkflowEnvironment
from orchestrator.transport.records import InboundRecord, OutboundRecord
from orchestrator.visibility.api_models import IngestView
from orchestrator.visibility.ingest import decode_event
from orchestrator.visibility.projection import SourceEvent
from orchestrator.visibility.store import BatchResult, VisibilityStore
from tests.engine.workflows import EVENTS

TOPIC = "app.events"


class EventsTopic:
    """An in-memory single-partition events topic: offsets grow as the engine produces."""

    def __init__(self, harness: WorkflowEnvironment) -> None:
        self.harness = harness
        self.records: list[InboundRecord] = []
        self._seen = 0

    def pull(self) -> list[InboundRecord]:
        """Append the engine's new events-topic records; returns them."""
        new = [r for r in self.harness.produced[self._seen :] if r.topic == EVENTS]
        self._seen = len(self.harness.produced)
        added = [self._inbound(r, len(self.records) + i) for i, r in enumerate(new)]
        self.records.extend(added)
        return added

    @staticmethod
    def _inbound(r: OutboundRecord, offset: int) -> InboundRecord:
        return InboundRecord(topic=TOPIC, partition=0, offset=offset, key=r.key, value=r.value, headers=r.headers)

    def events(self, records: Iterable[InboundRecord] | None = None) -> list[SourceEvent]:
        out = []
        for r in self.records if records is None else records:
            e = decode_event(self.harness.serde, r)
            if e is not None:
                out.append(e)
        return out


def apply(store: VisibilityStore, records: Sequence[InboundRecord], events: Sequence[SourceEvent]) -> BatchResult:
    positions = {0: records[-1].offset + 1} if records else {}
    return store.apply_batch(TOPIC, events, positions)


def sync(store: VisibilityStore, topic: EventsTopic) -> BatchResult:
    """Project what the engine produced since the last sync."""
    records = topic.pull()
    return apply(store, records, topic.events(records))


def idle_ingest(store: str, backend: str) -> IngestView:
    """The status endpoint's view of a server whose store is filled by the test, not an ingester."""
    return IngestView(
        topic="t",
        store=store,
        backend=backend,
        ingesting=False,
        running=False,
        caught_up=True,
        lag={},
        events_ingested=0,
        dead_lettered=0,
        batches=0,
    )
