"""Runs workflow code against history: load/replay, record events, activate, apply commands.

The single rule that keeps replay exact: every event is appended to history first, then fed to
the runtime one resolution at a time, and the commands an activation returns are recorded (in
order) before anything else happens.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from orchestrator import tracing
from orchestrator.engine import run_tracing
from orchestrator.engine.cache import RunCache
from orchestrator.engine.outbox import error_avro
from orchestrator.engine.state_records import EmbeddedRecord
from orchestrator.engine.turn import EngineStats, Turn
from orchestrator.engine.view import NOT_WAITING, Run, RunView
from orchestrator.errors import NonDeterminismError, error_type_name
from orchestrator.workflow import WorkflowInstance, WorkflowRegistry
from orchestrator.workflow.activation import (
    CancelTimer,
    CompleteWorkflow,
    ContinueAsNew,
    ErrorInfo,
    FailWorkflow,
    HistoryEvent,
    PublishEvent,
    ScheduleStep,
    SetSearchAttributes,
    StartChild,
    StartTimer,
    WorkflowCommand,
    command_event,
)
from orchestrator.workflow.event_data import EventData, StartedData
from orchestrator.workflow.status import WorkflowStatus

if TYPE_CHECKING:
    from orchestrator.engine.steps import StepLogic

log = logging.getLogger(__name__)

START_SCHEMA = "sagabridge.control.StartWorkflow"
CHILD_FINISHED_SCHEMA = "sagabridge.control.ChildWorkflowFinished"

_FINISH_EVENTS = {
    WorkflowStatus.COMPLETED: "WorkflowCompleted",
    WorkflowStatus.FAILED: "WorkflowFailed",
    WorkflowStatus.COMPENSATED: "WorkflowCompensated",
    WorkflowStatus.CANCELLED: "WorkflowCancelled",
}


class Executor:
    def __init__(
        self, registry: WorkflowRegistry, cache: RunCache, stats: EngineStats, history_warn_events: int | None = None
    ) -> None:
        """`history_warn_events`: a run whose history reaches this many events logs a warning (once)
        and its `ctx.continue_as_new_suggested` turns True; None: neither."""
        self.registry = registry
        self.cache = cache
        self.stats = stats
        self.history_warn_events = history_warn_events
        self.steps: StepLogic  # wired by the engine (the two call each other)
        self.consumer_group: str | None = None  # for the activation spans' messaging attributes
        self._deferred: deque[tuple[Run, EventData]] = deque()

    # --- loading ------------------------------------------------------------------------------
    def load(self, t: Turn, workflow_id: str, *, for_query: bool = False) -> Run | None:
        """The run of a workflow, from the cache or rebuilt by replay (which emits nothing).

        Finished runs are only replayed when a query needs their handlers; suspended
        (needs-attention) runs never are, until an operator retries them.
        """
        run = self.cache.get(workflow_id)
        if run is None:
            header = t.store.header(workflow_id)
            if header is None:
                return None
            history = t.store.history(workflow_id, header.run_first_seq)
            run = Run(header=header, view=RunView(), instance=None)
            for event in history:
                run.view.fold(event)
            self.cache.put(workflow_id, run)
            if not header.finished and header.status != WorkflowStatus.NEEDS_ATTENTION:
                self.replay(t, run, history)
        if for_query and run.instance is None and run.header.finished:
            self.replay(t, run, t.store.history(workflow_id, run.header.run_first_seq), quiet=True)
        self.cache.touch(workflow_id)
        return run

    def replay(self, t: Turn, run: Run, history: list[HistoryEvent], *, quiet: bool = False) -> None:
        """Rebuild the instance from the full history. Commands it returns beyond history (events
        recorded while it was suspended) are new and applied live."""
        wf = run.header.workflow_id
        try:
            instance = WorkflowInstance(self.registry.get(run.header.workflow_type), wf)
            with tracing.suppressed():  # replay emits no spans, whatever the workflow code calls
                commands = instance.activate(history, t.now_ms, replaying=True)
        except Exception as exc:  # NonDeterminismError, or code that no longer loads/runs
            if not quiet:
                self.suspend(t, run, exc)
            return
        self.stats.replays += 1
        run.instance = instance
        run.waiting = run.current_waiting()  # what the last live activation announced
        if commands and not run.header.finished:
            self.apply(t, run, commands)
            self.drain(t)
            self.note_waiting(t, run)

    # --- recording and activation -------------------------------------------------------------
    def record(
        self, t: Turn, run: Run, kind: str, data: dict[str, Any], record: EmbeddedRecord | None = None
    ) -> HistoryEvent:
        """`record`: the bytes of the kind's embedded record, stored instead of its JSON (WorkflowStore.append)."""
        run_tracing.ensure_run_context(run.header)  # live only: replay never records
        event = t.store.append(run.header, kind, t.now_ms, data, record)
        run.view.fold(event)
        t.store.put_header(run.header)
        self.cache.touch(run.header.workflow_id)
        warn_at = self.history_warn_events
        if warn_at is not None and event.seq + 1 - run.header.run_first_seq == warn_at:
            self._warn_history(run)
        return event

    def _warn_history(self, run: Run) -> None:
        """Logged when the run's history reaches the setting, so once per run (a replay records nothing)."""
        self.stats.history_warnings += 1
        log.warning(
            "workflow %r (%s) has %d events in its current history (history_warn_events): every replay after a "
            "restart, cache eviction or rebalance re-runs all of them; call ctx.continue_as_new() when "
            "ctx.continue_as_new_suggested is True (docs/workflows.md, 'Long workflows')",
            run.header.workflow_id,
            run.header.workflow_type,
            self.history_warn_events,
        )

    def deliver(self, t: Turn, run: Run, data: EventData, record: EmbeddedRecord | None = None) -> None:
        """Record a resolution event and, if the run is live, activate it with that event.
        `record`: the framed bytes its record field was decoded from (EmbeddedRecord)."""
        self._deliver_one(t, run, data, record)
        self.drain(t)

    def defer(self, run: Run, data: EventData) -> None:
        """Queue a resolution found while applying commands; delivered once that batch is recorded,
        so history never interleaves an activation's commands with a later resolution."""
        self._deferred.append((run, data))

    def drop_deferred(self) -> None:
        self._deferred.clear()

    def drain(self, t: Turn) -> None:
        while self._deferred:
            run, data = self._deferred.popleft()
            self._deliver_one(t, run, data)

    def _deliver_one(self, t: Turn, run: Run, data: EventData, record: EmbeddedRecord | None = None) -> None:
        event = self.record(t, run, data.kind, data.to_data(), record)
        if run.instance is None or run.header.finished:
            return
        started_ns = time.time_ns() if tracing.tracing_enabled() else 0
        try:
            commands = run.instance.activate([event], t.now_ms, replaying=False)
        except Exception as exc:  # a runtime bug must park this run only, never the partition
            self.suspend(t, run, exc)
            return
        self.apply(t, run, commands)
        self.note_waiting(t, run)
        run_tracing.activation(t, run.header, data.kind, started_ns, self.consumer_group)

    def note_waiting(self, t: Turn, run: Run, *, force: bool = False) -> None:
        """Emit WorkflowWaiting when the signals or timer the run waits on changed: visibility's
        "awaited signal" and "timer due" columns. A run that only waits on steps emits nothing."""
        if run.instance is None or run.header.finished:
            return
        waiting = run.current_waiting()
        if waiting != run.waiting or force:
            run.waiting = waiting
            signals, timer_due_ms = waiting
            t.out.event("WorkflowWaiting", run.header, t.now_ms, signals=list(signals), timer_due_ms=timer_due_ms)

    def apply(self, t: Turn, run: Run, commands: list[WorkflowCommand]) -> None:
        for cmd in commands:
            if run.header.finished:
                return
            if isinstance(cmd, ContinueAsNew):  # the run's last command; never recorded (its history goes)
                self.continue_as_new(t, run, cmd)
                return
            timer_due = run.view.open_timers.get(cmd.cmd_seq) if isinstance(cmd, CancelTimer) else None
            kind, data = command_event(cmd)
            if isinstance(cmd, ScheduleStep):
                # encoded first, so history stores the command's bytes rather than a JSON copy
                payload = self.steps.encode_command(t, run, cmd)
                self.record(t, run, kind, data, None if payload is None else EmbeddedRecord(payload, None))
                if payload is not None:
                    self.steps.schedule(t, run, cmd, payload)
                continue
            self.record(t, run, kind, data)
            wf = run.header.workflow_id
            if isinstance(cmd, StartTimer):
                t.store.add_timer(wf, cmd.cmd_seq, cmd.fire_at_ms)
            elif isinstance(cmd, CancelTimer):
                if timer_due is not None:
                    t.store.delete_timer(wf, cmd.cmd_seq, timer_due)
            elif isinstance(cmd, StartChild):
                self._start_child(t, run, cmd)
            elif isinstance(cmd, CompleteWorkflow):
                self.finish(t, run, WorkflowStatus.COMPLETED, result_schema=cmd.result_schema, result=cmd.result)
            elif isinstance(cmd, FailWorkflow):
                err = ErrorInfo(cmd.error.error_type, cmd.error.message, cmd.error.retryable)
                self.finish(t, run, WorkflowStatus(cmd.status), error=err)
            elif isinstance(cmd, PublishEvent):
                t.out.to_topic(cmd.topic or t.out.topics.events, wf, cmd.schema, cmd.value)
            elif isinstance(cmd, SetSearchAttributes):
                t.out.event("SearchAttributesSet", run.header, t.now_ms, attributes=dict(cmd.attributes))
            # RecordSideEffect / RecordPatch: the history event is the whole effect.

    def _start_child(self, t: Turn, run: Run, cmd: StartChild) -> None:
        h = run.header
        t.out.to_inbox(
            cmd.child_id,
            START_SCHEMA,
            {
                "workflow_type": cmd.workflow_type,
                "workflow_id": cmd.child_id,
                "input_schema": cmd.input_schema,
                "input": t.out.serde.encode(cmd.input_schema, cmd.input),
                "parent_workflow_id": h.workflow_id,
                "parent_seq": cmd.cmd_seq,
                "trace_context": run_tracing.child_run_context(h.trace_context),
                "requested_at_ms": t.now_ms,
            },
        )

    # --- terminal transitions -----------------------------------------------------------------
    def continue_as_new(self, t: Turn, run: Run, cmd: ContinueAsNew) -> None:
        """End the run and start the next one of the same workflow id, in this turn.

        The id never stops existing: the header stays RUNNING and keeps counting seqs, the old
        run's history keys and open timers are deleted (the store stays the size of one run), one
        `WorkflowContinuedAsNew` lifecycle event tells visibility, and the new run's STARTED and
        the signals the old run had buffered are delivered once this batch is recorded (deferred),
        so its first commands follow in the same transaction. The runtime refused the call if
        steps or children were still open, so nothing in flight is lost.
        """
        h = run.header
        wf = h.workflow_id
        old = run.instance
        run_no = 1 if old is None or old.context is None else old.context.info.run
        carried = [] if old is None else old.buffered_signals()
        first_seq = h.run_first_seq
        self._abandon_open(t, run)  # no step expected: a step in flight refuses continue_as_new
        t.store.delete_history(wf, first_seq, h.next_seq)
        h.run_first_seq = h.next_seq  # where the new run's STARTED is recorded (deferred below)
        h.status = WorkflowStatus.RUNNING  # also when an operator's retry replayed a suspended run to here
        h.parked_reason = None
        h.updated_at_ms = t.now_ms
        t.store.put_header(h)
        self.cache.touch(wf)
        self.stats.continued_as_new += 1
        t.out.event(
            "WorkflowContinuedAsNew",
            h,
            t.now_ms,
            run=run_no + 1,
            previous_run_events=h.next_seq - first_seq,
            input_schema=cmd.input_schema,
            input=t.out.encode_optional(cmd.input_schema, cmd.input),
            carried_signals=len(carried),
        )
        run.view = RunView()
        run.instance = WorkflowInstance(self.registry.get(h.workflow_type), wf)
        run.waiting = NOT_WAITING  # visibility's row forgets the old run's waits with that event
        started = StartedData(
            h.workflow_type,
            cmd.input_schema,
            cmd.input,
            dict(h.trace_context),
            h.parent_workflow_id,
            h.parent_seq,
            run=run_no + 1,
            history_warn_events=self.history_warn_events,
        )
        self.defer(run, started)
        for signal in carried:
            self.defer(run, signal)

    def _abandon_open(self, t: Turn, run: Run) -> None:
        """The run ends (finished, or continued as new): its open steps are closed as abandoned and
        deleted, its open timers deleted. Before `run_first_seq` moves: the steps are the run's own."""
        h = run.header
        wf = h.workflow_id
        for step in t.store.steps(wf, h.run_first_seq):
            run_tracing.close_attempt(t, h, step, "abandoned")
            t.store.delete_step(wf, step)
        for seq, due in run.view.open_timers.items():
            t.store.delete_timer(wf, seq, due)
        run.view.open_timers.clear()
        run.view.timer_set_ms.clear()

    def finish(
        self,
        t: Turn,
        run: Run,
        status: WorkflowStatus,
        *,
        result_schema: str | None = None,
        result: dict[str, Any] | None = None,
        error: ErrorInfo | None = None,
    ) -> None:
        """Close the run: header, retention entry, abandon open steps/timers, tell the parent."""
        h = run.header
        wf = h.workflow_id
        h.status = status
        h.closed_at_ms = t.now_ms
        h.parked_reason = None
        h.updated_at_ms = t.now_ms
        t.store.put_header(h)
        t.store.add_retention(wf, t.now_ms)
        self._abandon_open(t, run)
        run_tracing.run_finished(t, h, status, error)
        result_bytes = t.out.encode_optional(result_schema, result)
        name = _FINISH_EVENTS[status]
        if status == WorkflowStatus.COMPLETED:
            t.out.event(name, h, t.now_ms, result_schema=result_schema, result=result_bytes)
        elif status == WorkflowStatus.CANCELLED:
            t.out.event(name, h, t.now_ms, reason="" if error is None else error.message)
        elif status == WorkflowStatus.FAILED:
            t.out.event(name, h, t.now_ms, error=(error or ErrorInfo("Unknown", "", False)).to_avro())
        else:
            t.out.event(name, h, t.now_ms, error=error_avro(error))
        if h.parent_workflow_id is not None and h.parent_seq is not None:
            t.out.to_inbox(
                h.parent_workflow_id,
                CHILD_FINISHED_SCHEMA,
                {
                    "workflow_id": h.parent_workflow_id,
                    "parent_seq": h.parent_seq,
                    "child_workflow_id": wf,
                    "status": status,
                    "result_schema": result_schema if result_bytes is not None else None,
                    "result": result_bytes,
                    "error": error_avro(error),
                },
            )

    def suspend(self, t: Turn, run: Run, exc: BaseException) -> None:
        """Park a run whose code cannot be replayed or activated (needs-attention); events keep
        being recorded and are replayed once an operator retries it with fixed code."""
        kind = "non-determinism" if isinstance(exc, NonDeterminismError) else "activation error"
        reason = f"{kind}: {error_type_name(exc)}: {exc}"
        run.instance = None
        run.header.status = WorkflowStatus.NEEDS_ATTENTION
        run.header.parked_reason = reason
        run.header.updated_at_ms = t.now_ms
        t.store.put_header(run.header)
        self.cache.touch(run.header.workflow_id)
        self.stats.suspended += 1
        seq = getattr(exc, "cmd_seq", None)
        status = WorkflowStatus.NEEDS_ATTENTION
        t.out.event("WorkflowParked", run.header, t.now_ms, reason=reason, seq=seq, error=None, status=status)
