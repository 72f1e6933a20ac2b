"""Operator decisions for parked runs (retry, skip, compensate, cancel).

Every check happens before the first write, so a rejected action (unknown workflow, nothing
parked, SKIP without a single target) is dead-lettered and changes nothing.
"""

from __future__ import annotations

from orchestrator.engine.cancel import Cancellation
from orchestrator.engine.executor import Executor
from orchestrator.engine.inbound import OperatorMsg
from orchestrator.engine.state_records import StepRecord, StepStatus
from orchestrator.engine.steps import OPERATOR_CANCELLED, StepLogic
from orchestrator.engine.turn import Turn
from orchestrator.engine.view import Run
from orchestrator.errors import InvalidInboundRecordError
from orchestrator.workflow.activation import ErrorInfo
from orchestrator.workflow.status import WorkflowStatus


class OperatorHandlers:
    def __init__(self, executor: Executor, steps: StepLogic, cancellation: Cancellation) -> None:
        self.ex = executor
        self.steps = steps
        self.cancellation = cancellation

    def handle(self, t: Turn, msg: OperatorMsg) -> None:
        run = self.ex.load(t, msg.workflow_id)
        if run is None:
            raise InvalidInboundRecordError(f"operator action for unknown workflow {msg.workflow_id!r}")
        if run.header.finished:
            raise InvalidInboundRecordError(f"workflow {msg.workflow_id!r} already finished ({run.header.status})")
        if run.header.status == WorkflowStatus.NEEDS_ATTENTION:
            self._needs_attention(t, run, msg)
            return
        parked = [s for s in t.store.steps(msg.workflow_id, run.header.run_first_seq) if s.status == StepStatus.PARKED]
        targets = parked if msg.seq is None else [s for s in parked if s.seq == msg.seq]
        if msg.action == "CANCEL":
            self._applied(t, run, msg)
            self._cancel(t, run, msg, targets)
            return
        if not targets:
            which = "any step" if msg.seq is None else f"step {msg.seq}"
            raise InvalidInboundRecordError(f"{msg.action}: workflow {msg.workflow_id!r} is not parked on {which}")
        if msg.action == "SKIP" and len(targets) != 1:
            raise InvalidInboundRecordError(f"SKIP needs one parked step, {len(targets)} are parked: give seq")
        self._applied(t, run, msg)
        if msg.action == "RETRY":
            for step in targets:
                self.steps.resend(t, run, step, reset_budget=True)
            self.steps.maybe_unpark(t, run)
        elif msg.action == "SKIP":
            step = targets[0]
            self.steps.complete(t, run, step, msg.result_schema, msg.result, msg.result_bytes, step.attempt)
        else:  # COMPENSATE: fail the step finally; the workflow's saga compensates
            for step in targets:
                last = step.last_error
                error = ErrorInfo(
                    last.error_type if last else "OperatorCompensate",
                    f"operator {msg.operator}: {msg.reason}" + (f" (last error: {last.message})" if last else ""),
                    False,
                )
                self.steps.fail_final(t, run, step, error)

    def _cancel(self, t: Turn, run: Run, msg: OperatorMsg, parked: list[StepRecord]) -> None:
        """A forced cancel, the escape hatch when a participant will never answer: request
        cancellation (if no one has yet) giving up on every forward step it holds, whatever its
        state (their outcome is unknown: a late success is reported `abandoned`), then fail the
        parked steps left, compensations included (those are never cancelled, so without this the
        saga would wait on them forever)."""
        wf = run.header.workflow_id
        reason = f"operator {msg.operator}: {msg.reason}"
        if not run.view.cancel_requested:
            self.cancellation.request(t, run, reason, give_up=True)
        else:
            self.steps.settle_for_cancel(t, run, reason, give_up=True)
        for step in parked:
            current = t.store.step(wf, step.seq)
            if current is not None and current.status == StepStatus.PARKED:
                self.steps.fail_final(t, run, current, ErrorInfo(OPERATOR_CANCELLED, msg.reason, False))

    def _needs_attention(self, t: Turn, run: Run, msg: OperatorMsg) -> None:
        """Code could not be replayed: RETRY replays again (after a fix), CANCEL closes the run
        without running code; SKIP/COMPENSATE need runnable code and are rejected."""
        if msg.action not in ("RETRY", "CANCEL"):
            raise InvalidInboundRecordError(f"{msg.action} is not possible on a needs-attention workflow")
        self._applied(t, run, msg)
        if msg.action == "CANCEL":
            error = ErrorInfo(OPERATOR_CANCELLED, f"operator {msg.operator}: {msg.reason}", False)
            self.ex.finish(t, run, WorkflowStatus.CANCELLED, error=error)
            return
        h = run.header
        parked = any(s.status == StepStatus.PARKED for s in t.store.steps(h.workflow_id, h.run_first_seq))
        self._unpark(t, run, WorkflowStatus.PARKED if parked else WorkflowStatus.RUNNING)
        self.ex.replay(t, run, t.store.history(h.workflow_id, h.run_first_seq))
        self.ex.note_waiting(t, run, force=True)  # what it waits on may have changed while suspended

    def _unpark(self, t: Turn, run: Run, status: WorkflowStatus = WorkflowStatus.RUNNING) -> None:
        run.header.status = status
        run.header.parked_reason = None
        run.header.updated_at_ms = t.now_ms
        t.store.put_header(run.header)
        t.out.event("WorkflowResumed", run.header, t.now_ms, status=status)

    def _applied(self, t: Turn, run: Run, msg: OperatorMsg) -> None:
        t.out.event(
            "OperatorActionApplied",
            run.header,
            t.now_ms,
            action=msg.action,
            seq=msg.seq,
            operator=msg.operator,
            reason=msg.reason,
        )
