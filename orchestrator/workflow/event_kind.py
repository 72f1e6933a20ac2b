"""The kinds of history events (their payloads: workflow/event_data.py)."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    """History event kinds; the ``data`` keys of each are listed alongside (typed: ``event_data.py``)."""

    STARTED = "started"  # workflow_type, input_schema, input, trace_context, parent_workflow_id, parent_seq,
    # run (absent: 1), history_warn_events (absent: no suggestion)
    STEP_SCHEDULED = "step_scheduled"  # cmd_seq, service, command_type, payload, policy,
    # start_to_close_ms, schedule_to_close_ms, compensation
    STEP_COMPLETED = "step_completed"  # cmd_seq, result_schema, result, attempt
    STEP_FAILED = "step_failed"  # cmd_seq, error {error_type, message, retryable}, attempt  (FINAL failure)
    TIMER_STARTED = "timer_started"  # cmd_seq, fire_at_ms
    TIMER_FIRED = "timer_fired"  # cmd_seq
    TIMER_CANCELLED = "timer_cancelled"  # cmd_seq
    SIGNAL_RECEIVED = "signal_received"  # name, payload_schema, payload
    SIDE_EFFECT = "side_effect"  # cmd_seq, what ("now"|"random"|"uuid"), value
    PATCH_MARKER = "patch_marker"  # cmd_seq, patch_id, applied
    CHILD_STARTED = "child_started"  # cmd_seq, workflow_type, child_id, input_schema, input
    CHILD_FINISHED = "child_finished"  # cmd_seq, status, result_schema, result, error
    EVENT_PUBLISHED = "event_published"  # cmd_seq, topic (None = the app's events topic), schema, value
    SEARCH_ATTRIBUTES_SET = "search_attributes_set"  # cmd_seq, attributes {name: str|int|float|bool|None}
    CANCEL_REQUESTED = "cancel_requested"  # reason, settle_in_flight (absent in histories before issue 14)
    COMPLETED = "completed"  # result_schema, result
    FAILED = "failed"  # error, status ("failed"|"compensated"|"cancelled")
    # input_schema, input: the run ended by ctx.continue_as_new(). Never stored: the engine deletes
    # the run's history in the same turn and starts the next run's (its STARTED has run + 1).
    CONTINUED_AS_NEW = "continued_as_new"
