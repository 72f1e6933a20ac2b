"""Helpers for the bridge tests on the real broker: domain topics, producing events, a connector thread."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Producer
from opentelemetry.metrics import MeterProvider

from orchestrator.bridge.mapping import ConnectorConfig, parse_connector_config
from orchestrator.bridge.runtime import ConnectorRuntime, FaultHook
from orchestrator.config import OrchestratorSettings
from orchestrator.testing.background import BackgroundRuntime
from orchestrator.transport.partitioning import PRODUCER_PARTITIONER
from orchestrator.transport.records import InboundRecord
from tests.integration.harness import App, read_committed, serde

Event = tuple[str | None, bytes | None, dict[str, str]]


def json_event(key: str | None, value: dict[str, Any], **headers: str) -> Event:
    return key, json.dumps(value).encode(), headers


def produce(bootstrap: str, topic: str, events: Iterable[Event], partition: int | None = None) -> None:
    """What the domain services do: plain idempotent produce, keyed by their own key."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, **PRODUCER_PARTITIONER})
    for key, value, headers in events:
        kwargs: dict[str, Any] = {
            "key": None if key is None else key.encode(),
            "value": value,
            "headers": list(headers.items()),
        }
        if partition is not None:
            kwargs["partition"] = partition
        producer.produce(topic, **kwargs)
    assert producer.flush(30) == 0


def config(raw: dict[str, Any]) -> ConnectorConfig:
    return parse_connector_config(raw, "test")


class ConnectorThread(BackgroundRuntime[ConnectorRuntime]):
    """An in-process connector runtime; stop() is the graceful (SIGTERM) path."""

    def __init__(
        self,
        settings: OrchestratorSettings,
        connector: ConnectorConfig,
        fault_hook: FaultHook | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        super().__init__(
            ConnectorRuntime(
                settings,
                connector,
                inbox_serde=serde,
                stats_interval_s=0.5,
                fault_hook=fault_hook,
                meter_provider=meter_provider,
            )
        )

    def wait_for(self, events: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while self.runtime.stats.events < events and time.monotonic() < deadline and self.error is None:
            time.sleep(0.05)
        assert self.error is None, self.error
        assert self.runtime.stats.events >= events, self.runtime.stats_json()

    def stop(self, timeout_s: float = 30) -> None:
        super().stop(timeout_s)


def dlq_records(app: App, topic: str | None = None) -> list[InboundRecord]:
    return read_committed(app.bootstrap, topic or f"{app.name}.dlq", idle_s=1.0)
