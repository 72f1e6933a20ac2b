"""Cancelling a run without leaving an effect nobody compensates.

The engine cannot take back a command: once committed to a participant's topic it may be
executed at any time, and only the participant's reply says whether it was. So a cancel request
does not drop the run's forward steps in flight: the runtime waits for them (docs/workflows.md),
and the engine settles each one by what it can know (`StepLogic.settle_for_cancel`). Open child
workflows are cancelled in turn; the parent waits for them to finish.
"""

from __future__ import annotations

from orchestrator.engine.executor import Executor
from orchestrator.engine.steps import StepLogic
from orchestrator.engine.turn import Turn
from orchestrator.engine.view import Run
from orchestrator.workflow.event_data import CancelRequestedData

CANCEL_SCHEMA = "sagabridge.control.CancelWorkflow"


class Cancellation:
    def __init__(self, executor: Executor, steps: StepLogic) -> None:
        self.ex = executor
        self.steps = steps

    def request(self, t: Turn, run: Run, reason: str, *, give_up: bool = False) -> None:
        """Record the request (the runtime holds it while steps and children are in flight), then
        settle or ask about the held steps and cancel the open children. `give_up`: an operator's
        forced cancel, the held steps are failed whatever their state (StepLogic.settle_for_cancel)."""
        self.ex.deliver(t, run, CancelRequestedData(reason, settle_in_flight=True))
        self.steps.settle_for_cancel(t, run, reason, give_up=give_up)
        if run.header.finished:
            return
        wf = run.header.workflow_id
        for child_id in (run.view.open_children[seq] for seq in sorted(run.view.open_children)):
            t.out.to_inbox(child_id, CANCEL_SCHEMA, {"workflow_id": child_id, "reason": f"parent {wf}: {reason}"})
