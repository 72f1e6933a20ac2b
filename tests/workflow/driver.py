"""A tiny in-memory stand-in for the engine: turns commands into history events.

It follows the engine's rule: record a resolution event, activate the instance with just that
event, then record the returned commands in order. ``replay()`` rebuilds a fresh instance from
the full history, as the engine does after a restart.
"""

from __future__ import annotations

from typing import Any

from orchestrator.workflow import WorkflowDefinition, WorkflowInstance
from orchestrator.workflow.activation import (
    CancelTimer,
    CompleteWorkflow,
    EventKind,
    FailWorkflow,
    HistoryEvent,
    ScheduleStep,
    StartChild,
    StartTimer,
    WorkflowCommand,
    command_event,
)

START_MS = 1_700_000_000_000


class Driver:
    def __init__(self, definition: WorkflowDefinition, workflow_id: str = "wf-1", now_ms: int = START_MS) -> None:
        self.definition = definition
        self.workflow_id = workflow_id
        self.now_ms = now_ms
        self.history: list[HistoryEvent] = []
        self.instance = WorkflowInstance(definition, workflow_id)
        self.commands: list[WorkflowCommand] = []  # every command ever returned, in order
        self.steps: dict[int, ScheduleStep] = {}  # open steps
        self.timers: dict[int, int] = {}  # open timers: cmd_seq -> fire_at_ms
        self.children: dict[int, StartChild] = {}
        self.outcome: CompleteWorkflow | FailWorkflow | None = None

    # --- engine behaviour ---------------------------------------------------------------------
    def _append(self, kind: str, data: dict[str, Any]) -> HistoryEvent:
        event = HistoryEvent(len(self.history), kind, self.now_ms, data)
        self.history.append(event)
        return event

    def deliver(self, kind: str, data: dict[str, Any]) -> list[WorkflowCommand]:
        event = self._append(kind, data)
        if self.outcome is not None:
            return []
        cmds = self.instance.activate([event], self.now_ms, replaying=False)
        self.apply(cmds)
        return cmds

    def apply(self, cmds: list[WorkflowCommand]) -> None:
        for cmd in cmds:
            self.commands.append(cmd)
            kind, data = command_event(cmd)
            self._append(kind, data)
            if isinstance(cmd, ScheduleStep):
                self.steps[cmd.cmd_seq] = cmd
            elif isinstance(cmd, StartTimer):
                self.timers[cmd.cmd_seq] = cmd.fire_at_ms
            elif isinstance(cmd, CancelTimer):
                self.timers.pop(cmd.cmd_seq, None)
            elif isinstance(cmd, StartChild):
                self.children[cmd.cmd_seq] = cmd
            elif isinstance(cmd, CompleteWorkflow | FailWorkflow):
                self.outcome = cmd

    # --- inputs -------------------------------------------------------------------------------
    def start(
        self,
        input: dict[str, Any] | None = None,
        input_schema: str = "test.Input",
        trace_context: dict[str, str] | None = None,
    ) -> list[WorkflowCommand]:
        return self.deliver(
            EventKind.STARTED,
            {
                "workflow_type": self.definition.name,
                "input_schema": input_schema,
                "input": input,
                "trace_context": trace_context or {},
                "parent_workflow_id": None,
                "parent_seq": None,
            },
        )

    def complete(
        self, seq: int, result: dict[str, Any] | None = None, schema: str | None = None, attempt: int = 1
    ) -> list[WorkflowCommand]:
        self.steps.pop(seq)
        return self.deliver(
            EventKind.STEP_COMPLETED, {"cmd_seq": seq, "result_schema": schema, "result": result, "attempt": attempt}
        )

    def fail(
        self, seq: int, error_type: str = "Boom", message: str = "failed", attempt: int = 3
    ) -> list[WorkflowCommand]:
        self.steps.pop(seq)
        error = {"error_type": error_type, "message": message, "retryable": False}
        return self.deliver(EventKind.STEP_FAILED, {"cmd_seq": seq, "error": error, "attempt": attempt})

    def fire(self, seq: int) -> list[WorkflowCommand]:
        self.now_ms = max(self.now_ms, self.timers.pop(seq))
        return self.deliver(EventKind.TIMER_FIRED, {"cmd_seq": seq})

    def signal(
        self, name: str, payload: dict[str, Any] | None = None, schema: str | None = None
    ) -> list[WorkflowCommand]:
        return self.deliver(EventKind.SIGNAL_RECEIVED, {"name": name, "payload_schema": schema, "payload": payload})

    def cancel(self, reason: str = "user asked", *, legacy: bool = False) -> list[WorkflowCommand]:
        """As the engine records it; `legacy`: as recorded before in-flight steps were settled."""
        data: dict[str, Any] = {"reason": reason} if legacy else {"reason": reason, "settle_in_flight": True}
        return self.deliver(EventKind.CANCEL_REQUESTED, data)

    def finish_child(
        self,
        seq: int,
        status: str = "completed",
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> list[WorkflowCommand]:
        self.children.pop(seq)
        return self.deliver(
            EventKind.CHILD_FINISHED,
            {"cmd_seq": seq, "status": status, "result_schema": None, "result": result, "error": error},
        )

    def tick(self, ms: int) -> None:
        self.now_ms += ms

    # --- helpers ------------------------------------------------------------------------------
    def step_seqs(self, service: str | None = None) -> list[int]:
        return [s for s, c in self.steps.items() if service is None or c.service == service]

    def only_step(self, service: str | None = None) -> int:
        seqs = self.step_seqs(service)
        assert len(seqs) == 1, f"expected one open step for {service}, have {self.steps}"
        return seqs[0]

    def replay(self, definition: WorkflowDefinition | None = None) -> tuple[WorkflowInstance, list[WorkflowCommand]]:
        """A fresh instance rebuilt from the full history (optionally running other code)."""
        inst = WorkflowInstance(definition or self.definition, self.workflow_id)
        cmds = inst.activate(list(self.history), self.now_ms, replaying=True)
        return inst, cmds
