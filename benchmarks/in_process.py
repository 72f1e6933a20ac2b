"""Time a runtime's loop (a connector, shadow mode) in this process, from its first event to done."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from typing import Protocol

from benchmarks.errors import BenchmarkError
from orchestrator.testing.background import BackgroundRuntime


class TimedRuntime(Protocol):
    first_event_at: float | None  # time.monotonic() of the first record it consumed

    def run(self) -> None: ...

    def stop(self) -> None: ...


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_until(runtime: TimedRuntime, done: Callable[[], bool], timeout_s: float, what: str) -> tuple[float, float]:
    """Run `runtime` until `done()`; returns (seconds from its first event to done, CPU seconds of that span)."""
    background = BackgroundRuntime(runtime).start()
    deadline = time.monotonic() + timeout_s
    while runtime.first_event_at is None and background.alive and time.monotonic() < deadline:
        time.sleep(0.001)
    cpu_started = cpu_seconds()
    while not done() and background.alive and time.monotonic() < deadline:
        time.sleep(0.005)
    finished = time.monotonic()
    cpu = cpu_seconds() - cpu_started
    try:
        background.stop()
    except Exception as exc:
        raise BenchmarkError(f"{what} failed: {exc}") from exc
    if runtime.first_event_at is None or not done():
        raise BenchmarkError(f"{what} did not finish within {timeout_s:.0f} s")
    return finished - runtime.first_event_at, cpu


__all__ = ["cpu_seconds", "run_until"]
