"""What the engine must know about one run beyond its header, folded from history.

Steps keep their own records (`s/`); timers, children and cancellation are derived here, so a
run evicted from the cache is rebuilt from the same history the runtime replays.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field

from orchestrator.engine.state_records import Header
from orchestrator.workflow import WorkflowInstance
from orchestrator.workflow.activation import HistoryEvent
from orchestrator.workflow.event_data import (
    CancelRequestedData,
    ChildFinishedData,
    ChildStartedData,
    StepCompletedData,
    StepFailedData,
    StepScheduledData,
    TimerCancelledData,
    TimerFiredData,
    TimerStartedData,
)

_NO_SEQS: frozenset[int] = frozenset()  # shared by every view whose set is empty


@dataclass(slots=True)
class RunView:
    open_timers: dict[int, int] = field(default_factory=dict)  # cmd_seq -> fire_at_ms
    timer_set_ms: dict[int, int] = field(default_factory=dict)  # cmd_seq -> when it was set (timer spans)
    open_children: dict[int, str] = field(default_factory=dict)  # cmd_seq -> child workflow id
    # every step ever scheduled: cmd_seq -> (service, command_type), which a native participant's
    # outcome (engine/correlation.py) names instead of a seq
    scheduled_steps: dict[int, tuple[str, str]] = field(default_factory=dict)
    # The two sets start as the shared empty frozenset and become sets on their first member (and
    # open_forward_steps goes back once empty): an empty set costs 216 B, times every cached run.
    completed_steps: Set[int] = _NO_SEQS  # steps settled by a success
    open_forward_steps: Set[int] = _NO_SEQS  # forward (not compensation) steps unsettled
    cancel_requested: bool = False
    held_by_cancel: frozenset[int] = frozenset()  # forward steps open when the cancel was requested
    compensation_steps: int = 0

    def fold(self, event: HistoryEvent) -> None:
        data = event.payload
        if isinstance(data, TimerStartedData):
            self.open_timers[data.cmd_seq] = data.fire_at_ms
            self.timer_set_ms[data.cmd_seq] = event.at_ms
        elif isinstance(data, TimerFiredData | TimerCancelledData):
            self.open_timers.pop(data.cmd_seq, None)
            self.timer_set_ms.pop(data.cmd_seq, None)
        elif isinstance(data, ChildStartedData):
            self.open_children[data.cmd_seq] = data.child_id
        elif isinstance(data, ChildFinishedData):
            self.open_children.pop(data.cmd_seq, None)
        elif isinstance(data, CancelRequestedData):
            self.cancel_requested = True
            if data.settle_in_flight:
                self.held_by_cancel = frozenset(self.open_forward_steps)
        elif isinstance(data, StepScheduledData):
            self.scheduled_steps[data.cmd_seq] = (data.service, data.command_type)
            if data.compensation:
                self.compensation_steps += 1
            else:
                self.open_forward_steps = _with(self.open_forward_steps, data.cmd_seq)
        elif isinstance(data, StepCompletedData):
            self.completed_steps = _with(self.completed_steps, data.cmd_seq)
            self.open_forward_steps = _without(self.open_forward_steps, data.cmd_seq)
        elif isinstance(data, StepFailedData):
            self.open_forward_steps = _without(self.open_forward_steps, data.cmd_seq)


def _with(members: Set[int], seq: int) -> set[int]:
    grown = members if isinstance(members, set) else set(members)
    grown.add(seq)
    return grown


def _without(members: Set[int], seq: int) -> Set[int]:
    if seq not in members:
        return members
    if len(members) == 1:
        return _NO_SEQS
    shrunk = members if isinstance(members, set) else set(members)
    shrunk.discard(seq)
    return shrunk


# What a run waits on besides its steps: (awaited signal names, earliest open timer due).
Waiting = tuple[tuple[str, ...], int | None]
NOT_WAITING: Waiting = ((), None)


@dataclass(slots=True)
class Run:
    """A cached workflow run. ``instance is None`` means the runtime is not usable for it
    (finished and never needed, or suspended as needs-attention): events are still recorded.
    ``waiting`` is what the last WorkflowWaiting event said (replay resyncs it silently)."""

    header: Header
    view: RunView
    instance: WorkflowInstance | None
    waiting: Waiting = NOT_WAITING

    def current_waiting(self) -> Waiting:
        signals = () if self.instance is None else self.instance.awaited_signals()
        return signals, min(self.view.open_timers.values(), default=None)
