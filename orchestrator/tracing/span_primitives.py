"""Span primitives shared by the messaging and workflow helpers.

- `child_span(...)`: a context manager for work that starts and ends in this process.
- `start_span_at(...)` / `end_span_at(...)`: explicit timestamps, for spans recorded after the
  fact (a timer that fired, a signal wait that ended), not made current.
All of them return the API's INVALID_SPAN (and make nothing current) when tracing is off, so
callers never branch on "is tracing on".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextvars import Token
from types import TracebackType
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from orchestrator.tracing import active_tracer
from orchestrator.tracing import attributes as attr
from orchestrator.tracing.propagation import Source, span_context_of, to_context

Attributes = Mapping[str, AttributeValue]


class SpanScope:
    """Makes a started span current; on exit records the exception (with `error.type`) and ends it."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: Span) -> None:
        self._span = span
        self._token: Token[Context] | None = None

    def __enter__(self) -> Span:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self._span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc is not None:
                mark_error(self._span, type(exc).__qualname__, str(exc), exc)
        finally:
            if self._token is not None:
                otel_context.detach(self._token)
            self._span.end()


class NoopScope:
    """The disabled path: one shared instance, nothing allocated, nothing made current."""

    __slots__ = ()

    def __enter__(self) -> Span:
        return INVALID_SPAN

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


NOOP_SCOPE: Final = NoopScope()


def mark_error(span: Span, error_type: str, message: str | None = None, exc: BaseException | None = None) -> None:
    """Semconv error recording: `error.type`, ERROR status, and the exception event if there is one."""
    span.set_attribute(attr.ERROR_TYPE, error_type)
    if exc is not None:
        span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, message or error_type))


def to_links(sources: Iterable[Source]) -> list[Link]:
    """Links to the valid contexts among `sources` (invalid or empty ones are dropped)."""
    links: list[Link] = []
    for source in sources:
        if source is None:
            continue
        span_ctx = span_context_of(to_context(source))
        if span_ctx is not None:
            links.append(Link(span_ctx))
    return links


def parent_context(parent: Source) -> Context | None:
    """None means "the current context" to the SDK; an explicit empty Context means "a new root"."""
    return None if parent is None else to_context(parent)


def child_span(
    name: str,
    *,
    parent: Source = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes | None = None,
    links: Iterable[Source] = (),
    start_ns: int | None = None,
) -> SpanScope | NoopScope:
    """`with child_span("workflow.activate", parent=run_carrier) as span:` ... (current inside)."""
    current = active_tracer.active()
    if current is None:
        return NOOP_SCOPE
    span = current.tracer.start_span(
        name,
        context=parent_context(parent),
        kind=kind,
        attributes=attributes,
        links=to_links(links),
        start_time=start_ns,
    )
    return SpanScope(span)


def start_span_at(
    name: str,
    parent: Source,
    start_ns: int,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes | None = None,
    links: Iterable[Source] = (),
) -> Span:
    """Start a span at a past instant without making it current; end it with `end_span_at`."""
    current = active_tracer.active()
    if current is None:
        return INVALID_SPAN
    return current.tracer.start_span(
        name,
        context=parent_context(parent),
        kind=kind,
        attributes=attributes,
        links=to_links(links),
        start_time=start_ns,
    )


def end_span_at(
    span: Span, end_ns: int | None = None, *, error_type: str | None = None, error_message: str | None = None
) -> None:
    """End `span` at `end_ns` (now if None), marking it failed when `error_type` is given."""
    if error_type is not None:
        mark_error(span, error_type, error_message)
    span.end(end_time=end_ns)
