"""OpenTelemetry metrics for the orchestrator, the worker SDK and the connectors (docs/metrics.md).

`setup_metrics(service_name, prometheus_port=...)` installs the process's pipeline (a Prometheus
endpoint, OTLP when OTEL_* say so); components then record into it. Off unless set up: with no
pipeline (and no SDK meter provider of the application's own) nothing is collected at all.
No Kafka here: the runner, the worker and the connectors call in at their edges, each through
its own module (`orchestrator_metrics`, `worker_metrics`), so a worker never loads the engine.
"""

from orchestrator.metrics.pipeline import (
    PROCESS_METRICS,
    MetricsPipeline,
    active_provider,
    create_metrics_pipeline,
    installed_pipeline,
    setup_metrics,
    shutdown_metrics,
)
from orchestrator.metrics.prometheus_endpoint import PrometheusEndpoint

__all__ = [
    "PROCESS_METRICS",
    "MetricsPipeline",
    "PrometheusEndpoint",
    "active_provider",
    "create_metrics_pipeline",
    "installed_pipeline",
    "setup_metrics",
    "shutdown_metrics",
]
