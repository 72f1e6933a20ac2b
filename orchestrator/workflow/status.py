"""The status of a workflow run, as the engine stores it and lifecycle events report it."""

from __future__ import annotations

from enum import StrEnum


class WorkflowStatus(StrEnum):
    """Where a run is. A `StrEnum`, so the stored and emitted values stay the plain strings."""

    RUNNING = "running"
    PARKED = "parked"  # a step waits for an operator; other branches of the run keep going
    NEEDS_ATTENTION = "needs-attention"  # the code cannot be replayed or activated; events still recorded
    COMPLETED = "completed"
    FAILED = "failed"
    COMPENSATED = "compensated"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """A final status: the run will never change again (it is only kept for retention)."""
        return self in _FINAL

    @property
    def waiting_for_operator(self) -> bool:
        """Parked or needs-attention: nothing happens until an operator acts."""
        return self in (WorkflowStatus.PARKED, WorkflowStatus.NEEDS_ATTENTION)


_FINAL = frozenset(
    {WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.COMPENSATED, WorkflowStatus.CANCELLED}
)
