"""Hand-over figures (issue 14): how long a partition stops when its instance is SIGKILLed, and when
an instance joins the group, with the orchestrator's default group settings.

Workflows arrive at a steady rate so every inbox partition has work all the time; the lifecycle
events (keyed by workflow id, so on the same partition number as the inbox) are read back
read_committed and grouped by partition. A partition's *pause* is the largest gap between two
consecutive events on it (engine clock, `at_ms`) in the window around the change; the partitions
that did not move are measured the same way, so cooperative rebalancing shows as their small gap.
The *visible* pause is the same gap by the time the reader received the events: it adds the time
read_committed readers wait behind the killed instance's open transaction (aborted by the broker
after `transaction.timeout.ms`, checked every `transaction.abort.timed.out.transaction.cleanup.interval.ms`).
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from benchmarks.errors import BenchmarkError
from benchmarks.model import BenchContext, Measurement
from benchmarks.orchestrator_procs import BenchApp, OrchestratorProc, orchestrators, serde
from benchmarks.workflow import WORKFLOW, order
from orchestrator.config import OrchestratorSettings
from orchestrator.engine.liveness import read_status

RATE_WPS = 20.0  # workflows started per second (3 steps each, 8 lifecycle events)
DEFAULTS = {
    name: OrchestratorSettings.model_fields[name].default
    for name in ("session_timeout_ms", "heartbeat_interval_ms", "transaction_timeout_ms", "static_membership")
}


@dataclass
class PartitionEvents:
    """(engine at_ms, reader wall ms) of every lifecycle event, per events partition."""

    at: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    def gap(self, partition: int, start_ms: int, end_ms: int, received: bool = False) -> float:
        """Largest gap between consecutive events (or window edges) within [start_ms, end_ms], in s."""
        stamps = sorted(r if received else a for a, r in self.at.get(partition, []))
        inside = [start_ms, *(t for t in stamps if start_ms < t < end_ms), end_ms]
        return max(b - a for a, b in itertools.pairwise(inside)) / 1000


class EventTap:
    """Reads the app's events topic from its end, read_committed, decoding only `at_ms`."""

    def __init__(self, app: BenchApp) -> None:
        self.events = PartitionEvents()
        self._consumer = Consumer(
            {
                "bootstrap.servers": app.ctx.bootstrap,
                "group.id": app.ctx.name("handover-tap"),
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
            }
        )
        self._consumer.assign([TopicPartition(app.events_topic, p, OFFSET_END) for p in range(app.partitions)])

    def poll(self, timeout_s: float = 0.05) -> None:
        for msg in self._consumer.consume(2_000, timeout_s):
            value = msg.value()
            if msg.error() is not None or not isinstance(value, bytes):
                continue
            at_ms = serde.decode(value).value.get("at_ms")
            if isinstance(at_ms, int):
                self.events.at.setdefault(msg.partition() or 0, []).append((at_ms, _now_ms()))

    def close(self) -> None:
        self._consumer.close()


def _now_ms() -> int:
    return int(time.time() * 1000)


class SteadyLoad:
    """Starts workflows at RATE_WPS from the caller's loop (`tick()`), so the tap is polled in between."""

    def __init__(self, app: BenchApp, prefix: str) -> None:
        self.client = app.client()
        self.prefix = prefix
        self.began = time.perf_counter()
        self.sent = 0

    def tick(self) -> None:
        due = int((time.perf_counter() - self.began) * RATE_WPS) + 1
        for i in range(self.sent, due):
            self.client.start(WORKFLOW, order(i), workflow_id=f"{self.prefix}-{i}", flush=False)
        self.sent = max(self.sent, due)


def _run_for(seconds: float, load: SteadyLoad, tap: EventTap, procs: Sequence[OrchestratorProc]) -> None:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        load.tick()
        tap.poll()
        for p in procs:
            p.check_alive()


def _owned(proc: OrchestratorProc) -> set[int]:
    return set(read_status(proc.liveness_file).get("partitions", []))


def _windows(ctx: BenchContext) -> tuple[float, float]:
    """(warm-up s, observation s): short at tiny size (make test runs it), longer otherwise."""
    return (3.0, 14.0) if ctx.size.name == "tiny" else (6.0, 30.0)


