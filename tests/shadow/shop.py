"""Shared helpers for the shadow tests: the shop's mapping and a generated log observed without Kafka."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from examples.choreography.generated_log import Event, GeneratedLog
from orchestrator.bridge import ConnectorConfig, load_connector_file
from orchestrator.models.shadow import Observation
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.shadow.case_store import CaseStore, StoredCase
from orchestrator.shadow.observe import Observer
from orchestrator.shadow.settings import ShadowSettings, shadow_settings
from orchestrator.shadow.stats import ShadowStats
from orchestrator.testing.memory_store import MemoryStore
from orchestrator.transport.records import InboundRecord, make_headers

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "connectors" / "shop.toml"
HAPPY = ("OrderPlaced", "StockReserved", "PaymentCharged", "ShipmentCreated")
DECLINED = ("OrderPlaced", "StockReserved", "PaymentDeclined", "StockReleased")


def shop_config(prefix: str) -> ConnectorConfig:
    return load_connector_file(MAPPING, {"SHOP_PREFIX": prefix})


def shop_repo(config: ConnectorConfig) -> SchemaRepository:
    return SchemaRepository(list(config.schemas_dir))


def record_of(event: Event, prefix: str, offset: int, partition: int = 0) -> InboundRecord:
    return InboundRecord(
        f"{prefix}.{event.service}.events",
        partition,
        offset,
        event.order_id.encode(),
        json.dumps(event.value).encode(),
        make_headers([(k, v or "") for k, v in event.headers()]),
        event.timestamp_ms,
    )


class InMemoryShadow:
    """Observer + case store on an in-memory store: the runtime's two stages without a broker."""

    def __init__(self, prefix: str, settings: ShadowSettings | None = None, grace_ms: int = 300_000) -> None:
        self.config = shop_config(prefix)
        self.settings = settings or shadow_settings(self.config)
        self.repo = shop_repo(self.config)
        self.serde = SingleObjectSerde(self.repo)
        self.prefix = prefix
        self.observer = Observer(self.config, self.settings, self.repo, self.serde, "obs", "dlq")
        self.store = MemoryStore()
        self.txn = self.store.begin()
        self.case_store = CaseStore(self.txn, self.serde)
        self.stats = ShadowStats()
        self.grace_ms = grace_ms
        self.offset = 0
        self.dead_letters: list[str] = []

    def feed(self, records: Iterable[InboundRecord]) -> None:
        cases = self.case_store
        for record in records:
            for out in self.observer.observe(record, self.stats):
                if out.topic == "dlq":
                    self.dead_letters.append(out.header("sb-dlq-reason") or "")
                    continue
                assert out.value is not None
                value = self.serde.decode(out.value, Observation.avro_schema_name).value
                result = cases.apply(Observation.from_avro(value), self.grace_ms, out.value)
                self.stats.duplicates += int(result.applied.value == "duplicate")
                self.stats.out_of_order += int(result.out_of_order)
                self.stats.late += int(result.late)

    def feed_log(self, log: GeneratedLog) -> None:
        records = []
        for event in log.events:
            self.offset += 1
            records.append(record_of(event, self.prefix, self.offset))
        self.feed(records)

    def cases(self) -> list[StoredCase]:
        self.case_store.flush()
        return list(self.case_store.cases())


def independent_conformance(log: GeneratedLog) -> dict[str, bool]:
    """The test's own replay, sharing no code with shadow mode: after dropping re-published events
    (same ce_id) and ordering by time, a case conforms iff it took one of the workflow's two paths."""
    by_case: dict[str, dict[str, Event]] = {}
    for event in log.events:
        by_case.setdefault(f"order-{event.order_id}", {})[event.ce_id] = event
    verdicts = {}
    for case, events in by_case.items():
        path = tuple(e.value["eventType"] for e in sorted(events.values(), key=lambda e: e.timestamp_ms))
        verdicts[case] = path in (HAPPY, DECLINED)
    return verdicts


__all__ = ["DECLINED", "HAPPY", "MAPPING", "InMemoryShadow", "independent_conformance", "record_of", "shop_config"]
