"""Operator actions and signals from the HTTP API: checked against the store, sent to the inbox.

Like every other input they travel as records on `<app>.inbox` (docs/design.md §10), so the engine
applies them in order with everything else its partition receives, and records who acted
(`OperatorActionApplied.operator`, `SignalReceived.sent_by`). The store is checked first so an
action that cannot apply (the workflow is not parked, already closed, unknown) is refused with a
reason instead of silently dead-lettered; a request is only "accepted" once the broker has
acknowledged its inbox record.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from orchestrator.client import RecordValue, WorkflowClient
from orchestrator.serialization import model_for
from orchestrator.visibility.api_models import (
    ActionAccepted,
    CancelRequest,
    CompensateRequest,
    RetryRequest,
    SignalRequest,
    SkipRequest,
)
from orchestrator.visibility.auth import Caller
from orchestrator.visibility.errors import ActionNotApplicableError, WorkflowNotFoundError
from orchestrator.visibility.projection import WorkflowState
from orchestrator.visibility.queries import WorkflowQueries
from orchestrator.visibility.status import StepStatus
from orchestrator.workflow.status import WorkflowStatus


def record(schema: str, value: Mapping[str, Any]) -> RecordValue:
    """A JSON value as a record of `schema`, validated by its generated model when one exists
    (the serde validates it against the schema either way when it encodes)."""
    model = model_for(schema)
    return RecordValue(schema, model.from_avro(value).to_avro() if model is not None else dict(value))


class OperatorActions:
    """The API's write side: checks an action against the store's row, then sends it to the inbox.

    Checking first turns an action that cannot apply into a 409 with the reason; the engine still
    has the last word (it dead-letters an action its newer state rules out).
    """

    def __init__(self, client: WorkflowClient, queries: WorkflowQueries) -> None:
        self.client = client
        self.queries = queries

    def _load(self, workflow_id: str) -> WorkflowState:
        state = self.queries.get(workflow_id)
        if state is None:
            raise WorkflowNotFoundError(workflow_id)
        return state

    def _parked_targets(self, state: WorkflowState, seq: int | None, action: str) -> list[int]:
        if state.status is WorkflowStatus.NEEDS_ATTENTION:
            return []
        if state.status is not WorkflowStatus.PARKED:
            raise ActionNotApplicableError(f"{action}: workflow {state.workflow_id!r} is {state.status}, not parked")
        parked = [s.seq for s in state.open_steps.values() if s.status is StepStatus.PARKED]
        if seq is not None and seq not in parked:
            raise ActionNotApplicableError(
                f"{action}: step {seq} of {state.workflow_id!r} is not parked (parked: {parked or 'none'})"
            )
        return [seq] if seq is not None else parked

    def _accepted(self, workflow_id: str, action: str, caller: Caller) -> ActionAccepted:
        return ActionAccepted(
            workflow_id=workflow_id,
            action=action,
            requested_by=caller.name,
            inbox_topic=self.client.inbox,
            accepted_at_ms=int(time.time() * 1000),
        )

    def retry(self, workflow_id: str, req: RetryRequest, caller: Caller) -> ActionAccepted:
        """RETRY the parked step(s), or replay a needs-attention run after a code fix."""
        state = self._load(workflow_id)
        if state.status is not WorkflowStatus.NEEDS_ATTENTION:
            self._parked_targets(state, req.seq, "RETRY")
        self.client.operator_action(workflow_id, "RETRY", seq=req.seq, operator=caller.name, reason=req.reason)
        return self._accepted(workflow_id, "RETRY", caller)

    @staticmethod
    def _runnable(state: WorkflowState, action: str) -> None:
        if state.status is WorkflowStatus.NEEDS_ATTENTION:
            raise ActionNotApplicableError(
                f"{action} needs runnable code; a needs-attention workflow allows RETRY or CANCEL"
            )

    def skip(self, workflow_id: str, req: SkipRequest, caller: Caller) -> ActionAccepted:
        """SKIP the one parked step (or `req.seq`), recording `req.result` as its outcome."""
        state = self._load(workflow_id)
        self._runnable(state, "SKIP")
        targets = self._parked_targets(state, req.seq, "SKIP")
        if len(targets) != 1:
            raise ActionNotApplicableError(f"SKIP needs one parked step, {len(targets)} are parked: give seq")
        result = record(req.result_schema, req.result)
        self.client.operator_action(
            workflow_id, "SKIP", seq=targets[0], result=result, operator=caller.name, reason=req.reason
        )
        return self._accepted(workflow_id, "SKIP", caller)

    def compensate(self, workflow_id: str, req: CompensateRequest, caller: Caller) -> ActionAccepted:
        """COMPENSATE: fail the parked step(s) finally, so the workflow's saga undoes what it did."""
        state = self._load(workflow_id)
        self._runnable(state, "COMPENSATE")
        self._parked_targets(state, req.seq, "COMPENSATE")
        self.client.operator_action(workflow_id, "COMPENSATE", seq=req.seq, operator=caller.name, reason=req.reason)
        return self._accepted(workflow_id, "COMPENSATE", caller)

    def cancel(self, workflow_id: str, req: CancelRequest, caller: Caller) -> ActionAccepted:
        """CANCEL an open workflow, parked or not (the operator's escape hatch)."""
        state = self._load(workflow_id)
        if state.status.finished:
            raise ActionNotApplicableError(f"CANCEL: workflow {workflow_id!r} is already {state.status}")
        self.client.operator_action(workflow_id, "CANCEL", operator=caller.name, reason=req.reason)
        return self._accepted(workflow_id, "CANCEL", caller)

    def signal(self, workflow_id: str, req: SignalRequest, caller: Caller) -> ActionAccepted:
        """Send signal `req.name`; the caller's token name is recorded as its sender."""
        state = self._load(workflow_id)
        if state.status.finished:
            raise ActionNotApplicableError(f"signal {req.name!r}: workflow {workflow_id!r} is already {state.status}")
        payload = None if req.payload is None or req.payload_schema is None else record(req.payload_schema, req.payload)
        self.client.signal(workflow_id, req.name, payload, sent_by=caller.name)
        return self._accepted(workflow_id, f"SIGNAL {req.name}", caller)
