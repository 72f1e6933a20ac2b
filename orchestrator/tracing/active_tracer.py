"""Which tracer the helpers use right now, or None: the one check every helper starts with.

Resolution order: a scope set with `using(provider)` or `suppressed()` in the current context,
else the process-wide provider installed by `setup_tracing`. Both live in module globals and
one ContextVar, so the disabled path of every helper costs a ContextVar read and a None test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace import Tracer

from orchestrator.errors import ForeignTracerProviderError
from orchestrator.tracing.ids import ForcedIdGenerator

INSTRUMENTATION_NAME: Final = "sagabridge"


@dataclass(frozen=True, slots=True)
class Active:
    """A provider the helpers may record with, with its tracer and sampler looked up once."""

    provider: TracerProvider
    tracer: Tracer
    sampler: Sampler

    @classmethod
    def of(cls, provider: TracerProvider) -> Active:
        if not isinstance(provider.id_generator, ForcedIdGenerator):
            raise ForeignTracerProviderError(provider)
        from orchestrator import __version__

        return cls(provider, provider.get_tracer(INSTRUMENTATION_NAME, __version__), provider.sampler)


class _Off:
    """Marker scope: tracing suppressed (replay) even though a provider is installed."""


_OFF: Final = _Off()
_SCOPE: ContextVar[Active | _Off | None] = ContextVar("sagabridge_tracing_scope", default=None)

_lock = threading.Lock()
_global: Active | None = None


def active() -> Active | None:
    """The tracer to record with, or None when tracing is off here (helpers then do nothing)."""
    scope = _SCOPE.get()
    if scope is None:
        return _global
    if isinstance(scope, _Off):
        return None
    return scope


def tracing_enabled() -> bool:
    return active() is not None


def set_global(value: Active | None) -> Active | None:
    """Swap the process-wide provider; returns the previous one (setup/shutdown only)."""
    global _global
    with _lock:
        previous, _global = _global, value
    return previous


def install_if_absent(provider: TracerProvider) -> TracerProvider:
    """Make `provider` process-wide unless one already is; returns the one in place."""
    global _global
    with _lock:
        if _global is None:
            _global = Active.of(provider)
        return _global.provider


def global_active() -> Active | None:
    return _global


@contextmanager
def using(provider: TracerProvider) -> Iterator[TracerProvider]:
    """Record with `provider` inside this block (this context only): tests and multi-service processes."""
    token = _SCOPE.set(Active.of(provider))
    try:
        yield provider
    finally:
        _SCOPE.reset(token)


@contextmanager
def suppressed() -> Iterator[None]:
    """No spans and no propagation inside this block: wrap deterministic replay in it."""
    token = _SCOPE.set(_OFF)
    try:
        yield
    finally:
        _SCOPE.reset(token)
