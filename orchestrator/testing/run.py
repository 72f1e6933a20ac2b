"""`WorkflowRun`: a handle on one run in a `WorkflowEnvironment` (what `env.start()` returns)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from orchestrator.errors import WorkflowNotCompletedError, WorkflowStuckError
from orchestrator.models.control import OperatorActionType
from orchestrator.serialization import model_for
from orchestrator.testing.inbox import Payload
from orchestrator.testing.outputs import EmittedEvent, Output, SentCommand
from orchestrator.workflow import ErrorInfo, EventKind, HistoryEvent
from orchestrator.workflow.status import WorkflowStatus

if TYPE_CHECKING:
    from orchestrator.testing.environment import WorkflowEnvironment

_HORIZON = timedelta(days=3660)
_MAX_TURNS = 100_000


class WorkflowRun:
    """One workflow run in a `WorkflowEnvironment`: drive it and inspect what it did."""

    def __init__(self, env: WorkflowEnvironment, workflow_id: str, output: Output) -> None:
        self.env = env
        self.id = workflow_id
        self.output = output  # what starting it produced (a DLQ record if the start was rejected)

    def __repr__(self) -> str:
        return f"WorkflowRun({self.id!r})"

    # --- progress -----------------------------------------------------------------------------
    @property
    def status(self) -> WorkflowStatus:
        """The run's current status."""
        return self.env.status(self.id)

    def wait(self, *, horizon: timedelta = _HORIZON, max_turns: int = _MAX_TURNS) -> WorkflowStatus:
        """Skip time until the run finishes or waits for an operator (or nothing is scheduled)."""

        def settled() -> bool:
            status = self.status
            return status.finished or status.waiting_for_operator

        self.env.skip_until(settled, f"workflow {self.id!r}", horizon=horizon, max_turns=max_turns)
        return self.status

    def result(self, *, horizon: timedelta = _HORIZON, max_turns: int = _MAX_TURNS) -> Any:
        """Skip time until the run ends and return its result (the typed model when its module is
        imported, else the Avro dict; None for a workflow returning None).

        Raises `WorkflowNotCompletedError` for a run that failed, compensated, was cancelled or is
        parked, and `WorkflowStuckError` for one that waits for input nobody will send.
        """
        status = self.wait(horizon=horizon, max_turns=max_turns)
        if status == WorkflowStatus.COMPLETED:
            final = self._final_event()
            schema, value = final.data.get("result_schema"), final.data.get("result")
            model = None if schema is None else model_for(str(schema))
            return value if model is None or value is None else model.from_avro(value)
        if status.finished:
            error = self._final_event().data.get("error")
            raise WorkflowNotCompletedError(self.id, status, None if error is None else ErrorInfo.from_json(error))
        if status.waiting_for_operator:
            raise WorkflowNotCompletedError(self.id, status, None, self.env.header(self.id).parked_reason)
        raise WorkflowStuckError(self.id, self._waiting_for())

    def _final_event(self) -> HistoryEvent:
        for event in reversed(self.history()):
            if event.kind in (EventKind.COMPLETED, EventKind.FAILED):
                return event
        raise WorkflowStuckError(self.id, "nothing (its history has no outcome)")  # pragma: no cover - engine bug

    def _waiting_for(self) -> str:
        waits = [f"a reply from {s.service} (step {s.seq}, attempt {s.attempt})" for s in self.env.open_steps(self.id)]
        run = self.env.engine.cache.get(self.id)
        if run is not None and run.instance is not None:
            snapshot = run.instance.snapshot()
            waits += [f"signal {name!r}" for name in snapshot["signal_waiters"]]
            waits += [f"child {child[1]!r}" for child in snapshot["children"].values()]
        return ", ".join(waits) or "nothing the environment knows of"

    # --- inputs -------------------------------------------------------------------------------
    def signal(self, name: str, payload: Payload | None = None, *, payload_schema: str | None = None) -> Output:
        """Send signal `name` to this run."""
        return self.env.signal(self.id, name, payload, payload_schema=payload_schema)

    def cancel(self, reason: str = "cancelled by the test") -> Output:
        """Ask this run to cancel."""
        return self.env.cancel(self.id, reason)

    def query(self, name: str) -> Any:
        """Ask this run's query handler `name`."""
        return self.env.query(self.id, name)

    def retry(self, seq: int | None = None, reason: str = "") -> Output:
        """Operator RETRY of the parked step (`seq`, default: the parked one)."""
        return self.env.operator(self.id, OperatorActionType.RETRY, seq=seq, reason=reason)

    def skip(self, result: Payload | None, *, seq: int | None = None, result_schema: str | None = None) -> Output:
        """Operator SKIP of the parked step, recording `result` as its outcome."""
        return self.env.operator(self.id, OperatorActionType.SKIP, seq=seq, result=result, result_schema=result_schema)

    def compensate(self, seq: int | None = None, reason: str = "") -> Output:
        """Operator COMPENSATE: fail the parked step finally so the saga compensates."""
        return self.env.operator(self.id, OperatorActionType.COMPENSATE, seq=seq, reason=reason)

    def operator_cancel(self, reason: str = "") -> Output:
        """Operator CANCEL of this run."""
        return self.env.operator(self.id, OperatorActionType.CANCEL, reason=reason)

    # --- what it did --------------------------------------------------------------------------
    def history(self) -> list[HistoryEvent]:
        """This run's recorded history, oldest first."""
        return self.env.history(self.id)

    def kinds(self) -> list[str]:
        """The kinds of this run's history events, in order."""
        return [e.kind for e in self.history()]

    def commands(self, service: str | None = None) -> list[SentCommand]:
        """Every command attempt sent for this run (retries included), in order."""
        return self.env.commands(self.id, service)

    def events(self, name: str | None = None) -> list[EmittedEvent]:
        """Lifecycle events of this run ("WorkflowStarted", "StepRetrying", ...), in order."""
        return [e for e in self.env.events(self.id, name) if e.is_lifecycle]

    def event_names(self) -> list[str]:
        """The names of this run's lifecycle events, in order."""
        return [e.name for e in self.events()]

    def published(self) -> list[EmittedEvent]:
        """What the run published with ``ctx.publish`` (choreography out)."""
        return [e for e in self.env.events(self.id) if not e.is_lifecycle]
