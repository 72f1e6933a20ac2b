"""W3C trace context to and from Kafka headers and the `dict[str, str]` the engine stores.

Always W3C `traceparent`/`tracestate` (the participant protocol's headers, docs/protocol.md),
never the global OTEL_PROPAGATORS: a Java or Go participant must be able to rely on the names.
Malformed or non-UTF-8 values are ignored (an empty context), never raised: a bad header from
some other team's service must not stop a consuming loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from orchestrator.tracing import active_tracer
from orchestrator.transport.header_names import TRACEPARENT, TRACESTATE

TRACE_KEYS: Final = (TRACEPARENT, TRACESTATE)
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_EMPTY: Final = Context()

HeaderPairs = Iterable[tuple[str, bytes | str | None]]
Source = Context | Span | Mapping[str, str] | None


def to_context(source: Source) -> Context:
    """Any of: a Context, a Span, a stored carrier dict, or None (the current context)."""
    if source is None:
        return otel_context.get_current()
    if isinstance(source, Context):
        return source
    if isinstance(source, Span):
        return trace.set_span_in_context(source)
    return _PROPAGATOR.extract(_trace_only(source), context=_EMPTY)


def _trace_only(carrier: Mapping[str, str]) -> dict[str, str]:
    return {k: carrier[k] for k in TRACE_KEYS if k in carrier}


def inject_carrier(source: Source = None) -> dict[str, str]:
    """`{"traceparent": ..., ["tracestate": ...]}` of `source`; {} when tracing is off or no span."""
    if active_tracer.active() is None:
        return {}
    if source is None or isinstance(source, (Context, Span)):  # Context first: it is a dict too
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=to_context(source))
        return carrier
    return _trace_only(source)  # a stored carrier: only the W3C keys travel


def inject_headers(source: Source = None) -> list[tuple[str, bytes]]:
    """Kafka header pairs carrying `source`'s trace context; [] when tracing is off."""
    if active_tracer.active() is None:
        return []
    return [(k, v.encode()) for k, v in inject_carrier(source).items()]


def extract_carrier(carrier: Mapping[str, str] | None) -> Context:
    """A Context whose (remote) parent is the stored carrier's span; empty when off or invalid."""
    if active_tracer.active() is None or not carrier:
        return _EMPTY
    return _PROPAGATOR.extract(_trace_only(carrier), context=_EMPTY)


def extract_context(headers: HeaderPairs | None) -> Context:
    """The producer's context from Kafka headers (last value wins, as in Kafka); empty when off."""
    if active_tracer.active() is None or not headers:
        return _EMPTY
    carrier: dict[str, str] = {}
    for key, value in headers:
        if key in TRACE_KEYS and value is not None:
            try:
                carrier[key] = value.decode() if isinstance(value, bytes) else value
            except UnicodeDecodeError:
                continue
    if TRACEPARENT not in carrier:
        return _EMPTY
    return _PROPAGATOR.extract(carrier, context=_EMPTY)


def span_context_of(ctx: Context) -> SpanContext | None:
    """The valid span context in `ctx`, or None (for links and assertions)."""
    span_ctx = trace.get_current_span(ctx).get_span_context()
    return span_ctx if span_ctx.is_valid else None


def trace_id_hex(source: Source) -> str | None:
    """32-hex trace id of `source` (works with tracing off: it only parses), or None."""
    span_ctx = span_context_of(to_context(source))
    return None if span_ctx is None else format(span_ctx.trace_id, "032x")
