"""Errors of the benchmark harness (`make bench`): not part of the library, so they live here."""

from __future__ import annotations

from orchestrator.errors import SagaBridgeError


class BenchmarkError(SagaBridgeError):
    """A benchmark case could not produce a figure (broker gone, a peer process failed)."""


class BenchmarkNotAvailableError(BenchmarkError):
    """A case cannot run on this machine; the report records the reason instead of a figure.

    Used for peers that need something optional (the Temporal CLI built from the Go module proxy,
    the peers' venv) so a missing tool shows up plainly in BENCHMARKS.md instead of as a crash.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"not available: {reason}")
