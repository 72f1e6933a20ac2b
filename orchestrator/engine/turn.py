"""Per-call context: the transaction, the clock and the records produced so far."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.engine.outbox import Outbox
from orchestrator.engine.workflow_store import WorkflowStore
from orchestrator.tracing import PendingSpans
from orchestrator.transport.records import InboundRecord


@dataclass(slots=True)
class Turn:
    store: WorkflowStore
    now_ms: int
    out: Outbox
    record: InboundRecord | None = None  # the inbox record being handled (None: the clock)
    spans: PendingSpans = field(default_factory=PendingSpans)  # recorded only if the turn's writes commit


@dataclass(slots=True)
class EngineStats:
    """Counters for things that change nothing but operators want to see."""

    started: int = 0
    duplicate_starts: int = 0
    replies_ignored: int = 0
    abandoned_successes: int = 0  # successes for steps the run gave up on: effects nobody compensates
    signals_dropped: int = 0
    cancels_ignored: int = 0
    children_ignored: int = 0
    replays: int = 0
    parked: int = 0
    suspended: int = 0
    dead_lettered: int = 0
    purged: int = 0
    timers_fired: int = 0
    stale_timers: int = 0
    timer_errors: int = 0
    continued_as_new: int = 0  # runs ended by ctx.continue_as_new (and started over)
    history_warnings: int = 0  # runs whose history reached history_warn_events
    by_kind: dict[str, int] = field(default_factory=dict)
