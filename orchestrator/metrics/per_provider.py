"""One set of instruments per meter provider, made on first use and shared by every component on it.

OTel refuses a second instrument of one name on a meter, and a process is one Prometheus target,
so each recorder module (orchestrator, worker, messaging) builds its instruments once per provider
and every orchestrator or service of the process records into those. Weakly keyed: a provider a
test drops takes its instruments with it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from opentelemetry.metrics import MeterProvider

T = TypeVar("T")


class PerProvider(Generic[T]):
    """`build(provider)` once per provider; `get(provider)` returns that one from any thread."""

    def __init__(self, build: Callable[[MeterProvider], T]) -> None:
        self._build = build
        self._made: weakref.WeakKeyDictionary[MeterProvider, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, provider: MeterProvider) -> T:
        """The instruments of `provider`, built on the first call."""
        with self._lock:
            found = self._made.get(provider)
            if found is None:
                found = self._made[provider] = self._build(provider)
            return found
