"""Helpers of the orchestrator cases: an app's topics, orchestrator processes, the events they emit.

An orchestrator here is a real process (`python -m orchestrator.cli run --app benchmarks.orchestrator_app`)
so its RSS and CPU (/proc/<pid>) are its own; its settings travel as SAGABRIDGE_* variables and
its log (INFO, including one "partition N restored: RestoreStats(...)" line per assigned
partition) goes to a file in the run's work dir.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, ConsumerGroupState, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from benchmarks.echo_participant import start_echo_processes
from benchmarks.errors import BenchmarkError
from benchmarks.machine import cpu_seconds, rss_bytes
from benchmarks.model import BenchContext
from benchmarks.workflow import SERVICES, order
from orchestrator.client import WorkflowClient
from orchestrator.devstack.child_process import stop_all
from orchestrator.serialization import DecodedRecord, SchemaRepository, SingleObjectSerde
from orchestrator.serialization.single_object import HEADER_BYTES, single_object_header

REPO = Path(__file__).resolve().parent.parent
APP_MODULE = "benchmarks.orchestrator_app"
REPOSITORY = SchemaRepository()
serde = SingleObjectSerde(REPOSITORY)
_RESTORED = re.compile(r"partition (\d+) restored: RestoreStats\(partition=\d+, records=(\d+), seconds=([\d.e-]+)")


def event_prefix(name: str) -> bytes:
    """The single-object frame prefix of a lifecycle event: counting by it needs no Avro decode."""
    return single_object_header(REPOSITORY.entry(f"sagabridge.events.{name}"))


@dataclass(frozen=True)
class RestoreLine:
    partition: int
    records: int
    seconds: float


@dataclass
class BenchApp:
    """One orchestrator application on the bench broker: its own topics, group and state dirs."""

    ctx: BenchContext
    partitions: int
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.ctx.name("orch")
        topics = {"inbox": {}, "changelog": {"cleanup.policy": "compact"}, "events": {}, "dlq": {}}
        for suffix, config in topics.items():
            self._create(f"{self.name}.{suffix}", self.partitions if suffix != "dlq" else 1, config)
        for service in SERVICES:
            self._create(self.command_topic(service), self.partitions, {})

    def _create(self, topic: str, partitions: int, config: dict[str, str]) -> None:
        self.ctx.admin.create(topic, partitions, 1, config)
        self.ctx.created_topics.append(topic)  # deleted by the runner with the run's other topics

    @property
    def group(self) -> str:
        return f"{self.name}-orchestrator"

    @property
    def events_topic(self) -> str:
        return f"{self.name}.events"

    def command_topic(self, service: str) -> str:
        return f"{self.name}.{service}.commands"

    def echo_group(self, service: str) -> str:
        return f"{self.name}-{service}"

    def state_dir(self, instance_id: str) -> Path:
        return self.ctx.workdir / self.name / instance_id

    def env(self, instance_id: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SAGABRIDGE_"))}
        return {
            **base,
            "SAGABRIDGE_APP": self.name,
            "SAGABRIDGE_BOOTSTRAP_SERVERS": self.ctx.bootstrap,
            "SAGABRIDGE_INSTANCE_ID": instance_id,
            "SAGABRIDGE_STATE_DIR": str(self.state_dir(instance_id)),
            "SAGABRIDGE_COMMAND_TOPIC_TEMPLATE": f"{self.name}.{{service}}.commands",
            "SAGABRIDGE_COMMIT_INTERVAL_MS": str(self.ctx.commit_interval_ms),
            "SAGABRIDGE_LOG_LEVEL": "INFO",
            "OTEL_SDK_DISABLED": "true",
            # The group settings are the orchestrator's defaults (the hand-over figures are about them).
            "SAGABRIDGE_LIVENESS_FILE": str(self.liveness_file(instance_id)),
            "SAGABRIDGE_LIVENESS_INTERVAL_S": "0.2",
        }

    def liveness_file(self, instance_id: str) -> Path:
        """The instance's liveness file: its JSON status says which partitions it owns right now."""
        return self.ctx.workdir / f"{self.name}-{instance_id}.alive"

    def client(self) -> WorkflowClient:
        return WorkflowClient(self.ctx.bootstrap, self.name, serde)

    @contextlib.contextmanager
    def echo_participants(self) -> Iterator[None]:
        """One echo process per service (separate processes), stopped on every exit path."""
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for service in SERVICES:
                procs += start_echo_processes(self.ctx.bootstrap, self.command_topic(service), self.echo_group(service))
            yield
        finally:
            stop_all(procs)


@dataclass
class OrchestratorProc:
    """One `orchestrator run` process of a BenchApp; stop() is SIGTERM (final checkpoint), then kill."""

    app: BenchApp
    instance_id: str
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.app.ctx.workdir / f"{self.app.name}-{self.instance_id}.log"

    def start(self) -> OrchestratorProc:
        self._log_from = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orchestrator.cli", "run", "--app", APP_MODULE],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
                env=self.app.env(self.instance_id),
            )
        return self

    @property
    def liveness_file(self) -> Path:
        return self.app.liveness_file(self.instance_id)

    def terminate(self, timeout_s: float = 60) -> None:
        if self.proc is not None:
            stop_all([self.proc], timeout_s=timeout_s)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
            raise BenchmarkError(f"orchestrator {self.instance_id} exited; log tail:\n{tail}")

    def restores(self) -> list[RestoreLine]:
        """The restore lines this start of the process logged so far."""
        with self.log.open("rb") as f:
            f.seek(self._log_from)
            text = f.read().decode(errors="replace")
        return [RestoreLine(int(p), int(r), float(s)) for p, r, s in _RESTORED.findall(text)]

    def rss_mib(self) -> float:
        return rss_bytes(self.pid) / (1024 * 1024)

    def cpu_s(self) -> float:
        return cpu_seconds(self.pid)


