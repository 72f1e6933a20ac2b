"""The statuses a run can be in, as the engine records them in its header."""

from __future__ import annotations

from enum import StrEnum


class WorkflowStatus(StrEnum):
    RUNNING = "running"
    PARKED = "parked"  # a step exhausted its retries or a compensation failed: an operator decides
    NEEDS_ATTENTION = "needs-attention"  # the code could not be replayed or activated
    COMPLETED = "completed"
    FAILED = "failed"
    COMPENSATED = "compensated"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in _FINISHED

    @property
    def waiting_for_operator(self) -> bool:
        return self in (WorkflowStatus.PARKED, WorkflowStatus.NEEDS_ATTENTION)


_FINISHED = frozenset(
    {WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.COMPENSATED, WorkflowStatus.CANCELLED}
)
