"""The faults and when they strike: a shuffled schedule at random points of committed progress.

Each fault is injected when the committed step completions reach its threshold (drawn at random
over the run's expected progress), one at a time, each healed before the next: recovery times
then belong to one fault. What runs through all of them: the steady load, the bad input, the
supervisor restarting whatever ends on its own.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from chaos.cluster import Cluster
from chaos.run_record import FaultKind, FaultRecord
from chaos.sizes import ChaosSize

log = logging.getLogger("chaos")
# Faults strike between these fractions of the expected step completions: not before work is in
# flight everywhere, and early enough that the load still runs through the recovery.
FIRST, LAST = 0.06, 0.8
MIN_THRESHOLD = 20


@dataclass(frozen=True)
class PlannedFault:
    kind: FaultKind
    threshold: int  # committed step completions at which it strikes


def plan(size: ChaosSize, rng: random.Random, expected_steps: int) -> list[PlannedFault]:
    """Every fault of the size, in a random order, at random thresholds of committed progress."""
    kinds = (
        [FaultKind.SIGKILL] * size.sigkills
        + [FaultKind.STATE_WIPE] * size.state_wipes
        + [FaultKind.BROKER_RESTART] * size.broker_restarts
        + [FaultKind.SERVICE_OUTAGE] * size.service_outages
        + [FaultKind.PAUSE] * size.pauses
    )
    rng.shuffle(kinds)
    thresholds = sorted(max(MIN_THRESHOLD, int(rng.uniform(FIRST, LAST) * expected_steps)) for _ in kinds)
    return [PlannedFault(k, t) for k, t in zip(kinds, thresholds, strict=True)]


class FaultInjector:
    """Injects one fault at a time into the cluster and records it; blocks until it is healed."""

    def __init__(self, cluster: Cluster, size: ChaosSize, rng: random.Random) -> None:
        self.cluster = cluster
        self.size = size
        self.rng = rng

    def inject(self, kind: FaultKind, progress: int) -> FaultRecord:
        started = _now_ms()
        if kind in (FaultKind.SIGKILL, FaultKind.STATE_WIPE):
            target, partitions, detail = self._kill_orchestrator(wipe=kind == FaultKind.STATE_WIPE)
        elif kind == FaultKind.BROKER_RESTART:
            target, partitions, detail = self._restart_broker()
        elif kind == FaultKind.PAUSE:
            target, partitions, detail = self._pause_orchestrator()
        else:
            target, partitions, detail = self._service_outage()
        record = FaultRecord(
            kind=kind,
            target=target,
            progress=progress,
            started_ms=started,
            healed_ms=_now_ms(),
            partitions=partitions,
            detail=detail,
        )
        log.info("%s of %s healed after %.1fs (%s)", kind.value, target, (record.healed_ms - started) / 1000, detail)
        return record

    def _kill_orchestrator(self, wipe: bool) -> tuple[str, list[int], str]:
        proc = self.cluster.pick_orchestrator()
        owned = self.cluster.owned_partitions(proc)
        delay = self.rng.uniform(*self.size.restart_delay_s)
        log.info(
            "SIGKILL %s (owns %s)%s; restart in %.1fs", proc.name, owned, ", wiping its state" if wipe else "", delay
        )
        with self.cluster.held_down(proc):
            if wipe:
                self.cluster.wipe_state(proc)
            time.sleep(delay)
        return proc.name, owned, f"restarted after {delay:.1f}s" + (" with an empty state dir" if wipe else "")

    def _pause_orchestrator(self) -> tuple[str, list[int], str]:
        proc = self.cluster.pick_orchestrator()
        owned = self.cluster.owned_partitions(proc)
        log.info("SIGSTOP %s (owns %s) for %.0fs, then SIGCONT", proc.name, owned, self.size.pause_s)
        with self.cluster.frozen(proc):
            time.sleep(self.size.pause_s)
        return proc.name, owned, f"frozen {self.size.pause_s:.0f}s"

    def _restart_broker(self) -> tuple[str, list[int], str]:
        down = self.rng.uniform(*self.size.broker_down_s)
        log.info("SIGKILL the broker; start it again in %.1fs", down)
        self.cluster.kill_broker()
        time.sleep(down)
        began = time.monotonic()
        self.cluster.start_broker()
        return "broker", [], f"down {down:.1f}s, then {time.monotonic() - began:.1f}s to start"

    def _service_outage(self) -> tuple[str, list[int], str]:
        proc = self.cluster.pick_service()
        log.info("SIGKILL service %s for %.0fs", proc.name, self.size.outage_s)
        with self.cluster.held_down(proc):
            time.sleep(self.size.outage_s)
        return proc.name, [], f"down {self.size.outage_s:.0f}s"


def _now_ms() -> int:
    return int(time.time() * 1000)
