"""SIGKILL of the connector process mid-stream loses and doubles nothing.

A real `orchestrator connectors run` process maps a stream of JSON domain events (some of them
garbage) while a producer keeps publishing; it is SIGKILLed three times at points of *progress*
and restarted. Afterwards the committed inbox and DLQ topics hold every source event's effect
exactly once: one inbox record per good event, one DLQ record per bad one, nothing else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.consumer import to_inbound
from orchestrator.transport.kafka_clients import consumer_config
from orchestrator.transport.records import InboundRecord
from tests.bridge.harness import Event, json_event, produce
from tests.integration.harness import ROOT, App

TOTAL = 6_000
BAD_EVERY = 97
PARTITIONS = 3

MAPPING = """
domain = "orders"

[[source]]
topic = "{topic}"
format = "json"
event_type = "value.type"

[[trigger]]
name = "order-placed"
topics = ["{topic}"]
event = "OrderPlaced"
correlation = "order-{{value.orderId}}"
action = "start"
workflow_type = "order-fulfilment"
input_schema = "sagabridge.demo.orders.OrderPlaced"
message_id = "headers.ce_id"

[trigger.input]
order_id = "value.orderId"
customer_id = "value.customer"
sku = "value.sku"
quantity = "value.qty"
amount_cents = "value.cents"
currency = "'EUR'"
"""


class Watcher:
    """Reads the committed records of some topics from the beginning, incrementally."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.consumer = Consumer({**consumer_config(bootstrap), "group.id": uuid.uuid4().hex})
        parts = []
        for topic in topics:
            meta = self.consumer.list_topics(topic, timeout=10).topics[topic]
            parts += [TopicPartition(topic, p, 0) for p in meta.partitions]
        self.consumer.assign(parts)
        self.records: list[InboundRecord] = []

    def poll(self, timeout_s: float = 0.2) -> int:
        for msg in self.consumer.consume(1000, timeout_s):
            if msg.error() is None:
                self.records.append(to_inbound(msg))
        return len(self.records)

    def close(self) -> None:
        self.consumer.close()


class ConnectorProcess:
    def __init__(self, app: App, config: Path, log: Path) -> None:
        self.app, self.config, self.log = app, config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ConnectorProcess:
        env = {**os.environ, **self.app.env("0"), "SAGABRIDGE_LOG_LEVEL": "INFO"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "connectors", "run", "--config", str(self.config)],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)


def test_sigkill_mid_stream_loses_and_doubles_nothing(app: App, kafka_admin: KafkaAdmin, tmp_path: Path) -> None:
    source = f"{app.name}.orders.events"
    kafka_admin.create(source, PARTITIONS, 1, {})
    mapping = tmp_path / "orders.toml"
    mapping.write_text(MAPPING.format(topic=source))
    bad = {i for i in range(TOTAL) if i % BAD_EVERY == BAD_EVERY - 1}

    def publish() -> None:  # the orders service keeps publishing while the connector dies and restarts
        for start in range(0, TOTAL, 200):
            batch: list[Event] = []
            for i in range(start, min(TOTAL, start + 200)):
                if i in bad:
                    batch.append((f"o{i}", b"{not json", {}))
                else:
                    order = {
                        "type": "OrderPlaced",
                        "orderId": f"o{i}",
                        "customer": "c",
                        "sku": "s",
                        "qty": 1,
                        "cents": i,
                    }
                    batch.append(json_event(f"o{i}", order, ce_id=f"evt-{i}"))
            produce(app.bootstrap, source, batch)
            time.sleep(0.1)

    publisher = threading.Thread(target=publish, daemon=True)
    watcher = Watcher(app.bootstrap, [f"{app.name}.inbox", f"{app.name}.dlq"])
    log = tmp_path / "connector.log"
    proc = ConnectorProcess(app, mapping, log).start()
    publisher.start()
    seen_at_kill = []
    try:
        for kill_point in (600, 2_200, 3_800):
            deadline = time.monotonic() + 120
            while watcher.poll() < kill_point and time.monotonic() < deadline:
                pass
            assert len(watcher.records) >= kill_point, log.read_text()[-3000:]
            proc.kill()
            seen_at_kill.append(watcher.poll(0.5))
            proc = ConnectorProcess(app, mapping, log).start()
        publisher.join(120)
        deadline = time.monotonic() + 180
        while watcher.poll() < TOTAL and time.monotonic() < deadline:
            pass
        time.sleep(2.0)  # anything doubled would show up now
        watcher.poll(1.0)
    finally:
        proc.terminate()
        watcher.close()
    assert all(n < TOTAL for n in seen_at_kill), seen_at_kill  # every kill hit the stream mid-way
    inbox = [r for r in watcher.records if r.topic.endswith(".inbox")]
    dlq = [r for r in watcher.records if r.topic.endswith(".dlq")]
    effects = Counter((r.header("sb-source-partition"), r.header("sb-source-offset")) for r in inbox)
    doubled = {k: n for k, n in effects.items() if n > 1}
    assert not doubled, f"source events with more than one inbox effect: {list(doubled.items())[:5]}"
    assert len(inbox) == TOTAL - len(bad), (len(inbox), TOTAL - len(bad))
    assert sorted(r.header("sb-message-id") or "" for r in inbox) == sorted(
        f"evt-{i}" for i in range(TOTAL) if i not in bad
    )
    assert sorted((r.key or b"").decode() for r in dlq) == sorted(f"o{i}" for i in bad)
    assert {r.header("sb-dlq-reason") for r in dlq} == {"malformed"}
