"""The runtime state of one workflow run: pending waits, command issuing, resolutions.

Every primitive of ``WorkflowContext`` lands here. Commands get a ``cmd_seq`` from one counter
(in the order the code issues them) and go through the replay index, so re-running code against
its history re-issues, rather than re-emits, what is already recorded.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NoReturn

from orchestrator.errors import (
    ChildWorkflowFailedError,
    ContinueAsNewRefusedError,
    NonDeterminismError,
    StepFailedError,
    WorkflowAuthoringError,
    WorkflowCancelledError,
    WorkflowTimeoutError,
)
from orchestrator.workflow.activation import (
    JSON,
    CancelTimer,
    ErrorInfo,
    EventKind,
    PublishEvent,
    RecordPatch,
    RecordSideEffect,
    ScheduleStep,
    SearchAttributeValue,
    SetSearchAttributes,
    StartChild,
    StartTimer,
    WorkflowCommand,
    command_event,
)
from orchestrator.workflow.event_data import PatchMarkerData, SideEffectData, SignalReceivedData
from orchestrator.workflow.history import ReplayIndex
from orchestrator.workflow.loop import DeterministicEventLoop
from orchestrator.workflow.payloads import Decoder
from orchestrator.workflow.policy import RetryPolicy
from orchestrator.workflow.status import WorkflowStatus


@dataclass(slots=True)
class _Step:
    future: asyncio.Future[Any]
    service: str
    command_type: str
    compensation: bool
    decode: Decoder


@dataclass(slots=True)
class _Child:
    future: asyncio.Future[Any]
    workflow_type: str
    child_id: str
    decode: Decoder


@dataclass(slots=True, eq=False)
class _SignalWait:
    future: asyncio.Future[Any]
    decode: Decoder
    timer_seq: int | None = None


@dataclass(slots=True)
class _Timer:
    on_fire: Callable[[], None]
    on_cancel: Callable[[BaseException], None]


@dataclass(slots=True)
class _HeldCancel:
    """What a cancellation waits for (steps, children) and whom it interrupts afterwards."""

    steps: set[int]
    children: set[int]
    timers: set[int]
    waits: list[_SignalWait]


@dataclass(slots=True)
class Pending:
    """What the run is waiting for, keyed by cmd_seq (insertion order = issue order)."""

    steps: dict[int, _Step] = field(default_factory=dict)
    timers: dict[int, _Timer] = field(default_factory=dict)
    children: dict[int, _Child] = field(default_factory=dict)
    # lists, not deques: one or two waiters per name, held as long as the run is cached, and an
    # empty deque costs a 64-slot block (~600 B)
    signal_waiters: dict[str, list[_SignalWait]] = field(default_factory=dict)
    # signals no wait has taken yet, with the history seq they arrived at (carried over by continue_as_new)
    signal_buffer: dict[str, deque[tuple[int, SignalReceivedData]]] = field(default_factory=dict)


class Runtime:
    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        self.loop = DeterministicEventLoop()  # type: ignore[abstract]  # I/O methods stay unimplemented
        self.index = ReplayIndex(workflow_id)
        self.pending = Pending()
        self.out: list[WorkflowCommand] = []
        self.next_seq = 0
        self.current_seq = -1  # history seq of the event being applied
        self.first_seq = 0  # history seq of this run's STARTED (0 for a first run)
        self.history_warn_events: int | None = None  # from STARTED: when continue_as_new is suggested
        self.active = False  # commands may only be issued while an event is applied
        self.replaying = False
        self.finished = False
        self.failure: NonDeterminismError | None = None
        self.cancel_requested = False
        self.cancel_reason = ""
        self._cancel_undelivered = False
        self._cancel: _HeldCancel | None = None  # a request waiting for in-flight work to settle
        self.compensated = False
        self.patches: dict[str, bool] = {}
        self.query_handlers: dict[str, Callable[..., Any]] = {}

    # --- issuing ------------------------------------------------------------------------------
    @property
    def now_ms(self) -> int:
        return self.loop.now_ms

    @property
    def is_replaying(self) -> bool:
        return self.replaying and not self.index.new_allowed(self.current_seq)

    @property
    def history_length(self) -> int:
        """Events of this run's history up to the one being applied (the same live and in replay)."""
        return self.current_seq - self.first_seq + 1

    @property
    def continue_as_new_suggested(self) -> bool:
        return self.history_warn_events is not None and self.history_length >= self.history_warn_events

    def check_continue_as_new(self, open_compensations: int) -> None:
        """Refuse to end the run while it holds work the next run could not account for.

        Steps in flight and running children would settle into a run that never scheduled them
        (and their effects could not be compensated); registered compensations would be forgotten;
        a requested cancellation must end the workflow, not restart it. Open timers and signal
        waits are dropped: only the code that is ending waits on them.
        """
        self.guard()
        if (cancelled := self._take_cancel(False)) is not None:
            raise cancelled
        if self.cancel_requested:
            raise ContinueAsNewRefusedError(self.workflow_id, "its cancellation was requested")
        if self.pending.steps:
            raise ContinueAsNewRefusedError(
                self.workflow_id, f"steps {sorted(self.pending.steps)} are still in flight (await them first)"
            )
        if self.pending.children:
            raise ContinueAsNewRefusedError(
                self.workflow_id, f"children {sorted(self.pending.children)} are still running (await them first)"
            )
        if open_compensations:
            raise ContinueAsNewRefusedError(
                self.workflow_id,
                f"an open saga holds {open_compensations} registered compensations (leave the saga block first)",
            )

    def buffered_signals(self) -> list[SignalReceivedData]:
        """Signals received and not taken by a wait, in arrival order."""
        buffered = [entry for queue in self.pending.signal_buffer.values() for entry in queue]
        return [data for _, data in sorted(buffered, key=lambda entry: entry[0])]

    def guard(self) -> None:
        if self.failure is not None:
            raise self.failure
        if not self.active:
            raise WorkflowAuthoringError(
                "workflow primitives can only be used by the running workflow (not from query handlers, "
                "threads or after the instance was discarded)",
                "keep query handlers read-only; issue steps, timers and side effects from workflow code",
            )

    def _take_seq(self) -> int:
        """Next cmd_seq; recorded patch markers the code no longer asks for are skipped."""
        seq = self.next_seq
        while (ev := self.index.at(seq)) is not None and ev.kind == EventKind.PATCH_MARKER:
            self.index.skip(seq)
            seq += 1
        self.next_seq = seq + 1
        return seq

    def emit(self, cmd: WorkflowCommand, cmd_seq: int) -> Any:
        """Issue a seq-numbered command; returns the recorded history event when re-issued."""
        if self.finished:  # background tasks outliving the workflow: nothing more is recorded
            return None
        kind, data = command_event(cmd)
        try:
            recorded = self.index.match(cmd_seq, kind, data, self.current_seq)
        except NonDeterminismError as err:
            self.fail(err)
        if recorded is None:
            self.out.append(cmd)
        return recorded

    def fail(self, err: NonDeterminismError) -> NoReturn:
        """Stop running workflow code and make the activation raise ``err``."""
        if self.failure is None:
            self.failure = err
        self.loop.halt()
        raise self.failure

    def _take_cancel(self, compensation: bool) -> WorkflowCancelledError | None:
        """A cancellation not delivered to a wait yet hits the next cancellable primitive."""
        if self._cancel_undelivered and not compensation:
            self._cancel_undelivered = False
            return WorkflowCancelledError(self.cancel_reason)
        return None

    def held_for_cancel(self) -> dict[str, list[int]] | None:
        """The steps and children a requested cancellation still waits for (None: not waiting)."""
        held = self._cancel
        return None if held is None else {"steps": sorted(held.steps), "children": sorted(held.children)}

    def take_undelivered_cancel(self) -> WorkflowCancelledError | None:
        """For a saga block ending normally: a cancellation requested while its last step was in
        flight (that step succeeded) must still compensate the block."""
        return self._take_cancel(False)

    def _failed_future(self, exc: BaseException) -> asyncio.Future[Any]:
        fut = self.loop.create_future()
        fut.set_exception(exc)
        return fut

    # --- primitives ---------------------------------------------------------------------------
    def schedule_step(
        self,
        service: str,
        command_type: str,
        payload: dict[str, Any],
        policy: RetryPolicy,
        start_to_close_ms: int | None,
        schedule_to_close_ms: int | None,
        compensation: bool,
        decode: Decoder,
    ) -> asyncio.Future[Any]:
        self.guard()
        if (cancelled := self._take_cancel(compensation)) is not None:
            return self._failed_future(cancelled)
        seq = self._take_seq()
        self.emit(
            ScheduleStep(
                seq, service, command_type, payload, policy, start_to_close_ms, schedule_to_close_ms, compensation
            ),
            seq,
        )
        fut = self.loop.create_future()
        self.pending.steps[seq] = _Step(fut, service, command_type, compensation, decode)
        return fut

    def start_timer(
        self, duration_ms: int, on_fire: Callable[[], None], on_cancel: Callable[[BaseException], None]
    ) -> int:
        self.guard()
        seq = self._take_seq()
        self.emit(StartTimer(seq, self.now_ms + duration_ms), seq)
        self.pending.timers[seq] = _Timer(on_fire, on_cancel)
        return seq

    def cancel_timer(self, seq: int) -> None:
        """Cancel a pending timer (no-op if it already fired or was cancelled)."""
        if self.pending.timers.pop(seq, None) is None or self.finished:
            return
        try:
            recorded = self.index.match_cancel(seq, self.current_seq)
        except NonDeterminismError as err:
            self.fail(err)
        if not recorded:
            self.out.append(CancelTimer(seq))

    def sleep(self, duration_ms: int) -> asyncio.Future[None]:
        self.guard()
        if (cancelled := self._take_cancel(False)) is not None:
            return self._failed_future(cancelled)
        fut: asyncio.Future[None] = self.loop.create_future()
        if duration_ms <= 0:
            fut.set_result(None)
            return fut

        def fire() -> None:
            if not fut.done():
                fut.set_result(None)

        def interrupt(exc: BaseException) -> None:
            if not fut.done():
                fut.set_exception(exc)

        seq = self.start_timer(duration_ms, fire, interrupt)

        def on_done(f: asyncio.Future[None]) -> None:
            if f.cancelled():  # asyncio cancellation (task.cancel, gather) cancels the durable timer
                self.cancel_timer(seq)

        fut.add_done_callback(on_done)
        return fut

    def wait_signal(self, name: str, timeout_ms: int | None, decode: Decoder) -> asyncio.Future[Any]:
        self.guard()
        if (cancelled := self._take_cancel(False)) is not None:
            return self._failed_future(cancelled)
        fut = self.loop.create_future()
        buffered = self.pending.signal_buffer.get(name)
        if buffered:
            _resolve(fut, decode, buffered.popleft()[1].payload)
            return fut
        wait = _SignalWait(fut, decode)
        waiters = self.pending.signal_waiters.setdefault(name, [])
        waiters.append(wait)
        if timeout_ms is not None:

            def timed_out() -> None:
                if not fut.done():
                    _remove(waiters, wait)
                    fut.set_exception(WorkflowTimeoutError(name, _td(timeout_ms)))

            def interrupt(exc: BaseException) -> None:
                if not fut.done():
                    _remove(waiters, wait)
                    fut.set_exception(exc)

            wait.timer_seq = self.start_timer(timeout_ms, timed_out, interrupt)

        def on_done(f: asyncio.Future[Any]) -> None:
            if f.cancelled():
                _remove(waiters, wait)
                if wait.timer_seq is not None:
                    self.cancel_timer(wait.timer_seq)

        fut.add_done_callback(on_done)
        return fut

    def start_child(
        self, workflow_type: str, child_id: str | None, input_schema: str, input_value: dict[str, Any], decode: Decoder
    ) -> asyncio.Future[Any]:
        self.guard()
        if (cancelled := self._take_cancel(False)) is not None:
            return self._failed_future(cancelled)
        seq = self._take_seq()
        cid = child_id if child_id is not None else f"{self.workflow_id}/child-{seq}"
        self.emit(StartChild(seq, workflow_type, cid, input_schema, input_value), seq)
        fut = self.loop.create_future()
        self.pending.children[seq] = _Child(fut, workflow_type, cid, decode)
        return fut

    def publish(self, schema: str, value: dict[str, Any], topic: str | None) -> None:
        """Record an outgoing event; on replay the recorded one is matched and nothing is re-sent."""
        self.guard()
        seq = self._take_seq()
        self.emit(PublishEvent(seq, topic, schema, value), seq)

    def set_search_attributes(self, attributes: dict[str, SearchAttributeValue]) -> None:
        """Record indexed fields; on replay the recorded command is matched and nothing is re-sent."""
        self.guard()
        seq = self._take_seq()
        self.emit(SetSearchAttributes(seq, attributes), seq)

    def awaited_signals(self) -> tuple[str, ...]:
        """Names of the signals the code waits for right now (sorted, for stable comparison)."""
        return tuple(
            sorted(
                name
                for name, waiters in self.pending.signal_waiters.items()
                if any(not w.future.done() for w in waiters)
            )
        )

    def side_effect(self, what: str, generate: Callable[[], JSON]) -> JSON:
        """A value recorded on first execution and read back from history on replay."""
        self.guard()
        seq = self._take_seq()
        recorded = self.index.at(seq)
        if recorded is not None:  # replay: the recorded value (a kind mismatch raises in emit)
            value = recorded.payload.value if isinstance(recorded.payload, SideEffectData) else None
            self.emit(RecordSideEffect(seq, what, value), seq)
            return value
        value = generate()
        self.emit(RecordSideEffect(seq, what, value), seq)
        return value

    def patched(self, patch_id: str) -> bool:
        """True for code paths added after the run started (see docs/workflows.md)."""
        self.guard()
        if patch_id in self.patches:
            return self.patches[patch_id]
        seq = self.next_seq
        while (ev := self.index.at(seq)) is not None and ev.kind == EventKind.PATCH_MARKER:
            marker = ev.payload
            if isinstance(marker, PatchMarkerData) and marker.patch_id == patch_id:
                for skipped in range(self.next_seq, seq):
                    self.index.skip(skipped)
                self.next_seq = seq + 1
                self.emit(RecordPatch(seq, patch_id, marker.applied), seq)
                self.patches[patch_id] = marker.applied
                return self.patches[patch_id]
            seq += 1
        if self.index.at(self.next_seq) is None and self.index.new_allowed(self.current_seq):
            seq = self._take_seq()
            self.emit(RecordPatch(seq, patch_id, True), seq)
            self.patches[patch_id] = True
        else:  # replaying history written by code that predates the patch
            self.patches[patch_id] = False
        return self.patches[patch_id]

    # --- resolutions (history events) ---------------------------------------------------------
    def step_completed(self, seq: int, result: Any) -> None:
        step = self.pending.steps.pop(seq, None)
        if step is not None and not step.future.done():
            _resolve(step.future, step.decode, result)
        self._settled(seq)

    def step_failed(self, seq: int, error: ErrorInfo, attempt: int | None) -> None:
        step = self.pending.steps.pop(seq, None)
        if step is not None and not step.future.done():
            if self._cancel is not None and seq in self._cancel.steps:  # it ended with the cancel
                self._cancel_undelivered = False
                step.future.set_exception(WorkflowCancelledError(self.cancel_reason))
            else:
                step.future.set_exception(StepFailedError(step.service, step.command_type, error, attempt))
        self._settled(seq)

    def timer_fired(self, seq: int) -> None:
        timer = self.pending.timers.pop(seq, None)
        if timer is not None:
            timer.on_fire()

    def signal_received(self, data: SignalReceivedData) -> None:
        name, payload = data.name, data.payload
        waiters = self.pending.signal_waiters.get(name)
        while waiters:
            wait = waiters.pop(0)
            if wait.future.done():
                continue
            if wait.timer_seq is not None:
                self.cancel_timer(wait.timer_seq)
            _resolve(wait.future, wait.decode, payload)
            return
        self.pending.signal_buffer.setdefault(name, deque()).append((self.current_seq, data))

    def child_finished(self, seq: int, status: str, result: Any, error: ErrorInfo | None) -> None:
        child = self.pending.children.pop(seq, None)
        if child is not None and not child.future.done():
            if status == WorkflowStatus.COMPLETED:
                _resolve(child.future, child.decode, result)
            elif self._cancel is not None and seq in self._cancel.children:
                self._cancel_undelivered = False
                child.future.set_exception(WorkflowCancelledError(self.cancel_reason))
            else:
                child.future.set_exception(ChildWorkflowFailedError(child.workflow_type, child.child_id, status, error))
        self._settled(seq)

    def request_cancel(self, reason: str, *, settle_in_flight: bool = True) -> None:
        """Cancel the run, leaving nothing it started unaccounted for.

        Forward steps and children in flight are not interrupted: what they did must be known
        before the saga can undo it (the engine stops retrying them and asks the participant, or
        cancels the child). Until they settle, every other wait keeps waiting, so a branch that
        sees a step succeed still registers its compensation. Then WorkflowCancelledError is raised into
        the waits that existed when the cancel was requested (a step that ended without success
        raises it itself); with none, into the next cancellable primitive or at the end of the
        saga block. Compensation steps are never interrupted.

        `settle_in_flight=False` replays a cancel recorded before this rule existed: everything
        is interrupted at once, as the code that wrote that history did.
        """
        self.cancel_requested = True
        self.cancel_reason = reason
        if not settle_in_flight:
            self._interrupt_everything(reason)
            return
        self._cancel_undelivered = True
        held = _HeldCancel(
            steps={seq for seq, st in self.pending.steps.items() if not st.compensation and not st.future.done()},
            children={seq for seq, ch in self.pending.children.items() if not ch.future.done()},
            timers=set(self.pending.timers),
            waits=[w for ws in self.pending.signal_waiters.values() for w in ws if not w.future.done()],
        )
        if held.steps or held.children:
            self._cancel = held
        else:
            self._interrupt(held)

    def _interrupt_everything(self, reason: str) -> None:
        delivered = False
        for seq, step in list(self.pending.steps.items()):
            if not step.compensation and not step.future.done():
                del self.pending.steps[seq]
                step.future.set_exception(WorkflowCancelledError(reason))
                delivered = True
        for seq, timer in list(self.pending.timers.items()):
            self.cancel_timer(seq)
            timer.on_cancel(WorkflowCancelledError(reason))
            delivered = True
        for waiters in self.pending.signal_waiters.values():
            while waiters:
                wait = waiters.pop(0)
                if not wait.future.done():
                    wait.future.set_exception(WorkflowCancelledError(reason))
                    delivered = True
        for seq, child in list(self.pending.children.items()):
            if not child.future.done():
                del self.pending.children[seq]
                child.future.set_exception(WorkflowCancelledError(reason))
                delivered = True
        self._cancel_undelivered = not delivered

    def _settled(self, seq: int) -> None:
        """A held step or child settled; the last one releases the cancellation to the other waits."""
        held = self._cancel
        if held is None:
            return
        held.steps.discard(seq)
        held.children.discard(seq)
        if not held.steps and not held.children:
            self._cancel = None
            self._interrupt(held)

    def _interrupt(self, held: _HeldCancel) -> None:
        """Raise WorkflowCancelledError into the timers and signal waits pending at the request."""
        reason = self.cancel_reason
        for seq in sorted(held.timers):
            timer = self.pending.timers.get(seq)
            if timer is not None:
                self.cancel_timer(seq)
                timer.on_cancel(WorkflowCancelledError(reason))
                self._cancel_undelivered = False
        for wait in held.waits:
            if not wait.future.done():
                for waiters in self.pending.signal_waiters.values():
                    _remove(waiters, wait)
                wait.future.set_exception(WorkflowCancelledError(reason))
                self._cancel_undelivered = False


def _resolve(fut: asyncio.Future[Any], decode: Decoder, value: Any) -> None:
    try:
        fut.set_result(decode(value))
    except Exception as exc:  # a recorded value the model rejects fails the wait, deterministically
        fut.set_exception(exc)


def _remove(waiters: list[_SignalWait], wait: _SignalWait) -> None:
    if wait in waiters:
        waiters.remove(wait)


def _td(ms: int) -> timedelta:
    return timedelta(milliseconds=ms)
