"""A long-running loop (a connector's or shadow mode's runtime) in a thread of the test process.

Tests and benchmarks drive the real runtimes in process: start the loop, watch its counters, stop it
the graceful way (what SIGTERM does in `connectors run` / `shadow run`), and see the error it died
of instead of a thread that ended silently.
"""

from __future__ import annotations

import threading
from typing import Generic, Protocol, Self, TypeVar


class Runnable(Protocol):
    """What a runtime offers: a blocking loop and a thread-safe request to end it."""

    def run(self) -> None: ...  # noqa: D102

    def stop(self) -> None: ...  # noqa: D102


R = TypeVar("R", bound=Runnable)


class BackgroundRuntime(Generic[R]):
    """`runtime.run()` in a daemon thread; `error` is what it raised, if it did."""

    def __init__(self, runtime: R) -> None:
        self.runtime = runtime
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"sb-{type(runtime).__name__}")

    def _run(self) -> None:
        try:
            self.runtime.run()
        except BaseException as exc:  # surfaced by stop() and `error`
            self.error = exc

    def start(self) -> Self:
        """Start the loop; returns self for `with`-less one-liners."""
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        """Whether the loop is still running (it ends on stop() or on an error)."""
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Ask the loop to finish, wait up to `timeout_s`, and raise what it died of, if anything."""
        self.runtime.stop()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(f"{type(self.runtime).__name__} did not stop within {timeout_s:.0f} s")
        if self.error is not None:
            raise self.error


__all__ = ["BackgroundRuntime", "Runnable"]
