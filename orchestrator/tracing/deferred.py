"""Deferred spans: spans that begin in one activation (or process) and are recorded when they end.

A workflow run, a step attempt (command produced ... reply consumed), a durable timer: each can
outlive the process that began it, but an OTel span must start and end in one process. So we
split it: `open_deferred_span` hands out the span's *identity* up front (a W3C carrier dict the
engine stores in the workflow's header or step state, and injects into the command's headers so
the service's spans become its children), and `close_deferred_span` records the span, with that
very span id and the stored start time, once the outcome is known. After a restart the trace id
is the stored one, so the trace stays one trace; replay never calls these (see `suppressed()`).

Carrier keys: `traceparent` / `tracestate` (the deferred span itself, sampled flag decided at open
time by the provider's sampler), `sb-parent-span-id` (absent for a root), `sb-start-ns`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from orchestrator.tracing import active_tracer
from orchestrator.tracing.ids import forced_ids, random_span_id, random_trace_id
from orchestrator.tracing.propagation import TRACE_KEYS, Source, span_context_of, to_context
from orchestrator.tracing.span_primitives import Attributes, end_span_at, to_links

log = logging.getLogger(__name__)

PARENT_SPAN_ID: Final = "sb-parent-span-id"
START_NS: Final = "sb-start-ns"
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_EMPTY: Final = Context()


def open_deferred_span(
    parent: Source,
    *,
    start_ns: int | None = None,
    name: str = "sagabridge.deferred",
    kind: SpanKind = SpanKind.INTERNAL,
) -> dict[str, str]:
    """Reserve a span (new id in `parent`'s trace, or a new trace) beginning now; {} when off.

    `parent` None means the current context. Store the returned carrier; parent children on it
    with `extract_carrier(carrier)` / `parent=carrier`; record it with `close_deferred_span`.
    """
    current = active_tracer.active()
    if current is None:
        return {}
    parent_ctx = to_context(parent)
    parent_sc = span_context_of(parent_ctx)
    trace_id = parent_sc.trace_id if parent_sc is not None else random_trace_id()
    result = current.sampler.should_sample(parent_ctx, trace_id, name, kind)
    trace_state = result.trace_state if result.trace_state is not None else TraceState()
    flags = TraceFlags.SAMPLED if result.decision is Decision.RECORD_AND_SAMPLE else TraceFlags.DEFAULT
    if parent_sc is None or parent_sc.trace_flags.random_trace_id:  # as the SDK sets it (W3C level 2)
        flags |= TraceFlags.RANDOM_TRACE_ID
    own = SpanContext(
        trace_id, random_span_id(), is_remote=False, trace_flags=TraceFlags(flags), trace_state=trace_state
    )
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(NonRecordingSpan(own)))
    if parent_sc is not None:
        carrier[PARENT_SPAN_ID] = format(parent_sc.span_id, "016x")
    carrier[START_NS] = str(start_ns if start_ns is not None else time.time_ns())
    return carrier


def new_root_context(
    parent: Context | Mapping[str, str] | None = None,
    *,
    start_ns: int | None = None,
) -> dict[str, str]:
    """The carrier of a new workflow run span: a child of `parent` (the start request's trace
    context, when the caller was traced) or the root of a new trace. {} when tracing is off."""
    return open_deferred_span(parent if parent is not None else _EMPTY, start_ns=start_ns, name="workflow")


def _parse(carrier: Mapping[str, str]) -> tuple[SpanContext, int | None, int | None] | None:
    own = span_context_of(_PROPAGATOR.extract({k: carrier[k] for k in TRACE_KEYS if k in carrier}, context=_EMPTY))
    if own is None:
        return None
    try:
        parent_id = int(carrier[PARENT_SPAN_ID], 16) if PARENT_SPAN_ID in carrier else None
        start = int(carrier[START_NS]) if START_NS in carrier else None
    except ValueError:
        return None
    return own, parent_id or None, start


def deferred_start_ns(carrier: Mapping[str, str]) -> int | None:
    """When the deferred span began (for timeouts/metrics); None if the carrier has no start."""
    parsed = _parse(carrier) if carrier else None
    return None if parsed is None else parsed[2]


def close_deferred_span(
    carrier: Mapping[str, str] | None,
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes | None = None,
    links: Iterable[Source] = (),
    end_ns: int | None = None,
    start_ns: int | None = None,
    error_type: str | None = None,
    error_message: str | None = None,
) -> None:
    """Record the span reserved by `open_deferred_span`, ending at `end_ns` (now if None).

    A missing or malformed carrier (tracing was off when it opened, a corrupted record) is
    skipped: tracing must never fail a workflow step.
    """
    current = active_tracer.active()
    if current is None or not carrier:
        return
    parsed = _parse(carrier)
    if parsed is None:
        log.debug("skipping deferred span %r: malformed carrier %r", name, dict(carrier))
        return
    own, parent_id, stored_start = parsed
    if parent_id is not None:
        remote = SpanContext(
            own.trace_id, parent_id, is_remote=True, trace_flags=own.trace_flags, trace_state=own.trace_state
        )
        parent_ctx = trace.set_span_in_context(NonRecordingSpan(remote))
    else:
        parent_ctx = _EMPTY
    end = end_ns if end_ns is not None else time.time_ns()
    start = start_ns if start_ns is not None else (stored_start if stored_start is not None else end)
    with forced_ids(own.trace_id, own.span_id):
        span = current.tracer.start_span(
            name,
            context=parent_ctx,
            kind=kind,
            attributes=attributes,
            links=to_links(links),
            start_time=min(start, end),
        )
    end_span_at(span, end, error_type=error_type, error_message=error_message)
