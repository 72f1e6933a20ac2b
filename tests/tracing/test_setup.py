"""setup_tracing: OTEL_* handling through the SDK, idempotence, shutdown flushes."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from orchestrator import tracing
from orchestrator.errors import ConfigurationError, ForeignTracerProviderError
from orchestrator.tracing.setup import processors_from_env


def _exporters(provider: TracerProvider) -> list[object]:
    processors = provider._active_span_processor._span_processors  # introspection only in this test
    return [
        p.span_exporter if isinstance(p, SimpleSpanProcessor) else p._batch_processor._exporter  # type: ignore[attr-defined]
        for p in processors
    ]


def test_otlp_endpoint_alone_turns_tracing_on_with_the_sdk_reading_the_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:14318")
    provider = tracing.setup_tracing("orders-orchestrator", set_global_provider=False)
    assert provider is not None
    (exporter,) = _exporters(provider)
    assert isinstance(exporter, OTLPSpanExporter)
    assert exporter._endpoint == "http://127.0.0.1:14318/v1/traces"
    assert provider.resource.attributes["service.name"] == "orders-orchestrator"
    assert tracing.tracing_enabled()


def test_exporter_list_and_service_name_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp, console")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:14318/custom")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    provider = tracing.setup_tracing("default-name", set_global_provider=False)
    assert provider is not None
    otlp, console = _exporters(provider)
    assert isinstance(otlp, OTLPSpanExporter) and otlp._endpoint == "http://127.0.0.1:14318/custom"
    assert isinstance(console, ConsoleSpanExporter)
    assert provider.resource.attributes["service.name"] == "from-env"
    assert provider.resource.attributes["deployment.environment"] == "test"


def test_sampler_comes_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    provider = tracing.setup_tracing("svc", exporters=[InMemorySpanExporter()], set_global_provider=False)
    assert provider is not None and provider.sampler is ALWAYS_OFF


def test_unsupported_settings_fail_with_the_setting_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ConfigurationError, match="OTEL_TRACES_EXPORTER"):
        processors_from_env()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ConfigurationError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        tracing.setup_tracing("svc")
    assert not tracing.tracing_enabled()


def test_idempotent_and_shutdown_flushes() -> None:
    memory = InMemorySpanExporter()
    first = tracing.setup_tracing("svc", exporters=[memory], set_global_provider=False)
    assert first is not None
    assert tracing.setup_tracing("other", exporters=[InMemorySpanExporter()]) is first
    assert isinstance(first._active_span_processor._span_processors[0], BatchSpanProcessor)
    with tracing.child_span("buffered"):
        pass
    tracing.shutdown_tracing()
    assert [s.name for s in memory.get_finished_spans()] == ["buffered"]
    assert not tracing.tracing_enabled()
    tracing.shutdown_tracing()  # twice is fine


def test_using_refuses_a_provider_without_our_id_generator() -> None:
    with pytest.raises(ForeignTracerProviderError), tracing.using(TracerProvider()):
        pass
