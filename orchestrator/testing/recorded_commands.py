"""The workflow commands a history records, read back as the runtime's own command objects.

The engine records every command an activation returned as one history event
(`command_event`, orchestrator/workflow/activation.py). Reading them back lets a test assert on
what the workflow code decided (``ScheduleStep(0, "inventory", ...)``, ``StartTimer(1, ...)``,
``CancelTimer(1)``, ...) at the level the code works at, beside the Kafka records it caused.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.workflow import HistoryEvent, RetryPolicy
from orchestrator.workflow.activation import (
    CancelTimer,
    CompleteWorkflow,
    FailWorkflow,
    PublishEvent,
    RecordPatch,
    RecordSideEffect,
    ScheduleStep,
    SetSearchAttributes,
    StartChild,
    StartTimer,
    WorkflowCommand,
)
from orchestrator.workflow.event_data import (
    ChildStartedData,
    CompletedData,
    EventPublishedData,
    FailedData,
    PatchMarkerData,
    SearchAttributesSetData,
    SideEffectData,
    StepScheduledData,
    TimerCancelledData,
    TimerStartedData,
)


def command_of(event: HistoryEvent) -> WorkflowCommand | None:
    """The command a history event records (the inverse of `command_event`), None for an input
    event (a start, a reply, a fired timer, a signal, a cancel request)."""
    data = event.payload
    if isinstance(data, StepScheduledData):
        return ScheduleStep(
            data.cmd_seq,
            data.service,
            data.command_type,
            data.payload,
            RetryPolicy.from_json(data.policy),
            data.start_to_close_ms,
            data.schedule_to_close_ms,
            data.compensation,
        )
    if isinstance(data, TimerStartedData):
        return StartTimer(data.cmd_seq, data.fire_at_ms)
    if isinstance(data, TimerCancelledData):
        return CancelTimer(data.cmd_seq)
    if isinstance(data, SideEffectData):
        return RecordSideEffect(data.cmd_seq, data.what, data.value)
    if isinstance(data, PatchMarkerData):
        return RecordPatch(data.cmd_seq, data.patch_id, data.applied)
    if isinstance(data, ChildStartedData):
        return StartChild(data.cmd_seq, data.workflow_type, data.child_id, data.input_schema, data.input)
    if isinstance(data, SearchAttributesSetData):
        return SetSearchAttributes(data.cmd_seq, dict(data.attributes))
    if isinstance(data, EventPublishedData):
        return PublishEvent(data.cmd_seq, data.topic, data.schema, data.value)
    if isinstance(data, CompletedData):
        return CompleteWorkflow(data.result_schema, data.result)
    if isinstance(data, FailedData):
        return FailWorkflow(data.error, data.status)
    return None


def commands_of(history: Iterable[HistoryEvent]) -> list[WorkflowCommand]:
    """Every command a history records, in the order the workflow code issued them."""
    return [cmd for cmd in map(command_of, history) if cmd is not None]
