"""The vocabularies of the visibility store: workflow status, step status, timeline entry kinds.

Values are the strings the engine and the events topic use, so a row, an API response and a
lifecycle event always spell a state the same way.
"""

from __future__ import annotations

from enum import StrEnum


class WorkflowStatus(StrEnum):
    RUNNING = "running"
    PARKED = "parked"  # a step waits for an operator (retries exhausted, compensation failed)
    NEEDS_ATTENTION = "needs-attention"  # its code cannot be replayed or run (non-determinism, bug)
    COMPLETED = "completed"
    FAILED = "failed"
    COMPENSATED = "compensated"
    CANCELLED = "cancelled"

    @property
    def closed(self) -> bool:
        return self in CLOSED_STATUSES

    @property
    def operable(self) -> bool:
        """Statuses an operator may retry, skip or compensate in."""
        return self in (WorkflowStatus.PARKED, WorkflowStatus.NEEDS_ATTENTION)


CLOSED_STATUSES = frozenset(
    {WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.COMPENSATED, WorkflowStatus.CANCELLED}
)


class StepStatus(StrEnum):
    IN_FLIGHT = "in-flight"  # the command of the current attempt is out, no reply yet
    BACKOFF = "backoff"  # the attempt failed retryably; a durable retry timer is set
    PARKED = "parked"  # waiting for an operator
    COMPLETED = "completed"
    FAILED = "failed"
    ABANDONED = "abandoned"  # still open when the workflow closed (cancelled, or an operator's cancel)


class EntryKind(StrEnum):
    """One timeline entry per record of the events topic: the lifecycle event's name, or
    EVENT_PUBLISHED for a domain event the workflow published (`ctx.publish`)."""

    WORKFLOW_STARTED = "WorkflowStarted"
    STEP_SCHEDULED = "StepScheduled"
    STEP_RETRYING = "StepRetrying"
    STEP_COMPLETED = "StepCompleted"
    STEP_FAILED = "StepFailed"
    REPLY_IGNORED = "ReplyIgnored"
    WORKFLOW_PARKED = "WorkflowParked"
    WORKFLOW_RESUMED = "WorkflowResumed"
    WORKFLOW_WAITING = "WorkflowWaiting"
    SIGNAL_RECEIVED = "SignalReceived"
    SEARCH_ATTRIBUTES_SET = "SearchAttributesSet"
    CANCEL_REQUESTED = "CancelRequested"
    COMPENSATING = "Compensating"
    OPERATOR_ACTION_APPLIED = "OperatorActionApplied"
    WORKFLOW_COMPLETED = "WorkflowCompleted"
    WORKFLOW_FAILED = "WorkflowFailed"
    WORKFLOW_COMPENSATED = "WorkflowCompensated"
    WORKFLOW_CANCELLED = "WorkflowCancelled"
    EVENT_PUBLISHED = "EventPublished"


TERMINAL_KINDS: dict[EntryKind, WorkflowStatus] = {
    EntryKind.WORKFLOW_COMPLETED: WorkflowStatus.COMPLETED,
    EntryKind.WORKFLOW_FAILED: WorkflowStatus.FAILED,
    EntryKind.WORKFLOW_COMPENSATED: WorkflowStatus.COMPENSATED,
    EntryKind.WORKFLOW_CANCELLED: WorkflowStatus.CANCELLED,
}
STEP_KINDS = frozenset(
    {EntryKind.STEP_SCHEDULED, EntryKind.STEP_RETRYING, EntryKind.STEP_COMPLETED, EntryKind.STEP_FAILED}
)
