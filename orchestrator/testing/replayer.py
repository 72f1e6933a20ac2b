"""The replayer: recorded histories against new workflow code, before the code is deployed.

Each history is replayed exactly as the engine rebuilds a run after a restart (a fresh
`WorkflowInstance`, ``activate(history, replaying=True)``, no spans), so a history that
replays here replays in production, and one that does not would park its run as
needs-attention. The report counts clean replays per workflow type and names, for every
run that diverges, the first command where the new code departs from its history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orchestrator import tracing
from orchestrator.errors import NonDeterminismError, ReplayDivergedError, UnknownWorkflowTypeError
from orchestrator.testing.histories import RecordedHistory
from orchestrator.workflow import EventKind, HistoryEvent, WorkflowInstance, WorkflowRegistry
from orchestrator.workflow.history import SEQ_COMMAND_KINDS, TERMINAL_KINDS


@dataclass(frozen=True)
class Divergence:
    """The first point where new code departs from a recorded history.

    ``expected`` is the history's record (None: history has nothing there), ``got`` what the new
    code issued (None: it issued nothing there); ``event_seq`` is that record's position in the
    history, ``cmd_seq`` the command's sequence number (None: the final outcome).
    """

    workflow_id: str
    workflow_type: str
    status: str
    cmd_seq: int | None
    event_seq: int | None
    expected: str | None
    got: str | None

    def describe(self) -> str:
        """One line saying where and how the replay diverged."""
        where = "the outcome" if self.cmd_seq is None else f"command #{self.cmd_seq}"
        at = "" if self.event_seq is None else f" (history event #{self.event_seq})"
        return f"at {where}{at}: history has {self.expected or 'nothing'}, new code produced {self.got or 'nothing'}"


@dataclass(frozen=True)
class ReplayFailure:
    """A history that could not be replayed at all (type no longer registered, runtime error)."""

    workflow_id: str
    workflow_type: str
    status: str
    error: str


@dataclass
class TypeSummary:
    """Replay counts of one workflow type."""

    workflow_type: str
    histories: int = 0
    clean: int = 0
    diverged: int = 0
    failed: int = 0


@dataclass
class ReplayReport:
    """The outcome of replaying recorded histories against the current code."""

    summaries: dict[str, TypeSummary] = field(default_factory=dict)
    divergences: list[Divergence] = field(default_factory=list)
    failures: list[ReplayFailure] = field(default_factory=list)

    @property
    def histories(self) -> int:
        """How many histories were replayed."""
        return sum(s.histories for s in self.summaries.values())

    @property
    def ok(self) -> bool:
        """True when every history replayed without divergence or failure."""
        return not self.divergences and not self.failures

    def summary(self) -> str:
        """A human-readable summary, one line per divergence."""
        bad = len(self.divergences) + len(self.failures)
        head = f"{self.histories} histories replayed, {self.histories - bad} clean, {bad} not"
        lines = [head] + [f"  {d.workflow_id} ({d.workflow_type}): {d.describe()}" for d in self.divergences]
        lines += [f"  {f.workflow_id} ({f.workflow_type}): {f.error}" for f in self.failures]
        return "\n".join(lines)

    def check(self) -> None:
        """Raise `ReplayDivergedError` (with the summary) unless every history replayed cleanly."""
        if not self.ok:
            raise ReplayDivergedError(self.summary(), len(self.divergences) + len(self.failures))

    def to_json(self) -> dict[str, Any]:
        """The report as JSON (`orchestrator replay --json`)."""
        return {
            "ok": self.ok,
            "histories": self.histories,
            "types": [vars(s) for s in sorted(self.summaries.values(), key=lambda s: s.workflow_type)],
            "divergences": [vars(d) | {"message": d.describe()} for d in self.divergences],
            "failures": [vars(f) for f in self.failures],
        }


class Replayer:
    """Replays histories against the workflow definitions of ``registry`` (the new code)."""

    def __init__(self, registry: WorkflowRegistry) -> None:
        self.registry = registry

    def replay(self, history: RecordedHistory) -> Divergence | ReplayFailure | None:
        """None if the history replays cleanly, else what went wrong."""
        try:
            definition = self.registry.get(history.workflow_type)
        except UnknownWorkflowTypeError as exc:
            return ReplayFailure(history.workflow_id, history.workflow_type, history.status, str(exc))
        instance = WorkflowInstance(definition, history.workflow_id)
        now_ms = history.events[-1].at_ms if history.events else 0
        try:
            with tracing.suppressed():
                instance.activate(list(history.events), now_ms, replaying=True)
        except NonDeterminismError as err:
            return Divergence(
                history.workflow_id,
                history.workflow_type,
                history.status,
                err.cmd_seq,
                _recorded_at(history.events, err.cmd_seq, err.expected),
                err.expected,
                err.got,
            )
        except Exception as exc:  # code that no longer runs: an import-time bug, an authoring error
            error = f"{type(exc).__name__}: {exc}"
            return ReplayFailure(history.workflow_id, history.workflow_type, history.status, error)
        return None

    def replay_all(self, histories: Iterable[RecordedHistory]) -> ReplayReport:
        """Replay every history; the report of all of them."""
        report = ReplayReport()
        for history in histories:
            summary = report.summaries.setdefault(history.workflow_type, TypeSummary(history.workflow_type))
            summary.histories += 1
            outcome = self.replay(history)
            if outcome is None:
                summary.clean += 1
            elif isinstance(outcome, Divergence):
                summary.diverged += 1
                report.divergences.append(outcome)
            else:
                summary.failed += 1
                report.failures.append(outcome)
        return report


def _recorded_at(events: tuple[HistoryEvent, ...], cmd_seq: int | None, expected: str | None) -> int | None:
    """Position in the history of the record the divergence is about (None: history has none)."""
    if expected is None:
        return None
    kinds = {EventKind.TIMER_CANCELLED} if expected.startswith(EventKind.TIMER_CANCELLED) else SEQ_COMMAND_KINDS
    for event in events:
        if cmd_seq is None and event.kind in TERMINAL_KINDS:
            return event.seq
        if cmd_seq is not None and event.kind in kinds and event.data.get("cmd_seq") == cmd_seq:
            return event.seq
    return None
