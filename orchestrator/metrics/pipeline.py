"""Install (once) the process's MeterProvider: a Prometheus endpoint and/or OTLP export.

Two ways out, either or both:
- a **Prometheus endpoint** when a port is given (the orchestrator's `metrics_port` setting, a
  worker's `setup_metrics(..., prometheus_port=...)`); off by default, so several processes on one
  host never fight over a port;
- **OTLP** (or the console) as the OTel environment says: `OTEL_METRICS_EXPORTER` (otlp, console,
  none), or unset and an `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` set;
  endpoint, headers, timeout and `OTEL_METRIC_EXPORT_INTERVAL` are left to the SDK's own env
  handling, as for traces (orchestrator/tracing/setup.py, whose opt-in rule this mirrors).

With neither, nothing is installed and every SagaBridge component sees metrics off: the engine
collects nothing, the worker records nothing. `OTEL_SDK_DISABLED=true` wins over everything.
The installed provider also carries the OTel system-metrics instrumentation restricted to the
`process.*` and `cpython.gc.*` semantic conventions (CPU, memory, threads, file descriptors, GC).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from opentelemetry import metrics as otel_metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.util.types import AttributeValue

from orchestrator.errors import ConfigurationError
from orchestrator.metrics.prometheus_endpoint import PrometheusEndpoint
from orchestrator.tracing.setup import check_otlp_protocol, sdk_disabled, service_resource, signal_exporter_names

log = logging.getLogger(__name__)

# The process and runtime metrics of the semantic conventions; no system-wide ones (node_exporter's job).
PROCESS_METRICS: dict[str, list[str] | None] = {
    "process.cpu.time": ["user", "system"],
    "process.cpu.utilization": ["user", "system"],
    "process.memory.usage": None,
    "process.memory.virtual": None,
    "process.thread.count": None,
    "process.open_file_descriptor.count": None,
    "process.context_switches": ["involuntary", "voluntary"],
    "cpython.gc.collections": None,
    "cpython.gc.collected_objects": None,
    "cpython.gc.uncollectable_objects": None,
}


def exporter_names() -> list[str]:
    """OTEL_METRICS_EXPORTER as a list; unset means `otlp` only if an OTLP endpoint is configured."""
    return signal_exporter_names("METRICS")


def _otlp_exporter() -> MetricExporter:
    check_otlp_protocol("METRICS")
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter()  # endpoint, headers, timeout, compression, temporality: OTEL_EXPORTER_OTLP_*


def readers_from_env() -> list[MetricReader]:
    """Periodic readers for OTEL_METRICS_EXPORTER (OTEL_METRIC_EXPORT_INTERVAL applies)."""
    readers: list[MetricReader] = []
    for name in exporter_names():
        if name == "otlp":
            readers.append(PeriodicExportingMetricReader(_otlp_exporter()))
        elif name == "console":
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
        else:
            raise ConfigurationError(
                "OTEL_METRICS_EXPORTER", f"unsupported exporter {name!r}", "use otlp, console or none"
            )
    return readers


@dataclass
class MetricsPipeline:
    """A meter provider and, when one is served, its Prometheus endpoint."""

    provider: MeterProvider
    endpoint: PrometheusEndpoint | None = None

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Export what is pending (OTLP) and stop serving."""
        try:
            self.provider.shutdown(timeout_ms)
        finally:
            if self.endpoint is not None:
                self.endpoint.close()


def create_metrics_pipeline(
    service_name: str,
    *,
    prometheus_host: str = "127.0.0.1",
    prometheus_port: int | None = None,
    readers: Iterable[MetricReader] = (),
    resource_attributes: Mapping[str, AttributeValue] | None = None,
    setting: str = "metrics_port",
) -> MetricsPipeline:
    """A provider (not installed globally) with a Prometheus endpoint when `prometheus_port` is set
    (0: any free port) and `readers` (tests: an InMemoryMetricReader). Hand its `provider` to an
    `Orchestrator(meter_provider=...)` or a `Service(meter_provider=...)`."""
    endpoint = None
    if prometheus_port is not None:
        endpoint = PrometheusEndpoint(prometheus_host, prometheus_port, setting=setting)
    all_readers = [*readers, *([endpoint.reader] if endpoint is not None else [])]
    provider = MeterProvider(metric_readers=all_readers, resource=service_resource(service_name, resource_attributes))
    return MetricsPipeline(provider, endpoint)


_installed: MetricsPipeline | None = None
_lock = threading.Lock()


def setup_metrics(
    service_name: str,
    *,
    prometheus_host: str = "127.0.0.1",
    prometheus_port: int | None = None,
    resource_attributes: Mapping[str, AttributeValue] | None = None,
    process_metrics: bool = True,
    setting: str = "metrics_port",
) -> MetricsPipeline | None:
    """Install the process-wide pipeline: the endpoint if a port is given, OTLP if OTEL_* say so.

    None (metrics off) when neither is configured or OTEL_SDK_DISABLED=true. Idempotent: a second
    call returns the installed pipeline. The provider becomes OTel's global one, so components
    built without an explicit `meter_provider` (and third-party instrumentation) record into it.
    `setting` names the configuration a bad port is reported against.
    """
    global _installed
    with _lock:
        if _installed is not None:
            return _installed
        if sdk_disabled():
            return None
        readers = readers_from_env()
        if prometheus_port is None and not readers:
            return None
        pipeline = create_metrics_pipeline(
            service_name,
            prometheus_host=prometheus_host,
            prometheus_port=prometheus_port,
            readers=readers,
            resource_attributes=resource_attributes,
            setting=setting,
        )
        otel_metrics.set_meter_provider(pipeline.provider)
        if process_metrics:
            from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor

            SystemMetricsInstrumentor(config=PROCESS_METRICS).instrument(meter_provider=pipeline.provider)
        _installed = pipeline
    log.info(
        "metrics on for %s (%s)",
        service_name,
        ", ".join([*(["prometheus " + pipeline.endpoint.url] if pipeline.endpoint else []), *exporter_names()]),
    )
    return pipeline


def installed_pipeline() -> MetricsPipeline | None:
    """The pipeline `setup_metrics` installed, if any."""
    return _installed


def shutdown_metrics(timeout_ms: int = 10_000) -> None:
    """Flush and stop the installed pipeline (OTel's global provider cannot be replaced afterwards)."""
    global _installed
    with _lock:
        pipeline, _installed = _installed, None
    if pipeline is not None:
        pipeline.shutdown(timeout_ms)


def active_provider(explicit: otel_metrics.MeterProvider | None = None) -> otel_metrics.MeterProvider | None:
    """The provider a component records into: `explicit`, else OTel's global one when it is a real
    (SDK) provider, whoever installed it; None means metrics are off and nothing is recorded."""
    if explicit is not None:
        return explicit
    current = otel_metrics.get_meter_provider()
    return current if isinstance(current, MeterProvider) else None
