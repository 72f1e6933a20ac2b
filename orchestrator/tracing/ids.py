"""An id generator that can be told which ids the next span gets.

A deferred span (a workflow run, a step attempt) must be *recorded* with the span id that was
handed out when it *began* (children already point at it, possibly from another process, days
ago). The SDK has no public "start a span with this id" call, but it asks the provider's id
generator for every new id, so we answer from a context variable while one such span starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

_FORCED: ContextVar[tuple[int, int] | None] = ContextVar("sagabridge_forced_ids", default=None)


class ForcedIdGenerator(RandomIdGenerator):
    """Random ids, except inside `forced_ids(...)` where the given ones are returned."""

    def generate_span_id(self) -> int:
        forced = _FORCED.get()
        return forced[1] if forced is not None else super().generate_span_id()

    def generate_trace_id(self) -> int:
        forced = _FORCED.get()
        return forced[0] if forced is not None else super().generate_trace_id()


@contextmanager
def forced_ids(trace_id: int, span_id: int) -> Iterator[None]:
    """Make the span started inside this block get exactly these ids (keep the block minimal)."""
    token = _FORCED.set((trace_id, span_id))
    try:
        yield
    finally:
        _FORCED.reset(token)


_RANDOM = RandomIdGenerator()


def random_trace_id() -> int:
    return _RANDOM.generate_trace_id()


def random_span_id() -> int:
    return _RANDOM.generate_span_id()
