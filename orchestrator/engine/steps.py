"""Step lifecycle: send, settle on replies, retry with durable backoff, time out, park.

A step is open while its `s/` record exists. All attempts are the same operation (docs/protocol.md §4),
so a success or a permanent failure settles it whichever attempt it answers: a participant that
answers a redelivery from its stored outcome may echo an older attempt. A retryable failure only
counts for the attempt in flight. Everything else is recorded as late or duplicate and changes
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from orchestrator.engine import run_tracing
from orchestrator.engine.executor import Executor
from orchestrator.engine.outbox import command_id
from orchestrator.engine.state_records import EmbeddedRecord, StepRecord, StepStatus
from orchestrator.engine.turn import EngineStats, Turn
from orchestrator.engine.view import Run
from orchestrator.errors import SerializationError, UnknownWorkflowReplyError
from orchestrator.workflow.activation import ErrorInfo, ScheduleStep
from orchestrator.workflow.event_data import StepCompletedData, StepFailedData
from orchestrator.workflow.status import WorkflowStatus

ATTEMPT_TIMEOUT = "AttemptTimeout"
STEP_TIMEOUT = "StepTimeout"
ENCODE_FAILED = "CommandEncodeError"
CANCELLED = "WorkflowCancelled"  # a step settled by a cancel: it cannot have had an effect
OPERATOR_CANCELLED = "OperatorCancelled"  # a step an operator gave up on: its outcome is unknown

# ReplyIgnored.why
LATE = "late"  # a failure for an attempt no longer waited for, or for a settled step
DUPLICATE = "duplicate"  # a success for a step that already completed
ABANDONED = "abandoned"  # a success for a step that never completed (failed, timed out, dropped)
UNKNOWN_STEP = "unknown-step"


@dataclass(frozen=True, slots=True)
class Reply:
    """A participant's reply, validated and decoded (see inbound.py)."""

    workflow_id: str
    seq: int
    command_id: str
    attempt: int
    success: bool
    result_schema: str | None
    result: dict[str, Any] | None
    result_bytes: bytes | None
    error: ErrorInfo | None


def _ms(delta: timedelta) -> int:
    return int(delta / timedelta(milliseconds=1))


