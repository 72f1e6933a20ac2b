"""What a turn made true, handed to metrics only when the checkpoint holding it commits.

The engine handles inputs inside a Kafka transaction; an aborted checkpoint is re-processed from
the committed offsets. Counting at the time of the work would then count it twice (and count work
that never happened), so, as with the queued spans of engine/run_tracing.py, each turn keeps what
it did (one `Observation` per lifecycle event it produced, one per record it dead-lettered) and
the engine hands a checkpoint's observations to its `EngineRecorder` in `mark_committed`, or drops
them in `discard`. Metrics then count exactly what the committed events and DLQ topics hold.

Nothing is collected when the engine has no recorder (metrics off): the outbox's list is None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

Observation = tuple[str, Mapping[str, Any], int | None]
"""(name, fields, since_ms). `name` is a lifecycle event's record name (`WorkflowStarted`, ...) and
`fields` its value as produced on the events topic; `since_ms` is when what it closes began: the
run's `created_at_ms` for workflow events, the step's `first_scheduled_ms` for step events.
A dead-lettered record is (DEAD_LETTERED, {"reason": its sb-dlq-reason}, None)."""

DEAD_LETTERED: Final = "DeadLettered"


class EngineRecorder(Protocol):
    """Receives the observations of each committed checkpoint (orchestrator/metrics/lifecycle_metrics.py)."""

    def committed(self, observations: Sequence[Observation]) -> None:
        """Count what the checkpoint that just committed made true; must not raise."""
        ...
