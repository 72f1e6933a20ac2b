"""Workflow, step and DLQ metrics: a fold over the lifecycle events of committed checkpoints.

The engine hands each committed checkpoint's observations here (engine/observations.py), so every
count is one of the events on the committed `<app>.events` topic (or one record on `<app>.dlq`):
an aborted transaction is re-processed and counted once, and a dashboard agrees with the topics.
Counters are `Tally`s (a dict increment); the two duration histograms are recorded here, once per
settled step and once per closed workflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.metrics import Meter
from opentelemetry.util.types import AttributeValue

from orchestrator.engine.observations import DEAD_LETTERED, Observation
from orchestrator.metrics import metric_names as m
from orchestrator.metrics.tally import Tally, tally_counter
from orchestrator.models import events
from orchestrator.workflow.status import WorkflowStatus

Fold = Callable[[Mapping[str, Any], int | None], None]

_CLOSING = {
    events.WorkflowCompleted.__name__: WorkflowStatus.COMPLETED,
    events.WorkflowFailed.__name__: WorkflowStatus.FAILED,
    events.WorkflowCompensated.__name__: WorkflowStatus.COMPENSATED,
    events.WorkflowCancelled.__name__: WorkflowStatus.CANCELLED,
}
SUCCESS = "success"
FAILURE = "failure"


def _error_type(value: Mapping[str, Any]) -> str | None:
    error = value.get("error")
    return str(error["error_type"]) if isinstance(error, Mapping) and "error_type" in error else None


def _seconds(value: Mapping[str, Any], since_ms: int | None) -> float | None:
    if since_ms is None:
        return None
    return max(0, int(value["at_ms"]) - since_ms) / 1000


class LifecycleMetrics:
    """The `EngineRecorder` of every engine of a process (one per meter provider)."""

    def __init__(self, meter: Meter) -> None:
        self.started = tally_counter(meter, m.WORKFLOW_STARTED, "{workflow}", "Workflows started.", (m.WORKFLOW_TYPE,))
        self.closed = tally_counter(
            meter,
            m.WORKFLOW_CLOSED,
            "{workflow}",
            "Workflows that reached a final status: completed, failed, compensated or cancelled.",
            (m.WORKFLOW_TYPE, m.WORKFLOW_STATUS),
        )
        self.parked = tally_counter(
            meter,
            m.WORKFLOW_PARKED,
            "{workflow}",
            "Times a workflow was parked for an operator (retries exhausted, compensation failed, code that "
            "cannot be replayed); error.type is the step error that parked it.",
            (m.WORKFLOW_TYPE, m.ERROR_TYPE),
        )
        self.operator_actions = tally_counter(
            meter,
            m.OPERATOR_ACTIONS,
            "{action}",
            "Operator actions applied (retry, skip, compensate, cancel).",
            (m.WORKFLOW_TYPE, m.OPERATOR_ACTION),
        )
        self.scheduled = tally_counter(
            meter,
            m.STEP_SCHEDULED,
            "{step}",
            "Steps whose first command was sent (compensations included).",
            (m.STEP_SERVICE, m.STEP_COMMAND_TYPE, m.STEP_COMPENSATION),
        )
        self.retries = tally_counter(
            meter,
            m.STEP_RETRIES,
            "{attempt}",
            "Attempts that failed retryably (a failure reply or an attempt timeout) and set a durable retry timer.",
            (m.STEP_SERVICE, m.STEP_COMMAND_TYPE, m.ERROR_TYPE),
        )
        self.ignored = tally_counter(
            meter,
            m.REPLIES_IGNORED,
            "{reply}",
            "Replies that changed nothing: late, duplicate, abandoned (a success nobody compensates) or for an "
            "unknown step.",
            (m.WORKFLOW_TYPE, m.REPLY_IGNORED_REASON),
        )
        self.dead_lettered = tally_counter(
            meter, m.DLQ_RECORDS, "{record}", "Records the orchestrator dead-lettered.", (m.DLQ_REASON,)
        )
        self._step_keys = Tally((m.STEP_SERVICE, m.STEP_COMMAND_TYPE, m.STEP_OUTCOME, m.ERROR_TYPE))
        self._workflow_keys = Tally((m.WORKFLOW_TYPE, m.WORKFLOW_STATUS))
        self.step_duration = meter.create_histogram(
            m.STEP_DURATION,
            "s",
            "Time from a step's first command to its settlement (success or final failure), retries included.",
            explicit_bucket_boundaries_advisory=m.STEP_BUCKETS,
        )
        self.workflow_duration = meter.create_histogram(
            m.WORKFLOW_DURATION,
            "s",
            "Time from a workflow's start to its final status.",
            explicit_bucket_boundaries_advisory=m.WORKFLOW_BUCKETS,
        )
        self._folds: dict[str, Fold] = {
            events.WorkflowStarted.__name__: self._started,
            events.WorkflowParked.__name__: self._parked,
            events.OperatorActionApplied.__name__: self._operator_action,
            events.StepScheduled.__name__: self._scheduled,
            events.StepRetrying.__name__: self._retrying,
            events.StepCompleted.__name__: self._step_completed,
            events.StepFailed.__name__: self._step_failed,
            events.ReplyIgnored.__name__: self._reply_ignored,
            DEAD_LETTERED: self._dead_lettered,
            **{name: self._closer(status) for name, status in _CLOSING.items()},
        }

    def committed(self, observations: Sequence[Observation]) -> None:
        """Fold one committed checkpoint's observations into the counters and histograms."""
        folds = self._folds
        for name, value, since_ms in observations:
            fold = folds.get(name)
            if fold is not None:
                fold(value, since_ms)

    # --- folds, one per event kind ---------------------------------------------------------------
    def _started(self, value: Mapping[str, Any], _since: int | None) -> None:
        self.started.add((value["workflow_type"],))

    def _closer(self, status: WorkflowStatus) -> Fold:
        def closed(value: Mapping[str, Any], since_ms: int | None) -> None:
            key = (value["workflow_type"], status.value)
            self.closed.add(key)
            seconds = _seconds(value, since_ms)
            if seconds is not None:
                self.workflow_duration.record(seconds, self._workflow_keys.attributes(key))

        return closed

    def _parked(self, value: Mapping[str, Any], _since: int | None) -> None:
        self.parked.add((value["workflow_type"], _error_type(value)))

    def _operator_action(self, value: Mapping[str, Any], _since: int | None) -> None:
        self.operator_actions.add((value["workflow_type"], str(value["action"])))

    def _scheduled(self, value: Mapping[str, Any], _since: int | None) -> None:
        if value["attempt"] == 1:
            self.scheduled.add((value["service"], value["command_type"], bool(value.get("compensation"))))

    def _retrying(self, value: Mapping[str, Any], _since: int | None) -> None:
        self.retries.add((value["service"], value["command_type"], _error_type(value)))

    def _step_completed(self, value: Mapping[str, Any], since_ms: int | None) -> None:
        self._settled(value, since_ms, SUCCESS, None)

    def _step_failed(self, value: Mapping[str, Any], since_ms: int | None) -> None:
        self._settled(value, since_ms, FAILURE, _error_type(value))

    def _settled(self, value: Mapping[str, Any], since_ms: int | None, outcome: str, error: str | None) -> None:
        seconds = _seconds(value, since_ms)
        if seconds is not None:
            key: tuple[AttributeValue | None, ...] = (value["service"], value["command_type"], outcome, error)
            self.step_duration.record(seconds, self._step_keys.attributes(key))

    def _reply_ignored(self, value: Mapping[str, Any], _since: int | None) -> None:
        self.ignored.add((value["workflow_type"], value["why"]))

    def _dead_lettered(self, value: Mapping[str, Any], _since: int | None) -> None:
        self.dead_lettered.add((value["reason"],))
