"""The vocabularies of the visibility store: step status and timeline entry kinds.

The workflow status is the engine's own `WorkflowStatus`, so a row, an API response and a
lifecycle event always spell a run's state the same way. Steps need a wider vocabulary than the
engine's open-step `StepStatus`: the store keeps settled steps too (completed, failed, abandoned).
"""

from __future__ import annotations

from enum import StrEnum

from orchestrator.workflow.status import WorkflowStatus


class StepStatus(StrEnum):
    """Where a step of the timeline is, open or settled (the API's `steps[].status`)."""

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
    WORKFLOW_CONTINUED_AS_NEW = "WorkflowContinuedAsNew"
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
