"""Install (once) a TracerProvider configured by the standard `OTEL_*` environment variables.

We read only what decides *whether and where* to export (OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER,
the OTLP protocol); everything else (endpoint, headers, timeout, compression, OTEL_BSP_*,
OTEL_TRACES_SAMPLER[_ARG], OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, span limits) is left to
the SDK's own env handling, so the documented OTel semantics apply unchanged.

One deliberate difference from the spec: tracing is opt-in. With OTEL_TRACES_EXPORTER unset and
no OTLP endpoint variable set, `setup_tracing` installs nothing (every helper then short-circuits)
instead of exporting to localhost:4318 and logging connection errors in every dev process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.util.types import AttributeValue

from orchestrator.errors import ConfigurationError
from orchestrator.tracing import active_tracer
from orchestrator.tracing.ids import ForcedIdGenerator

log = logging.getLogger(__name__)

_SUPPORTED_PROTOCOLS = ("", "http/protobuf")


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def sdk_disabled() -> bool:
    """OTEL_SDK_DISABLED=true: nothing is installed, whatever else is set."""
    return _env("OTEL_SDK_DISABLED").lower() == "true"


def exporter_names() -> list[str]:
    """OTEL_TRACES_EXPORTER as a list; unset means `otlp` only if an OTLP endpoint is configured."""
    raw = _env("OTEL_TRACES_EXPORTER")
    if not raw:
        wants_otlp = _env("OTEL_EXPORTER_OTLP_ENDPOINT") or _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        return ["otlp"] if wants_otlp else []
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    return [n for n in names if n != "none"]


def _otlp_exporter() -> SpanExporter:
    protocol = _env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or _env("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol not in _SUPPORTED_PROTOCOLS:
        raise ConfigurationError(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            f"protocol {protocol!r} is not installed",
            "use http/protobuf (the OTLP HTTP exporter ships with SagaBridge) or unset it",
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout, compression: from OTEL_EXPORTER_OTLP_*


def processors_from_env() -> list[SpanProcessor]:
    """Span processors for OTEL_TRACES_EXPORTER: batched OTLP, synchronous console."""
    processors: list[SpanProcessor] = []
    for name in exporter_names():
        if name == "otlp":
            processors.append(BatchSpanProcessor(_otlp_exporter()))  # OTEL_BSP_* apply
        elif name == "console":
            processors.append(SimpleSpanProcessor(ConsoleSpanExporter()))
        else:
            raise ConfigurationError(
                "OTEL_TRACES_EXPORTER",
                f"unsupported exporter {name!r}",
                "use otlp, console or none",
            )
    return processors


def service_resource(service_name: str, attributes: Mapping[str, AttributeValue] | None = None) -> Resource:
    """Env resource (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME win) over `service_name` as default."""
    detected = Resource.create(dict(attributes or {}))
    current = str(detected.attributes.get(SERVICE_NAME, ""))
    if current.startswith("unknown_service"):
        detected = detected.merge(Resource({SERVICE_NAME: service_name}))
    return detected


def create_tracer_provider(
    service_name: str,
    *,
    exporters: Iterable[SpanExporter] = (),
    processors: Iterable[SpanProcessor] = (),
    batch: bool = True,
    sampler: Sampler | None = None,
    resource_attributes: Mapping[str, AttributeValue] | None = None,
    shutdown_on_exit: bool = False,
) -> TracerProvider:
    """A provider the helpers can record with (it has the id generator deferred spans need).

    `exporters` are wrapped in a batch (or, with batch=False, synchronous) processor;
    `processors` are added as they are. Sampler None = OTEL_TRACES_SAMPLER or parent-based always-on.
    """
    provider = TracerProvider(
        resource=service_resource(service_name, resource_attributes),
        id_generator=ForcedIdGenerator(),
        sampler=sampler,
        shutdown_on_exit=shutdown_on_exit,
    )
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def setup_tracing(
    service_name: str,
    *,
    exporters: Sequence[SpanExporter] | None = None,
    batch: bool = True,
    set_global_provider: bool = True,
) -> TracerProvider | None:
    """Install the process-wide provider from `OTEL_*`; None (tracing off) when nothing is configured.

    Idempotent: a second call returns the installed provider. `exporters` overrides
    OTEL_TRACES_EXPORTER (tests, embedding) but OTEL_SDK_DISABLED=true still wins.
    """
    existing = active_tracer.global_active()
    if existing is not None:
        return existing.provider
    if sdk_disabled():
        return None
    if exporters is not None:
        provider = create_tracer_provider(service_name, exporters=exporters, batch=batch, shutdown_on_exit=True)
    else:
        processors = processors_from_env()
        if not processors:
            return None
        provider = create_tracer_provider(service_name, processors=processors, shutdown_on_exit=True)
    winner = active_tracer.install_if_absent(provider)
    if winner is not provider:  # lost a race with another thread: keep theirs
        provider.shutdown()
        return winner
    if set_global_provider and not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(provider)  # third-party instrumentation records into the same pipeline
    log.info("tracing on for %s (exporters: %s)", service_name, ", ".join(exporter_names()) or "explicit")
    return provider


def shutdown_tracing(timeout_ms: int = 30_000) -> None:
    """Flush pending spans and uninstall; a later `setup_tracing` starts afresh."""
    previous = active_tracer.set_global(None)
    if previous is not None:
        previous.provider.force_flush(timeout_ms)
        previous.provider.shutdown()


def flush_tracing(timeout_ms: int = 30_000) -> bool:
    """Export everything buffered so far (before a checkpoint-free exit, or in tests)."""
    current = active_tracer.active()
    return True if current is None else current.provider.force_flush(timeout_ms)
