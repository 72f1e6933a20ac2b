"""Replay bookkeeping: which recorded commands the re-running code has re-issued.

Resolution events (step results, timers, signals, ...) are applied one at a time in history
order, live and in replay alike, so the code follows the same path. The command events of the
history only serve as a lookup table keyed by ``cmd_seq``: a command the code issues that is
already recorded is matched (same kind and identity) and not emitted again. A command that is
not recorded is new, which is only possible when nothing was recorded after the event being
applied; anything else is non-determinism.
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import NonDeterminismError
from orchestrator.workflow.activation import EventKind, HistoryEvent
from orchestrator.workflow.event_data import TimerCancelledData

# Events that record a command the workflow issued (everything else resolves or informs).
SEQ_COMMAND_KINDS = frozenset(
    {
        EventKind.STEP_SCHEDULED,
        EventKind.TIMER_STARTED,
        EventKind.SIDE_EFFECT,
        EventKind.PATCH_MARKER,
        EventKind.CHILD_STARTED,
        EventKind.EVENT_PUBLISHED,
        EventKind.SEARCH_ATTRIBUTES_SET,
    }
)
TERMINAL_KINDS = frozenset({EventKind.COMPLETED, EventKind.FAILED})
COMMAND_KINDS = SEQ_COMMAND_KINDS | TERMINAL_KINDS | {EventKind.TIMER_CANCELLED}

# The data keys that make two commands "the same" (payloads and durations may legitimately change).
_IDENTITY: dict[str, tuple[str, ...]] = {
    EventKind.STEP_SCHEDULED: ("service", "command_type", "compensation"),
    EventKind.TIMER_STARTED: (),
    EventKind.SIDE_EFFECT: ("what",),
    EventKind.PATCH_MARKER: ("patch_id",),
    EventKind.CHILD_STARTED: ("workflow_type", "child_id"),
    EventKind.EVENT_PUBLISHED: ("topic", "schema"),
    EventKind.SEARCH_ATTRIBUTES_SET: (),
    EventKind.COMPLETED: (),
    EventKind.FAILED: ("status",),
    EventKind.TIMER_CANCELLED: (),
}


def describe(kind: str, data: dict[str, Any]) -> str:
    """Short human description of a command, for NonDeterminismError messages."""
    keys = _IDENTITY.get(kind, ())
    detail = " ".join(f"{k}={data.get(k)!r}" for k in keys)
    return f"{kind}({detail})" if detail else kind


class ReplayIndex:
    """Recorded commands of one workflow the code has not re-issued yet.

    A re-issued command is dropped from the index: each cmd_seq is issued once, so it is never
    looked up again, and a run cached after its replay must not keep its whole history alive.
    """

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        self._cmds: dict[int, HistoryEvent] = {}
        self._cancels: dict[int, HistoryEvent] = {}
        self._terminal: HistoryEvent | None = None
        self._terminal_consumed = False
        self._last_command_event_seq = -1

    def add(self, event: HistoryEvent) -> bool:
        """Index a history event if it records a command; True if it did."""
        kind = event.kind
        if kind not in COMMAND_KINDS:
            return False
        data = event.payload
        if kind in TERMINAL_KINDS:
            self._terminal = event
        elif isinstance(data, TimerCancelledData):
            self._cancels[data.cmd_seq] = event
        elif data is not None and hasattr(data, "cmd_seq"):
            self._cmds[data.cmd_seq] = event
        self._last_command_event_seq = max(self._last_command_event_seq, event.seq)
        return True

    def at(self, cmd_seq: int) -> HistoryEvent | None:
        """The recorded command with this sequence number, if any."""
        return self._cmds.get(cmd_seq)

    def skip(self, cmd_seq: int) -> None:
        """Mark a recorded command as dealt with without the code issuing it (deprecated patches)."""
        self._cmds.pop(cmd_seq, None)

    def new_allowed(self, current_seq: int) -> bool:
        """Whether a command not in history may be issued now: nothing was recorded after the
        event being applied, so this is the live edge of the history."""
        return self._last_command_event_seq < current_seq

    def match(self, cmd_seq: int, kind: str, data: dict[str, Any], current_seq: int) -> HistoryEvent | None:
        """The recorded event this command re-issues (consumed), or None if the command is new."""
        recorded = self._cmds.get(cmd_seq)
        if recorded is None:
            self._require_new_allowed(cmd_seq, describe(kind, data), current_seq)
            return None
        self._require_same(cmd_seq, recorded, kind, data)
        self._require_after(cmd_seq, recorded, kind, data, current_seq)
        del self._cmds[cmd_seq]
        return recorded

    def match_cancel(self, cmd_seq: int, current_seq: int) -> bool:
        """True if this timer cancellation is already recorded."""
        if cmd_seq in self._cancels:
            kind = EventKind.TIMER_CANCELLED
            self._require_after(cmd_seq, self._cancels[cmd_seq], kind, {}, current_seq)
            del self._cancels[cmd_seq]
            return True
        self._require_new_allowed(cmd_seq, describe(EventKind.TIMER_CANCELLED, {}), current_seq)
        return False

    def match_terminal(self, kind: str, data: dict[str, Any], current_seq: int) -> bool:
        """True if the workflow's outcome is already recorded (and is the same outcome)."""
        if self._terminal is None:
            self._require_new_allowed(None, describe(kind, data), current_seq)
            return False
        self._require_same(None, self._terminal, kind, data)
        self._require_after(None, self._terminal, kind, data, current_seq)
        self._terminal_consumed = True
        return True

    def check_all_reissued(self) -> None:
        """After applying every event: each recorded command must have been issued again."""
        for cmd_seq in sorted(self._cmds):
            ev = self._cmds[cmd_seq]
            raise NonDeterminismError(self.workflow_id, cmd_seq, describe(ev.kind, ev.data), None)
        for cmd_seq in sorted(self._cancels):
            raise NonDeterminismError(self.workflow_id, cmd_seq, describe(EventKind.TIMER_CANCELLED, {}), None)
        if self._terminal is not None and not self._terminal_consumed:
            ev = self._terminal
            raise NonDeterminismError(self.workflow_id, None, describe(ev.kind, ev.data), "workflow still running")

    def _require_same(self, cmd_seq: int | None, recorded: HistoryEvent, kind: str, data: dict[str, Any]) -> None:
        same = recorded.kind == kind and all(recorded.data.get(k) == data.get(k) for k in _IDENTITY.get(kind, ()))
        if not same:
            raise NonDeterminismError(
                self.workflow_id, cmd_seq, describe(recorded.kind, recorded.data), describe(kind, data)
            )

    def _require_after(
        self, cmd_seq: int | None, recorded: HistoryEvent, kind: str, data: dict[str, Any], current_seq: int
    ) -> None:
        """A command is recorded after the event whose activation issued it; finding it earlier
        means the code now issues it later than it did (e.g. sequential instead of parallel)."""
        if recorded.seq < current_seq:
            raise NonDeterminismError(
                self.workflow_id,
                cmd_seq,
                f"{describe(recorded.kind, recorded.data)} before event #{current_seq}",
                f"{describe(kind, data)} only after event #{current_seq}",
            )

    def _require_new_allowed(self, cmd_seq: int | None, got: str, current_seq: int) -> None:
        if self.new_allowed(current_seq):
            return
        pending = [ev for _seq, ev in sorted(self._cmds.items()) if ev.seq > current_seq]
        if pending:
            expected = describe(pending[0].kind, pending[0].data)
        elif self._terminal is not None and not self._terminal_consumed:
            expected = describe(self._terminal.kind, self._terminal.data)
        else:
            expected = None
        raise NonDeterminismError(self.workflow_id, cmd_seq, expected, got)