def _pauses(
    app: BenchApp, events: PartitionEvents, moved: set[int], start_ms: int, end_ms: int
) -> tuple[dict[int, float], dict[str, Any]]:
    """Per moved partition its largest gap in [start_ms, end_ms], and the settings row of the figure
    (with the largest gap on the partitions that stayed, which cooperative rebalancing keeps small)."""
    moved_gaps = {p: events.gap(p, start_ms, end_ms) for p in sorted(moved)}
    kept_gaps = [events.gap(p, start_ms, end_ms) for p in sorted(set(range(app.partitions)) - moved)]
    settings: dict[str, Any] = {
        **DEFAULTS,
        "partitions": app.partitions,
        "moved_partitions": sorted(moved),
        "rate_workflows_per_s": RATE_WPS,
        "pause_per_moved_partition_s": moved_gaps,
        "max_gap_on_kept_partitions_s": max(kept_gaps, default=None),
    }
    return moved_gaps, settings


def pause_after_sigkill(ctx: BenchContext) -> list[Measurement]:
    warmup_s, observe_s = _windows(ctx)
    app = BenchApp(ctx, ctx.size.partitions)
    tap = EventTap(app)
    try:
        with app.echo_participants(), orchestrators(app, 2) as procs:
            survivor, victim = procs
            load = SteadyLoad(app, "kill")
            _run_for(warmup_s, load, tap, procs)
            moved = _owned(victim)
            if not moved:
                raise BenchmarkError("the instance to kill owns no partition")
            killed_ms = _now_ms()
            os.kill(victim.pid, signal.SIGKILL)
            assert victim.proc is not None
            victim.proc.wait(10)
            _run_for(observe_s, load, tap, [survivor])
            taken = _owned(survivor) >= moved
            _run_for(2.0, load, tap, [survivor])  # late events of the window's end
    finally:
        tap.close()
    if not taken:
        raise BenchmarkError(f"the survivor did not take over partitions {sorted(moved)} within {observe_s:.0f} s")
    start_ms, end_ms = killed_ms - 1000, killed_ms + int(observe_s * 1000)
    moved_gaps, settings = _pauses(app, tap.events, moved, start_ms, end_ms)
    visible_gaps = {p: tap.events.gap(p, start_ms, end_ms, received=True) for p in sorted(moved)}
    settings.update(instances=2, visible_pause_per_moved_partition_s=visible_gaps)
    note = (
        "largest gap between consecutive lifecycle events (engine clock) on the killed instance's partitions, "
        "from 1 s before the SIGKILL; the survivor takes them over after session_timeout_ms and restores them"
    )
    visible_note = (
        "the same gap as seen by a read_committed reader: includes the wait behind the killed instance's open "
        "transaction, which the broker aborts after transaction_timeout_ms (+ its cleanup interval)"
    )
    name = "hand-over after SIGKILL"
    return [
        Measurement(name, "partition pause after SIGKILL", max(moved_gaps.values()), "s", settings=settings, note=note),
        Measurement(
            name,
            "partition pause after SIGKILL, visible",
            max(visible_gaps.values()),
            "s",
            settings={"moved_partitions": sorted(moved)},
            note=visible_note,
        ),
    ]


def pause_when_instance_joins(ctx: BenchContext) -> list[Measurement]:
    warmup_s, observe_s = _windows(ctx)
    app = BenchApp(ctx, ctx.size.partitions)
    tap = EventTap(app)
    try:
        with app.echo_participants(), orchestrators(app, 1) as [first]:
            load = SteadyLoad(app, "join")
            _run_for(warmup_s, load, tap, [first])
            joined_ms = _now_ms()
            second = OrchestratorProc(app, "i1").start()
            try:
                _run_for(observe_s, load, tap, [first, second])
                moved = _owned(second)
                _run_for(2.0, load, tap, [first, second])
            finally:
                second.terminate()
    finally:
        tap.close()
    if not moved:
        raise BenchmarkError(f"the joining instance got no partition within {observe_s:.0f} s")
    moved_gaps, settings = _pauses(app, tap.events, moved, joined_ms, joined_ms + int(observe_s * 1000))
    settings.update(instances="1 -> 2")
    note = (
        "largest gap between consecutive lifecycle events on the partitions that moved to the new instance, "
        "from the moment its process started (includes its start-up, join, the revoke commit and the restore)"
    )
    return [
        Measurement(
            "hand-over when an instance joins",
            "partition pause when an instance joins",
            max(moved_gaps.values()),
            "s",
            settings=settings,
            note=note,
        )
    ]
