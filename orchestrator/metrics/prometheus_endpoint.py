"""The Prometheus scrape endpoint: OpenTelemetry's Prometheus reader served by prometheus_client.

Each endpoint has a registry of its own (not prometheus_client's global one), so several meter
providers in one process (tests, an embedded worker) never collide, and nothing but our OTel
metrics is exposed: process and runtime figures come from the OTel system-metrics instrumentation
under their semantic-convention names, not from prometheus_client's default collectors.
"""

from __future__ import annotations

import logging
import threading
from wsgiref.simple_server import WSGIServer

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from prometheus_client import CollectorRegistry, start_http_server

from orchestrator.errors import ConfigurationError

log = logging.getLogger(__name__)


class PrometheusEndpoint:
    """`GET http://host:port/metrics` for one meter provider (add `reader` to it)."""

    def __init__(self, host: str, port: int, *, setting: str = "metrics_port") -> None:
        """Bind at once: a port in use fails at startup, naming `setting` and the fix."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.reader = PrometheusMetricReader(registry=self.registry)
        try:
            server, thread = start_http_server(port, host, registry=self.registry)
        except OSError as exc:
            self.reader.shutdown()
            raise ConfigurationError(
                setting,
                f"cannot serve Prometheus metrics on {host}:{port} ({exc.strerror or exc})",
                "pick a free port (0: any free port), another host address, or unset it to serve no endpoint",
            ) from exc
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread
        self.host = host
        self.port = int(server.server_address[1])
        log.info("metrics: Prometheus endpoint at %s", self.url)

    @property
    def url(self) -> str:
        """Where Prometheus scrapes (`0.0.0.0` is shown as 127.0.0.1, where a local scraper finds it)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving (the reader is shut down with its meter provider)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
