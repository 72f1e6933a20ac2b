"""The local stack: one KRaft broker+controller and one Apicurio registry on loopback.

Layout of a stack directory (default `<cache>/stacks/<name>`):
    kafka/server.properties, kafka/data/, kafka.pid, kafka.log
    registry.pid, registry.log, stack.json (ports)
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from orchestrator.devstack import artifacts, processes
from orchestrator.errors import StackError

_LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


@dataclass(frozen=True)
class StackPorts:
    kafka: int = 19092
    controller: int = 19093
    registry: int = 18081


@dataclass(frozen=True)
class StackStatus:
    kafka_running: bool
    registry_running: bool
    bootstrap_servers: str
    registry_url: str
    directory: str


@dataclass(frozen=True)
class StartTimes:
    kafka_download_s: float
    registry_download_s: float
    kafka_start_s: float
    registry_start_s: float


class LocalStack:
    """Idempotent lifecycle of the dev/test stack. `up` twice leaves one broker."""

    def __init__(self, name: str = "dev", ports: StackPorts | None = None, root: Path | None = None) -> None:
        self.directory = (root or artifacts.cache_root() / "stacks") / name
        self.ports = ports or self._saved_ports() or StackPorts()

    # -- addresses ---------------------------------------------------------------------
    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.ports.kafka}"

    @property
    def registry_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.registry}/apis/ccompat/v7"

    @property
    def _kafka(self) -> processes.ManagedProcess:
        return processes.ManagedProcess(self.directory, "kafka")

    @property
    def _registry(self) -> processes.ManagedProcess:
        return processes.ManagedProcess(self.directory, "registry")

    def _saved_ports(self) -> StackPorts | None:
        return processes.load_ports(self.directory / "stack.json", StackPorts)

    # -- lifecycle ---------------------------------------------------------------------
    def up(self, with_registry: bool = True) -> StartTimes:
        self.directory.mkdir(parents=True, exist_ok=True)
        kafka_libs = artifacts.fetch_kafka()
        registry_jar = artifacts.fetch_apicurio() if with_registry else None
        processes.save_ports(self.directory / "stack.json", self.ports)
        kafka_start = self._start_kafka(kafka_libs.path)
        registry_start = self._start_registry(registry_jar.path) if registry_jar else 0.0
        return StartTimes(
            kafka_download_s=kafka_libs.seconds,
            registry_download_s=registry_jar.seconds if registry_jar else 0.0,
            kafka_start_s=kafka_start,
            registry_start_s=registry_start,
        )

    def down(self) -> None:
        self._registry.stop()
        self._kafka.stop()

    def kill_broker(self) -> int:
        """SIGKILL the broker (crash tests): no shutdown, open transactions left undecided; `up()`
        starts it again on the same data and ports. Returns the killed pid."""
        pid = self._kafka.kill()
        if pid is None:
            raise StackError(f"no broker running in {self.directory}")
        return pid

    def status(self) -> StackStatus:
        return StackStatus(
            kafka_running=self._kafka.pid() is not None and self._kafka_ready(),
            registry_running=self._registry.pid() is not None and self._registry_ready(),
            bootstrap_servers=self.bootstrap_servers,
            registry_url=self.registry_url,
            directory=str(self.directory),
        )

    # -- kafka -------------------------------------------------------------------------
    def _write_kafka_config(self) -> Path:
        kafka_dir = self.directory / "kafka"
        kafka_dir.mkdir(parents=True, exist_ok=True)
        p = self.ports
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{p.controller}",
            "listeners": f"PLAINTEXT://127.0.0.1:{p.kafka},CONTROLLER://127.0.0.1:{p.controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{p.kafka}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(kafka_dir / "data"),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            # Single node: internal topics at replication 1 so transactions and groups work.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "group.min.session.timeout.ms": "1000",
            # Let compaction and cleanup show up quickly in a dev stack.
            "log.cleaner.backoff.ms": "1000",
            "log.retention.check.interval.ms": "10000",
        }
        config = kafka_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (kafka_dir / "log4j2.properties").write_text(_LOG4J2)
        return config

    def _java_cmd(self, libs: Path, main: str, *args: str, heap: str = "512m") -> list[str]:
        log_cfg = self.directory / "kafka" / "log4j2.properties"
        return [
            processes.java_binary(),
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log_cfg}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def _start_kafka(self, libs: Path) -> float:
        if self._kafka.pid() is not None:
            return 0.0
        config = self._write_kafka_config()
        data = self.directory / "kafka" / "data"
        if not (data / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            import subprocess

            fmt = subprocess.run(
                # `--cluster-id=` form: a base64 id may start with '-', which argparse would take for a flag
                self._java_cmd(
                    libs, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "--config", str(config)
                ),
                capture_output=True,
                text=True,
            )
            if fmt.returncode != 0:
                raise StackError(f"formatting KRaft storage failed:\n{fmt.stdout}\n{fmt.stderr}")
        return self._kafka.start(
            self._java_cmd(libs, "kafka.Kafka", str(config)), self._kafka_ready, 120, "kafka broker"
        )

    def _kafka_ready(self) -> bool:
        if not processes.port_open("127.0.0.1", self.ports.kafka):
            return False
        try:
            from confluent_kafka.admin import AdminClient
        except ImportError:  # stdlib-only bootstrap: the open port is the best signal we have
            return True
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})
        try:
            return len(admin.list_topics(timeout=2).brokers) > 0
        except Exception:  # KafkaException while the broker finishes starting
            return False

    # -- registry ----------------------------------------------------------------------
    def _start_registry(self, runner: Path) -> float:
        cmd = [
            processes.java_binary(),
            "-Xmx384m",
            f"-Dsagabridge.stack={self.directory}",  # lets the pid check recognise our process
            f"-Dquarkus.http.port={self.ports.registry}",
            "-Dquarkus.http.host=127.0.0.1",
            "-Dquarkus.http.access-log.enabled=false",
            # Keep the in-memory H2 storage: a dev registry, repopulated by `schemas register`.
            "-jar",
            str(runner),
        ]
        return self._registry.start(cmd, self._registry_ready, 120, "schema registry")

    def _registry_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.registry_url}/subjects", timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False
