"""Run the locally built Jaeger v2 (all-in-one, in-memory storage) on loopback, and query it.

Jaeger v2 is an OpenTelemetry Collector distribution: its config is a collector YAML (receivers,
processors, exporters, extensions, service.pipelines). Ours keeps only what SagaBridge needs:
the OTLP receiver (HTTP, and gRPC for other tools), the `jaeger_storage` extension with a memory
backend, `jaeger_query` (HTTP API + UI, gRPC API) and a health check. All ports are configurable
and bound to 127.0.0.1; the collector's own metrics endpoint is switched off (no stray :8888).

Layout (`<cache>/jaeger/run/<name>/`): config.yaml, jaeger.json (ports), jaeger.pid, jaeger.log.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestrator.devstack import processes
from orchestrator.devstack.artifacts import cache_root
from orchestrator.devstack.jaeger_build import build_jaeger
from orchestrator.errors import JaegerError

_CONFIG = """\
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: info

extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:{health}
  jaeger_query:
    # v2 turns query self-tracing on by default, exporting to localhost:4317: off, so a test
    # instance never writes into the dev instance and shutdown does not wait on a dead exporter
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query_http}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: {max_traces}

receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp_http}
      grpc:
        endpoint: 127.0.0.1:{otlp_grpc}

processors:
  batch:
    timeout: 200ms

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


@dataclass(frozen=True)
class JaegerPorts:
    otlp_http: int = 4318
    otlp_grpc: int = 4317
    query_http: int = 16686
    query_grpc: int = 16685
    health: int = 13133

    @classmethod
    def free(cls) -> JaegerPorts:
        """Fresh free ports (tests run next to a dev Jaeger on the default ports)."""
        return cls(*(processes.free_port() for _ in range(5)))


@dataclass(frozen=True)
class JaegerStatus:
    running: bool
    query_url: str
    otlp_endpoint: str
    directory: str
    pid: int | None


class LocalJaeger:
    """Idempotent lifecycle of one named Jaeger; `up` twice leaves one process."""

    def __init__(
        self, name: str = "dev", ports: JaegerPorts | None = None, root: Path | None = None, max_traces: int = 100_000
    ) -> None:
        self.directory = (root or cache_root() / "jaeger" / "run") / name
        self.ports = ports or self._saved_ports() or JaegerPorts()
        self.max_traces = max_traces

    # -- addresses -----------------------------------------------------------------------------
    @property
    def query_url(self) -> str:
        """Jaeger UI and HTTP query API base."""
        return f"http://127.0.0.1:{self.ports.query_http}"

    @property
    def otlp_endpoint(self) -> str:
        """Value for OTEL_EXPORTER_OTLP_ENDPOINT (the SDK appends /v1/traces)."""
        return f"http://127.0.0.1:{self.ports.otlp_http}"

    @property
    def _process(self) -> processes.ManagedProcess:
        return processes.ManagedProcess(self.directory, "jaeger")

    @property
    def log_file(self) -> Path:
        return self._process.log_file

    def _saved_ports(self) -> JaegerPorts | None:
        return processes.load_ports(self.directory / "jaeger.json", JaegerPorts)

    # -- lifecycle -----------------------------------------------------------------------------
    def up(self, timeout_s: float = 60.0) -> float:
        """Build (cached) and start unless running; returns seconds spent starting (0 if it ran)."""
        if self._process.pid() is not None and self.ready():
            return 0.0
        binary = build_jaeger().path
        busy = [f"{name}={port}" for name, port in asdict(self.ports).items() if processes.port_open("127.0.0.1", port)]
        if busy:
            raise JaegerError(
                f"ports already in use: {', '.join(busy)}; another Jaeger/collector runs? "
                f"Stop it, or pick other ports (orchestrator jaeger up --help)"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        processes.save_ports(self.directory / "jaeger.json", self.ports)
        config = self.directory / "config.yaml"
        config.write_text(_CONFIG.format(max_traces=self.max_traces, **asdict(self.ports)))
        return self._process.start([str(binary), "--config", str(config)], self.ready, timeout_s, "jaeger")

    def down(self) -> bool:
        return self._process.stop(timeout_s=15.0)

    def status(self) -> JaegerStatus:
        pid = self._process.pid()
        return JaegerStatus(
            pid is not None and self.ready(), self.query_url, self.otlp_endpoint, str(self.directory), pid
        )

    def ready(self) -> bool:
        """Query API answers and the OTLP HTTP receiver accepts connections."""
        if not processes.port_open("127.0.0.1", self.ports.otlp_http):
            return False
        try:
            self._get("/api/services")
        except JaegerError:
            return False
        return True

    # -- query API (the UI's HTTP JSON API) ---------------------------------------------------
    def _get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(f"{self.query_url}{path}", timeout=5) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise JaegerError(f"GET {path}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise JaegerError(f"GET {path}: {exc}") from exc

    def services(self) -> list[str]:
        body = self._get("/api/services") or {}
        return sorted(body.get("data") or [])

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """`GET /api/traces/<id>`: {"traceID", "spans": [...], "processes": {...}} or None if unknown."""
        body = self._get(f"/api/traces/{trace_id}")
        data = (body or {}).get("data") or []
        return data[0] if data else None

    def wait_for_trace(
        self, trace_id: str, services: set[str], min_spans: int = 1, timeout_s: float = 30.0
    ) -> dict[str, Any]:
        """Poll until the trace holds spans of every service in `services` (export is asynchronous)."""
        deadline = time.monotonic() + timeout_s
        found: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            found = self.trace(trace_id)
            if found is not None and services <= trace_services(found) and len(found["spans"]) >= min_spans:
                return found
            time.sleep(0.25)
        seen = sorted(trace_services(found)) if found else []
        raise JaegerError(
            f"trace {trace_id} not complete after {timeout_s:.0f}s: services {seen}, "
            f"wanted {sorted(services)}; log {self.log_file}"
        )


def trace_services(trace: dict[str, Any]) -> set[str]:
    """service.name of every process that contributed a span to a query-API trace."""
    processes_by_id = trace.get("processes") or {}
    return {
        str(processes_by_id[s["processID"]]["serviceName"])
        for s in trace.get("spans") or []
        if s.get("processID") in processes_by_id
    }