class StepLogic:
    def __init__(self, executor: Executor, stats: EngineStats) -> None:
        self.ex = executor
        self.stats = stats

    # --- sending ------------------------------------------------------------------------------
    def encode_command(self, t: Turn, run: Run, cmd: ScheduleStep) -> bytes | None:
        """The command's record, encoded once: sent, kept in the step for retries and in history.
        None: its schema rejects the payload the workflow code built; the step fails (deferred)."""
        try:
            return t.out.serde.encode(cmd.command_type, cmd.payload)
        except SerializationError as exc:
            error = ErrorInfo(ENCODE_FAILED, str(exc), False)
            self.ex.defer(run, StepFailedData(cmd.cmd_seq, error, 0))
            return None

    def schedule(self, t: Turn, run: Run, cmd: ScheduleStep, payload: bytes) -> None:
        """Open the step of a recorded ScheduleStep and send its first attempt (`payload`: encode_command's)."""
        h = run.header
        step = StepRecord(
            seq=cmd.cmd_seq,
            service=cmd.service,
            command_type=cmd.command_type,
            command_id=command_id(h.workflow_id, cmd.cmd_seq),
            attempt=1,
            status=StepStatus.IN_FLIGHT,
            first_scheduled_ms=t.now_ms,
            attempt_started_ms=t.now_ms,
            payload=payload,
            policy=cmd.policy,
            start_to_close_ms=cmd.start_to_close_ms,
            schedule_to_close_ms=cmd.schedule_to_close_ms,
            compensation=cmd.compensation,
            trace_context=run_tracing.open_attempt(h),
        )
        t.store.put_step(h.workflow_id, step, None)
        if cmd.compensation and run.view.compensation_steps == 1:
            t.out.event("Compensating", h, t.now_ms, reason="saga compensation started", error=None)
        self._send(t, run, step)

    def _send(self, t: Turn, run: Run, step: StepRecord) -> None:
        cancelling = step.seq in run.view.held_by_cancel
        t.out.command(
            run.header, step, run_tracing.command_trace_headers(run.header, step), cancel_requested=cancelling
        )
        payload = step.payload if step.attempt == 1 else None  # a retry resends the same bytes
        t.out.step_event("StepScheduled", run.header, t.now_ms, step, compensation=step.compensation, payload=payload)

    def resend(self, t: Turn, run: Run, step: StepRecord, *, reset_budget: bool = False) -> None:
        """Next attempt: same command id, attempt + 1 (attempt numbers only ever grow)."""
        prev = replace(step)
        if reset_budget:
            step.attempt_base = step.attempt
            step.first_scheduled_ms = t.now_ms
        else:
            run_tracing.retry_fired(t, run.header, step)
        step.trace_context = run_tracing.open_attempt(run.header)
        step.attempt += 1
        step.status = StepStatus.IN_FLIGHT
        step.attempt_started_ms = t.now_ms
        step.next_retry_ms = None
        t.store.put_step(run.header.workflow_id, step, prev)
        self._send(t, run, step)

    # --- replies ------------------------------------------------------------------------------
    def on_reply(self, t: Turn, reply: Reply) -> None:
        run = self.ex.load(t, reply.workflow_id)
        if run is None:  # unmatched: an operator must see it (the chaos audit counted these as lost)
            raise UnknownWorkflowReplyError(reply.workflow_id, reply.command_id)
        step = None if run.header.finished else t.store.step(reply.workflow_id, reply.seq)
        if step is None:
            self._ignored(t, run, reply, self.why_settled(run, [reply.seq], reply.success))
        elif reply.success:
            # the result was decoded from these bytes as written (inbound.py): history keeps them
            record = None if reply.result_bytes is None else EmbeddedRecord(reply.result_bytes, None)
            self.complete(
                t, run, step, reply.result_schema, reply.result, reply.result_bytes, reply.attempt, record=record
            )
        else:
            assert reply.error is not None
            if not self.settle_failure(t, run, step, reply.error, current_attempt=reply.attempt == step.attempt):
                self._ignored(t, run, reply, LATE)

    def settle_failure(self, t: Turn, run: Run, step: StepRecord, error: ErrorInfo, *, current_attempt: bool) -> bool:
        """A failure answer for an open step, by the protocol's rule (docs/protocol.md §4).

        A permanent failure settles the step whichever attempt it answers (a parked compensation
        waits for its operator); a retryable one counts only for the attempt in flight
        (`current_attempt`: the answer is for the latest attempt sent). False: it changes nothing
        (late), for the caller to record. A native participant's outcome event (correlation.py)
        comes through here too, so both kinds of participant settle by one rule.
        """
        final = not step.policy.is_retryable(error.error_type, error.retryable)
        if final and not (step.compensation and step.status == StepStatus.PARKED):
            self.attempt_failed(t, run, step, error)
            return True
        if not final and current_attempt and step.status == StepStatus.IN_FLIGHT:
            self.attempt_failed(t, run, step, error)
            return True
        return False

    def why_settled(self, run: Run, seqs: Iterable[int], success: bool) -> str:
        """The label of an answer for a step that is not open (ReplyIgnored.why).

        `seqs`: the steps it may answer, one for a protocol reply; a native outcome names only
        its service (and command type), so every step of that service is a candidate.
        """
        scheduled = [seq for seq in seqs if seq in run.view.scheduled_steps]
        if not scheduled:
            return UNKNOWN_STEP
        if not success:
            return LATE
        if all(seq in run.view.completed_steps for seq in scheduled):
            return DUPLICATE
        # it failed, timed out or was dropped when the run finished, yet the participant did it:
        # an effect no compensation undoes, for an operator to look at
        self.stats.abandoned_successes += 1
        return ABANDONED

    def _ignored(self, t: Turn, run: Run, reply: Reply, why: str) -> None:
        self.stats.replies_ignored += 1
        t.out.event(
            "ReplyIgnored",
            run.header,
            t.now_ms,
            command_id=reply.command_id,
            attempt=reply.attempt,
            status="success" if reply.success else "failure",
            why=why,
        )

    def complete(
        self,
        t: Turn,
        run: Run,
        step: StepRecord,
        result_schema: str | None,
        result: dict[str, Any] | None,
        result_bytes: bytes | None,
        attempt: int,
        *,
        record: EmbeddedRecord | None = None,
    ) -> None:
        """Settle the step by a success. `record`: `result`'s framed bytes and how they were read,
        for history to store instead of JSON; None: `result` is stored as JSON."""
        was_parked = step.status == StepStatus.PARKED
        run_tracing.close_attempt(t, run.header, step, "success")
        t.store.delete_step(run.header.workflow_id, step)
        t.out.step_event(
            "StepCompleted",
            run.header,
            t.now_ms,
            step,
            attempt=attempt,
            result_schema=result_schema,
            result=result_bytes,
        )
        if was_parked:
            self.maybe_unpark(t, run)
        self.ex.deliver(t, run, StepCompletedData(step.seq, result_schema, result, attempt), record)

    def fail_final(self, t: Turn, run: Run, step: StepRecord, error: ErrorInfo) -> None:
        was_parked = step.status == StepStatus.PARKED
        run_tracing.close_attempt(t, run.header, step, "failure", error)
        t.store.delete_step(run.header.workflow_id, step)
        t.out.step_event("StepFailed", run.header, t.now_ms, step, error=error.to_avro())
        if was_parked:
            self.maybe_unpark(t, run)
        self.ex.deliver(t, run, StepFailedData(step.seq, error, step.attempt))

    def attempt_failed(self, t: Turn, run: Run, step: StepRecord, error: ErrorInfo) -> None:
        """An attempt failed (a reply, or the current attempt's timeout): retry, fail finally, or
        park. Only a failure the policy treats as permanent may come from an older attempt."""
        run_tracing.close_attempt(
            t, run.header, step, "timeout" if error.error_type == ATTEMPT_TIMEOUT else "failure", error
        )
        if not step.policy.is_retryable(error.error_type, error.retryable):
            if step.compensation:
                self.park(t, run, step, f"compensation failed: {error.error_type}: {error.message}", error)
            else:
                self.fail_final(t, run, step, error)
            return
        if step.seq in run.view.held_by_cancel and error.error_type != ATTEMPT_TIMEOUT:
            # cancelling, and the participant answered the attempt in flight without doing it: by
            # the protocol's order no earlier attempt did either, so nothing to undo, no retry
            self.fail_final(t, run, step, error)
            return
        if step.policy.attempts_exhausted(step.attempts_used):
            what = "compensation failed, retries exhausted" if step.compensation else "retries exhausted"
            self.park(t, run, step, f"{what} after {step.attempts_used} attempts: {error.error_type}", error)
            return
        prev = replace(step)
        step.status = StepStatus.BACKOFF
        step.next_retry_ms = t.now_ms + _ms(step.policy.delay_for_attempt(step.attempts_used))
        step.last_error = error
        run_tracing.mark_retry_set(step)
        t.store.put_step(run.header.workflow_id, step, prev)
        t.out.step_event(
            "StepRetrying", run.header, t.now_ms, step, error=error.to_avro(), retry_at_ms=step.next_retry_ms
        )

    # --- parking ------------------------------------------------------------------------------
    def park(self, t: Turn, run: Run, step: StepRecord, reason: str, error: ErrorInfo | None) -> None:
        prev = replace(step)
        run_tracing.close_attempt(t, run.header, step, "failure", error)
        step.status = StepStatus.PARKED
        step.next_retry_ms = None
        step.last_error = error
        t.store.put_step(run.header.workflow_id, step, prev)
        h = run.header
        if h.status == WorkflowStatus.RUNNING:
            h.status = WorkflowStatus.PARKED
            h.parked_reason = f"step {step.seq} ({step.service}/{step.command_type}): {reason}"
        h.updated_at_ms = t.now_ms
        t.store.put_header(h)
        self.stats.parked += 1
        t.out.event(
            "WorkflowParked",
            h,
            t.now_ms,
            reason=reason,
            seq=step.seq,
            error=None if error is None else error.to_avro(),
            status=h.status,
        )

    def maybe_unpark(self, t: Turn, run: Run) -> None:
        h = run.header
        if h.status != WorkflowStatus.PARKED:
            return
        if any(s.status == StepStatus.PARKED for s in t.store.steps(h.workflow_id, h.run_first_seq)):
            return
        h.status = WorkflowStatus.RUNNING
        h.parked_reason = None
        h.updated_at_ms = t.now_ms
        t.store.put_header(h)
        t.out.event("WorkflowResumed", h, t.now_ms, status=WorkflowStatus.RUNNING)

    # --- time ---------------------------------------------------------------------------------
    def on_due(self, t: Turn, workflow_id: str, seq: int) -> bool:
        """Re-evaluate a step at t.now_ms: overall timeout, retry due, or attempt timeout.
        Returns False when the index entry was stale (nothing was due)."""
        run = self.ex.load(t, workflow_id)
        if run is None or run.header.finished:
            return False
        step = t.store.step(workflow_id, seq)
        if step is None or step.status == StepStatus.PARKED:
            return False
        now = t.now_ms
        if step.schedule_to_close_ms is not None and now >= step.first_scheduled_ms + step.schedule_to_close_ms:
            msg = f"step not settled within schedule_to_close of {step.schedule_to_close_ms} ms"
            error = ErrorInfo(STEP_TIMEOUT, msg, False)
            run_tracing.close_attempt(t, run.header, step, "timeout", error)
            if step.compensation:
                self.park(t, run, step, f"compensation failed: {STEP_TIMEOUT}", error)
            else:
                self.fail_final(t, run, step, error)
        elif step.status == StepStatus.BACKOFF and step.next_retry_ms is not None and now >= step.next_retry_ms:
            self.resend(t, run, step)
        elif (
            step.status == StepStatus.IN_FLIGHT
            and step.start_to_close_ms is not None
            and now >= step.attempt_started_ms + step.start_to_close_ms
        ):
            msg = f"attempt {step.attempt} got no reply within start_to_close of {step.start_to_close_ms} ms"
            self.attempt_failed(t, run, step, ErrorInfo(ATTEMPT_TIMEOUT, msg, True))
        else:
            return False
        return True

    # --- cancellation -------------------------------------------------------------------------
    def settle_for_cancel(self, t: Turn, run: Run, reason: str, *, give_up: bool) -> None:
        """Right after a cancel request: settle the held steps that cannot have had an effect and
        ask about the others at once (their replies decide; the runtime waits for them).

        In flight: its reply (or attempt timeout) decides. Waiting for a retry, or parked, after a
        failure reply: that answer said "not done", settle it. After an attempt timeout nobody
        knows: send the next attempt now (flagged `sb-cancel-requested`; a parked step gets a
        fresh budget). `give_up` (operator CANCEL, the escape hatch for a participant that will
        never answer): every held step still open is failed instead, whatever its state.
        """
        wf = run.header.workflow_id
        for seq in sorted(run.view.held_by_cancel):
            step = t.store.step(wf, seq)
            if run.header.finished or step is None:
                continue
            if give_up:
                self.fail_final(t, run, step, ErrorInfo(OPERATOR_CANCELLED, reason, False))
            elif step.status == StepStatus.IN_FLIGHT:
                continue
            elif step.last_error is None or step.last_error.error_type == ATTEMPT_TIMEOUT:
                self.resend(t, run, step, reset_budget=step.status == StepStatus.PARKED)
                self.maybe_unpark(t, run)
            else:
                last = step.last_error
                why = f"{reason} (attempt {step.attempt} failed: {last.error_type}: {last.message})"
                self.fail_final(t, run, step, ErrorInfo(CANCELLED, why, False))


__all__ = ["Reply", "StepLogic"]
