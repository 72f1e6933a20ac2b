"""OpenTelemetry tracing for the orchestrator and the services (docs/tracing.md).

Off unless configured (OTEL_TRACES_EXPORTER / OTEL_EXPORTER_OTLP_ENDPOINT); when off, every
helper returns at once (an empty carrier, [], the invalid span), so call sites never branch.
"""

from orchestrator.tracing.active_tracer import suppressed, tracing_enabled, using
from orchestrator.tracing.deferred import (
    PARENT_SPAN_ID,
    START_NS,
    close_deferred_span,
    deferred_start_ns,
    new_root_context,
    open_deferred_span,
)
from orchestrator.tracing.messaging import consumer_span, kafka_attributes, process_span, producer_span, receive_span
from orchestrator.tracing.pending_spans import PendingSpans
from orchestrator.tracing.propagation import (
    extract_carrier,
    extract_context,
    inject_carrier,
    inject_headers,
    span_context_of,
    trace_id_hex,
)
from orchestrator.tracing.setup import create_tracer_provider, flush_tracing, setup_tracing, shutdown_tracing
from orchestrator.tracing.span_primitives import child_span, end_span_at, mark_error, start_span_at
from orchestrator.tracing.workflow_spans import (
    activation_span,
    close_run,
    close_step_attempt,
    open_step_attempt,
    record_activation,
    record_wait,
)

__all__ = [
    "PARENT_SPAN_ID",
    "START_NS",
    "PendingSpans",
    "activation_span",
    "child_span",
    "close_deferred_span",
    "close_run",
    "close_step_attempt",
    "consumer_span",
    "create_tracer_provider",
    "deferred_start_ns",
    "end_span_at",
    "extract_carrier",
    "extract_context",
    "flush_tracing",
    "inject_carrier",
    "inject_headers",
    "kafka_attributes",
    "mark_error",
    "new_root_context",
    "open_deferred_span",
    "open_step_attempt",
    "process_span",
    "producer_span",
    "receive_span",
    "record_activation",
    "record_wait",
    "setup_tracing",
    "shutdown_tracing",
    "span_context_of",
    "start_span_at",
    "suppressed",
    "trace_id_hex",
    "tracing_enabled",
    "using",
]
