"""``WorkflowInstance``: one run of workflow code, driven by history events.

The engine keeps live instances cached and feeds them each new resolution event; after a
restart or eviction it rebuilds one by feeding the whole history with ``replaying=True``, which
walks the code down the same path and emits only what history does not already hold.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.errors import (
    CompensationFailedError,
    ContinueAsNewError,
    NonDeterminismError,
    QueryNotFoundError,
    WorkflowCancelledError,
    error_type_name,
)
from orchestrator.workflow.activation import (
    JSON,
    CompleteWorkflow,
    ContinueAsNew,
    ErrorInfo,
    EventKind,
    FailWorkflow,
    HistoryEvent,
    WorkflowCommand,
    command_event,
)
from orchestrator.workflow.context import WorkflowContext, WorkflowInfo
from orchestrator.workflow.definition import WorkflowDefinition
from orchestrator.workflow.event_data import (
    CancelRequestedData,
    ChildFinishedData,
    SignalReceivedData,
    StartedData,
    StepCompletedData,
    StepFailedData,
    TimerFiredData,
)
from orchestrator.workflow.payloads import decoder, is_record, to_json
from orchestrator.workflow.runtime import Runtime
from orchestrator.workflow.status import WorkflowStatus

RESOLUTION_KINDS = frozenset(
    {
        EventKind.STARTED,
        EventKind.STEP_COMPLETED,
        EventKind.STEP_FAILED,
        EventKind.TIMER_FIRED,
        EventKind.SIGNAL_RECEIVED,
        EventKind.CHILD_FINISHED,
        EventKind.CANCEL_REQUESTED,
    }
)

Outcome = CompleteWorkflow | FailWorkflow | ContinueAsNew


class WorkflowInstance:
    """One live workflow run; cached by the engine, rebuilt by replay on a miss."""

    def __init__(self, definition: WorkflowDefinition, workflow_id: str) -> None:
        self.definition = definition
        self.workflow_id = workflow_id
        self._rt = Runtime(workflow_id)
        self._ctx: WorkflowContext | None = None
        self._main: asyncio.Task[None] | None = None
        self._last_seq = -1
        self._outcome: Outcome | None = None

    # --- driving ------------------------------------------------------------------------------
    def activate(self, events: Sequence[HistoryEvent], now_ms: int, *, replaying: bool) -> list[WorkflowCommand]:
        """Apply ``events`` (in order; already applied seqs are skipped), running the code until it
        blocks after each resolution, and return only the commands history does not hold yet.

        Raises ``NonDeterminismError`` if the code diverges from the recorded commands; the
        instance is then unusable (every later call raises the same error).
        """
        rt = self._rt
        if rt.failure is not None:
            raise rt.failure
        rt.out = []
        rt.replaying = replaying
        fresh = [e for e in events if e.seq > self._last_seq]
        for event in fresh:
            rt.index.add(event)
        try:
            for event in fresh:
                self._last_seq = event.seq
                if event.kind in RESOLUTION_KINDS:
                    self._apply(event)
            rt.index.check_all_reissued()
        except NonDeterminismError as err:
            rt.failure = rt.failure or err
            rt.loop.halt()
            raise rt.failure from None
        return rt.out

    def _apply(self, event: HistoryEvent) -> None:
        rt = self._rt
        data = event.payload
        rt.current_seq = event.seq
        rt.loop.advance_to(event.at_ms)
        rt.active = True
        try:
            if isinstance(data, StartedData):
                self._start(event.seq, event.at_ms, data)
            elif rt.finished:
                return
            elif isinstance(data, StepCompletedData):
                rt.step_completed(data.cmd_seq, data.result)
            elif isinstance(data, StepFailedData):
                rt.step_failed(data.cmd_seq, data.error, data.attempt)
            elif isinstance(data, TimerFiredData):
                rt.timer_fired(data.cmd_seq)
            elif isinstance(data, SignalReceivedData):
                rt.signal_received(data)
            elif isinstance(data, ChildFinishedData):
                rt.child_finished(data.cmd_seq, data.status, data.result, data.error)
            elif isinstance(data, CancelRequestedData):
                rt.request_cancel(data.reason, settle_in_flight=data.settle_in_flight)
            rt.loop.run_until_blocked()
        finally:
            rt.active = False
        if rt.failure is not None:
            raise rt.failure

    def _start(self, seq: int, at_ms: int, data: StartedData) -> None:
        if self._main is not None:
            return  # a second STARTED can only be an engine bug; the first one wins
        rt = self._rt
        # A continued run's history starts where the previous one ended, and so do its command
        # seqs: command ids, step and timer keys and default child ids never repeat across runs,
        # so a late reply to a step of an earlier run can never settle a step of this one.
        rt.first_seq = seq
        rt.next_seq = max(rt.next_seq, seq)
        rt.history_warn_events = data.history_warn_events
        info = WorkflowInfo(
            workflow_id=self.workflow_id,
            workflow_type=data.workflow_type or self.definition.name,
            start_time_ms=at_ms,
            trace_context=dict(data.trace_context),
            parent_workflow_id=data.parent_workflow_id,
            parent_seq=data.parent_seq,
            run=data.run,
        )
        self._ctx = WorkflowContext(self._rt, info)
        # A fresh contextvars context: nothing from the engine's thread leaks into workflow code.
        self._main = self._rt.loop.create_task(
            self._run(self._ctx, data.input),
            name=f"workflow {self.workflow_id}",
            context=contextvars.Context(),
        )

    async def _run(self, ctx: WorkflowContext, raw_input: Any) -> None:
        rt = self._rt
        d = self.definition
        try:
            if d.takes_input:
                arg = decoder(d.input_type)(raw_input)
                del raw_input  # a parked run keeps this frame for as long as it waits: not the JSON too
                value = await d.fn(ctx, arg)
            else:
                value = await d.fn(ctx)
            outcome: Outcome = _completion(value)
        except NonDeterminismError:
            return
        except ContinueAsNewError as exc:
            outcome = ContinueAsNew(exc.input_schema, exc.input)
        except WorkflowCancelledError as exc:
            outcome = FailWorkflow(ErrorInfo("WorkflowCancelled", exc.reason), WorkflowStatus.CANCELLED)
        except asyncio.CancelledError:
            outcome = FailWorkflow(ErrorInfo("WorkflowCancelled", rt.cancel_reason), WorkflowStatus.CANCELLED)
        except CompensationFailedError as exc:
            outcome = FailWorkflow(_error_info(exc), WorkflowStatus.FAILED)
        except Exception as exc:
            outcome = FailWorkflow(
                _error_info(exc), WorkflowStatus.COMPENSATED if rt.compensated else WorkflowStatus.FAILED
            )
        if rt.failure is None:
            self._finish(outcome)

    def _finish(self, outcome: Outcome) -> None:
        rt = self._rt
        kind, data = command_event(outcome)
        try:
            recorded = rt.index.match_terminal(kind, data, rt.current_seq)
        except NonDeterminismError as err:
            rt.fail(err)
        if not recorded:
            rt.out.append(outcome)
        rt.finished = True
        self._outcome = outcome

    # --- inspection ---------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self._rt.finished

    @property
    def result(self) -> Outcome | None:
        """The final command (CompleteWorkflow, FailWorkflow or ContinueAsNew) once finished, else None."""
        return self._outcome

    @property
    def cancel_requested(self) -> bool:
        return self._rt.cancel_requested

    def buffered_signals(self) -> list[SignalReceivedData]:
        """Signals received and not taken by a wait yet, oldest first (a continued run gets them)."""
        return self._rt.buffered_signals()

    def awaited_signals(self) -> tuple[str, ...]:
        """Signal names the code waits for now (visibility's "awaited signal"), sorted."""
        return self._rt.awaited_signals()

    @property
    def context(self) -> WorkflowContext | None:
        return self._ctx

    def query(self, name: str, args: list[JSON]) -> JSON:
        """Run query handler ``name``; it sees current state and cannot issue commands."""
        handler = self._rt.query_handlers.get(name)
        if handler is None:
            raise QueryNotFoundError(self.workflow_id, name, tuple(sorted(self._rt.query_handlers)))
        return to_json(handler(*args))

    def snapshot(self) -> dict[str, JSON]:
        """Everything the run is waiting on, as plain data (tests compare live vs replayed)."""
        rt, p = self._rt, self._rt.pending
        return {
            "next_seq": rt.next_seq,
            "steps": {
                s: [st.service, st.command_type, st.compensation] for s, st in p.steps.items() if not st.future.done()
            },
            "timers": sorted(p.timers),
            "children": {s: [c.workflow_type, c.child_id] for s, c in p.children.items()},
            "signal_waiters": {n: len(q) for n, q in p.signal_waiters.items() if q},
            "signal_buffer": {n: [data.payload for _, data in q] for n, q in p.signal_buffer.items() if q},
            "patches": dict(rt.patches),
            "cancel_requested": rt.cancel_requested,
            "cancel_held": rt.held_for_cancel(),
            "finished": rt.finished,
            "outcome": None if self._outcome is None else command_event(self._outcome)[1],
            "now_ms": rt.now_ms,
        }


def _completion(value: Any) -> Outcome:
    if value is None:
        return CompleteWorkflow(None, None)
    if is_record(value):
        return CompleteWorkflow(value.avro_schema_name, value.to_avro())
    if isinstance(value, Mapping):
        return CompleteWorkflow(None, dict(value))
    return FailWorkflow(
        ErrorInfo(
            "InvalidWorkflowResult", f"a workflow must return an AvroModel, a dict or None, not {type(value).__name__}"
        ),
        WorkflowStatus.FAILED,
    )


def _error_info(exc: BaseException) -> ErrorInfo:
    return ErrorInfo(error_type_name(exc), str(exc), False)
