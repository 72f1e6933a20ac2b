"""Test harness for end-to-end runs on the real broker: topics, orchestrators, services, outcomes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from orchestrator.client import TERMINAL_EVENTS, WorkflowClient
from orchestrator.config import OrchestratorSettings
from orchestrator.engine.runner import Orchestrator
from orchestrator.serialization import DecodedRecord, SchemaRepository, SingleObjectSerde
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.consumer import to_inbound
from orchestrator.transport.kafka_clients import new_consumer
from orchestrator.transport.records import InboundRecord
from orchestrator.worker import Service
from orchestrator.workflow import WorkflowRegistry, WorkflowStatus

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("inventory", "payments", "shipping")
serde = SingleObjectSerde(SchemaRepository())


@dataclass
class App:
    """One isolated application: its own topics, state dir and names."""

    name: str
    bootstrap: str
    state_dir: Path
    partitions: int

    @property
    def template(self) -> str:
        return "{app}.{service}.commands"  # the engine fills in {app} (issue 14: it used to KeyError)

    def command_topic(self, service: str) -> str:
        return f"{self.name}.{service}.commands"

    def settings(self, instance_id: str = "0", **overrides: Any) -> OrchestratorSettings:
        values: dict[str, Any] = {
            "app": self.name,
            "bootstrap_servers": self.bootstrap,
            "instance_id": instance_id,
            "state_dir": self.state_dir / instance_id,
            "command_topic_template": self.template,
            "commit_interval_ms": 50,
            "kafka": {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"},
        }
        values.update(overrides)
        return OrchestratorSettings(**values)

    def env(self, instance_id: str = "0") -> dict[str, str]:
        return {
            "SAGABRIDGE_APP": self.name,
            "SAGABRIDGE_BOOTSTRAP_SERVERS": self.bootstrap,
            "SAGABRIDGE_INSTANCE_ID": instance_id,
            "SAGABRIDGE_STATE_DIR": str(self.state_dir / instance_id),
            "SAGABRIDGE_COMMAND_TOPIC_TEMPLATE": self.template,
            "SAGABRIDGE_COMMIT_INTERVAL_MS": "50",
            "SAGABRIDGE_KAFKA__SESSION.TIMEOUT.MS": "6000",
            "SAGABRIDGE_LOG_LEVEL": "INFO",
        }

    def client(self) -> WorkflowClient:
        return WorkflowClient(self.bootstrap, self.name, serde)


def create_app(admin: KafkaAdmin, bootstrap: str, tmp: Path, partitions: int = 3) -> App:
    app = App(f"it-{uuid.uuid4().hex[:10]}", bootstrap, tmp / "state", partitions)
    admin.create(f"{app.name}.inbox", partitions, 1, {})
    admin.create(f"{app.name}.changelog", partitions, 1, {"cleanup.policy": "compact"})
    admin.create(f"{app.name}.events", partitions, 1, {})
    admin.create(f"{app.name}.dlq", 1, 1, {})
    for service in SERVICES:
        admin.create(app.command_topic(service), 2, 1, {})
    return app


class OrchestratorThread:
    """An in-process orchestrator (fast to start); stop() is the graceful SIGTERM path."""

    def __init__(self, settings: OrchestratorSettings, registry: WorkflowRegistry, **kwargs: Any) -> None:
        self.orchestrator = Orchestrator(settings, registry, serde=serde, **kwargs)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.orchestrator.run()
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def start(self) -> OrchestratorThread:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30) -> None:
        self.orchestrator.stop()
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "orchestrator did not stop"
        if self.error is not None:
            raise self.error


class OrchestratorProcess:
    """A real orchestrator process, for SIGKILL tests."""

    def __init__(
        self, app: App, module: str, log: Path, instance_id: str = "0", extra_env: dict[str, str] | None = None
    ) -> None:
        self.app, self.module, self.log, self.instance_id = app, module, log, instance_id
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OrchestratorProcess:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "run", "--app", self.module],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, **self.app.env(self.instance_id), **self.extra_env},
        )
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout_s: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout_s)
        return int(self.proc.returncode or 0)


class ServiceThread:
    def __init__(self, service: Service) -> None:
        self.service = service
        self._thread = threading.Thread(target=service.run, kwargs={"poll_timeout_s": 0.2}, daemon=True)

    def start(self) -> ServiceThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.service.stop()
        self._thread.join(20)


def make_service(app: App, name: str, handlers: Callable[[Service], None], concurrency: int = 8) -> Service:
    service = Service(
        name,
        app.bootstrap,
        serde,
        command_topic=app.command_topic(name),
        group_id=f"{app.name}-{name}",
        concurrency=concurrency,
    )
    handlers(service)
    return service


@dataclass
class EventLog:
    """Reads an app's events topic (all partitions) and remembers everything."""

    app: App
    records: list[tuple[InboundRecord, DecodedRecord]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._consumer = new_consumer(self.app.bootstrap, uuid.uuid4().hex)
        topic = f"{self.app.name}.events"
        parts = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, 0) for p in parts])

    def poll(self, timeout_s: float = 0.3) -> None:
        for msg in self._consumer.consume(1000, timeout_s):
            if msg.error() is None:
                record = to_inbound(msg)
                self.records.append((record, serde.decode(record.value or b"")))

    def outcomes(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for _record, decoded in self.records:
            status = TERMINAL_EVENTS.get(decoded.schema_name)
            if decoded.schema_name == "sagabridge.events.WorkflowParked":
                status = WorkflowStatus.PARKED
            wf = decoded.value.get("workflow_id")
            if status and isinstance(wf, str):
                out[wf] = status
        return out

    def of(self, workflow_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            d.value
            for _r, d in self.records
            if d.value.get("workflow_id") == workflow_id and (kind is None or d.schema_name.endswith("." + kind))
        ]

    def wait_for(self, ids: Iterable[str], timeout_s: float = 60, statuses: set[str] | None = None) -> dict[str, str]:
        wanted = set(ids)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll()
            got = self.outcomes()
            done = {w for w in wanted if w in got and (statuses is None or got[w] in statuses)}
            if done == wanted:
                return {w: got[w] for w in wanted}
        got = self.outcomes()
        missing = sorted(w for w in wanted if w not in got)
        raise AssertionError(f"{len(missing)} workflows without outcome after {timeout_s}s: {missing[:5]}")

    def wait_until(self, done: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
        """Poll until `done()` holds (a deadline for a liveness property, not a speed budget)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll()
            if done():
                return
        raise AssertionError(f"{what} did not happen within {timeout_s}s; outcomes {self.outcomes()}")

    def close(self) -> None:
        self._consumer.close()


def read_committed(bootstrap: str, topic: str, idle_s: float = 2.0) -> list[InboundRecord]:
    """Everything committed on a topic, read to the end."""
    consumer = new_consumer(bootstrap, uuid.uuid4().hex)
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in parts])
    out: list[InboundRecord] = []
    last = time.monotonic()
    while time.monotonic() - last < idle_s:
        msgs = consumer.consume(1000, 0.3)
        for msg in msgs:
            if msg.error() is None:
                out.append(to_inbound(msg))
                last = time.monotonic()
    consumer.close()
    return out