@contextlib.contextmanager
def orchestrators(
    app: BenchApp, count: int, timeout_s: float = 120, echo: bool = True
) -> Iterator[list[OrchestratorProc]]:
    """`count` processes in one group (distinct instance ids and state dirs), yielded once every
    partition is assigned and restored (and, with `echo`, the echo participants' groups are
    stable); terminated on every exit path."""
    procs = [OrchestratorProc(app, f"i{n}") for n in range(count)]
    began = time.monotonic()
    try:
        for p in procs:
            p.start()
        wait_ready(app, procs, timeout_s, echo)
        app.ctx.log.info("  %d orchestrator(s) ready in %.1f s", count, time.monotonic() - began)
        yield procs
    finally:
        stopping = time.monotonic()
        stop_all([p.proc for p in procs if p.proc is not None], timeout_s=60)
        codes = [p.proc.returncode for p in procs if p.proc is not None]
        app.ctx.log.info(
            "  %d orchestrator(s) stopped in %.1f s, exit codes %s", count, time.monotonic() - stopping, codes
        )


def wait_ready(app: BenchApp, procs: Sequence[OrchestratorProc], timeout_s: float, echo: bool = True) -> None:
    """The group is stable with one member per process, and every partition was restored."""
    groups = {app.group: len(procs), **({app.echo_group(s): 1 for s in SERVICES} if echo else {})}
    admin = AdminClient({"bootstrap.servers": app.ctx.bootstrap})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for p in procs:
            p.check_alive()
        restored = {r.partition for p in procs for r in p.restores()}
        if (
            restored >= set(range(app.partitions))
            and all(p.restores() for p in procs)
            and _groups_stable(admin, groups, app.partitions)
        ):
            time.sleep(0.5)  # the members' assign callbacks (restore) run right after the sync
            return
        time.sleep(0.1)
    raise BenchmarkError(f"{len(procs)} orchestrator(s) not ready within {timeout_s:.0f} s (logs in {app.ctx.workdir})")


def _groups_stable(admin: AdminClient, members: dict[str, int], partitions: int) -> bool:
    """Each group stable, with `members[group]` members that all own partitions and together own all."""
    futures = admin.describe_consumer_groups(list(members))
    for group, future in futures.items():
        try:
            desc = future.result(10)
        except KafkaException:  # not created yet (no member joined)
            return False
        assigned = [{tp.partition for tp in m.assignment.topic_partitions} for m in desc.members]
        if (
            desc.state != ConsumerGroupState.STABLE
            or len(assigned) != members[group]
            or not all(assigned)
            or set().union(*assigned) != set(range(partitions))
        ):
            return False
    return True


class EventWatcher:
    """Reads an app's events topic from the start (assign-only, read_committed) and counts the
    lifecycle events of interest by frame prefix; keeps their raw values for a decode afterwards."""

    def __init__(self, app: BenchApp, kinds: Sequence[str], *, keep_values: bool = True) -> None:
        """`keep_values=False` only counts (a million started workflows need no decode afterwards)."""
        self.keep_values = keep_values
        self.prefixes = {event_prefix(k): k for k in kinds}
        self.counts = dict.fromkeys(kinds, 0)
        self.values: dict[str, list[bytes]] = {k: [] for k in kinds}
        self._consumer = Consumer(
            {
                "bootstrap.servers": app.ctx.bootstrap,
                "group.id": app.ctx.name("watch"),
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
            }
        )
        self._consumer.assign([TopicPartition(app.events_topic, p, OFFSET_BEGINNING) for p in range(app.partitions)])

    def poll(self, timeout_s: float = 0.2) -> None:
        for msg in self._consumer.consume(2_000, timeout_s):
            value = msg.value()
            if msg.error() is not None or not isinstance(value, bytes):
                continue
            kind = self.prefixes.get(value[:HEADER_BYTES])
            if kind is not None:
                self.counts[kind] += 1
                if self.keep_values:
                    self.values[kind].append(value)

    def wait_for(self, kind: str, count: int, timeout_s: float, procs: Sequence[OrchestratorProc] = ()) -> float:
        """Poll until `count` events of `kind`; returns the wall time (perf_counter) they were all seen."""
        deadline = time.monotonic() + timeout_s
        while self.counts[kind] < count:
            if time.monotonic() > deadline:
                raise BenchmarkError(f"only {self.counts[kind]}/{count} {kind} events within {timeout_s:.0f} s")
            for p in procs:
                p.check_alive()
            self.poll()
        return time.perf_counter()

    def decoded(self, kind: str) -> list[DecodedRecord]:
        return [serde.decode(v) for v in self.values[kind]]

    def close(self) -> None:
        self._consumer.close()


def start_workflows(client: WorkflowClient, workflow_type: str, ids: range, prefix: str) -> None:
    """Produce StartWorkflow records as fast as the client encodes them, then wait for every ack."""
    for i in ids:
        while True:
            try:
                client.start(workflow_type, order(i), workflow_id=f"{prefix}-{i}", flush=False)
                break
            except BufferError:
                client.flush(1)
    client.flush(120)
