"""How long each fault hurt: from the topics, the instances' log lines and their liveness files.

From the topics (the figure a user feels): the *pause*, the longest gap between two consecutive
lifecycle events (engine clock, `at_ms`) on the partitions the fault touched, from the moment it
was injected until the next fault (or a minute after it healed); for a SIGKILL also the longest
gap on the partitions that stayed (cooperative rebalancing keeps it small). For a service outage,
what the topics show is the service's own steps: the attempt timeouts that ran while it was down
and how long after it came back its first step completed.

From the processes: the `recovery #N ... done in X.XXs` and `partition N restored` lines the
instances logged inside the fault's window, and the liveness counters' increase over it (each
restart of a process starts its counters at zero, so increases are summed per pid).
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field

from chaos.audit import EVENTS
from chaos.committed_log import LoggedRecord, TopicRole
from chaos.run_record import FaultKind, FaultRecord, LivenessSample
from orchestrator.errors import SagaBridgeError
from orchestrator.serialization import AvroSerde

AFTER_HEAL_MS = 60_000
COUNTERS = (
    "producer_recoveries",
    "consumer_replacements",
    "retried_calls",
    "handovers",
    "fenced_owners",
    "stuck_calls",
)
_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ \S+: (.*)$")
_RECOVERY_DONE = re.compile(r"recovery #\d+ done in ([\d.]+)s")
_CONSUMER_REPLACED = re.compile(r"^recovery: .*; dropping partitions")
_RESTORED = re.compile(r"partition \d+ restored: RestoreStats\(partition=\d+, records=(\d+), seconds=([\d.e-]+)")
_ASSIGNED = re.compile(r"assigned \[.*?\] ready in ([\d.]+)s")
_FENCED = re.compile(r"fenced \S+, departed owner of")


@dataclass(frozen=True)
class LogLine:
    """A line an orchestrator instance logged, with its time (epoch ms)."""

    instance: str
    at_ms: int
    text: str


@dataclass(frozen=True)
class StepStamp:
    """A lifecycle event's engine time, the events partition it is on, and its kind and service."""

    at_ms: int
    partition: int
    kind: str
    service: str = ""
    error_type: str = ""


class FaultRecovery(BaseModel):
    """The recovery figures of one fault."""

    kind: FaultKind
    target: str
    progress: int
    at_s: float = Field(description="seconds after the load started")
    down_s: float = Field(description="from injection until the target was back")
    partitions: list[int]
    pause_s: float | None = Field(default=None, description="longest gap in progress on the partitions it touched")
    pause_partition: int | None = None
    kept_pause_s: float | None = Field(default=None, description="longest gap on the other partitions (SIGKILLs)")
    service_back_s: float | None = Field(
        default=None, description="outage: from its restart to its first completed step"
    )
    attempt_timeouts: int = Field(default=0, description="outage: attempt timeouts of its steps in the window")
    producer_recoveries: list[float] = Field(default_factory=list, description="`recovery #N done in` seconds")
    consumer_replacements: int = 0
    restores: int = 0
    restored_records: int = 0
    longest_restore_s: float | None = None
    longest_assign_s: float | None = None
    fenced_departed_owners: int = 0
    liveness: dict[str, int] = Field(default_factory=dict, description="counter increases over the window")


def step_stamps(entries: Iterable[LoggedRecord], serde: AvroSerde) -> list[StepStamp]:
    """The engine time, partition and kind of every lifecycle event of a committed log."""
    stamps = []
    for entry in entries:
        if entry.role != TopicRole.EVENTS or entry.record.value is None:
            continue
        try:
            decoded = serde.decode(entry.record.value)
        except SagaBridgeError:
            continue
        v = decoded.value
        if decoded.schema_name.startswith(EVENTS) and isinstance(v.get("at_ms"), int):
            error_type = str((v.get("error") or {}).get("error_type", ""))
            kind = decoded.schema_name[len(EVENTS) :]
            stamps.append(StepStamp(v["at_ms"], entry.record.partition, kind, str(v.get("service", "")), error_type))
    return stamps


def read_log_lines(logs_dir: Path, instances: Iterable[str]) -> list[LogLine]:
    """The timestamped lines of each instance's log (librdkafka's own `%` lines have no timestamp)."""
    lines: list[LogLine] = []
    for instance in instances:
        path = logs_dir / f"{instance}.log"
        if not path.exists():
            continue
        for raw in path.read_text(errors="replace").splitlines():
            match = _LINE.match(raw)
            if match:
                at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                lines.append(LogLine(instance, int(at * 1000), match.group(2)))
    return lines


def _largest_gap(stamps: Sequence[int], start_ms: int, end_ms: int) -> float:
    points = [start_ms, *(s for s in stamps if start_ms < s <= end_ms)]
    if len(points) == 1:
        return (end_ms - start_ms) / 1000
    return max(b - a for a, b in itertools.pairwise(points)) / 1000


def _liveness_increase(samples: Sequence[LivenessSample], start_ms: int, end_ms: int) -> dict[str, int]:
    """Per counter, its increase over [start_ms, end_ms], summed over instances and their processes."""
    by_pid: dict[tuple[str, int], list[LivenessSample]] = defaultdict(list)
    for s in samples:
        by_pid[(s.instance, int(s.status.get("pid", 0)))].append(s)
    total = dict.fromkeys(COUNTERS, 0)
    for series in by_pid.values():
        before = [s for s in series if s.at_ms <= start_ms]
        inside = [s for s in series if start_ms < s.at_ms <= end_ms]
        if not inside:
            continue
        base = before[-1].status if before else {}
        for name in COUNTERS:
            total[name] += int(inside[-1].status.get(name, 0)) - int(base.get(name, 0))
    return {k: v for k, v in total.items() if v}


def fault_recoveries(
    faults: Sequence[FaultRecord],
    stamps: Sequence[StepStamp],
    partitions: int,
    log_lines: Sequence[LogLine],
    samples: Sequence[LivenessSample],
    load_started_ms: int,
) -> list[FaultRecovery]:
    """One FaultRecovery per fault, in the order they were injected."""
    by_partition: dict[int, list[int]] = defaultdict(list)
    for s in stamps:
        by_partition[s.partition].append(s.at_ms)
    for series in by_partition.values():
        series.sort()
    last_ms = max((s.at_ms for s in stamps), default=0)
    ordered = sorted(faults, key=lambda f: f.started_ms)
    out = []
    for i, fault in enumerate(ordered):
        end = min(fault.healed_ms + AFTER_HEAL_MS, last_ms)
        if i + 1 < len(ordered):
            end = min(end, ordered[i + 1].started_ms)
        end = max(end, fault.healed_ms)
        out.append(_one(fault, end, by_partition, partitions, stamps, log_lines, samples, load_started_ms))
    return out


def _one(
    fault: FaultRecord,
    end_ms: int,
    by_partition: dict[int, list[int]],
    partitions: int,
    stamps: Sequence[StepStamp],
    log_lines: Sequence[LogLine],
    samples: Sequence[LivenessSample],
    load_started_ms: int,
) -> FaultRecovery:
    start = fault.started_ms
    rec = FaultRecovery(
        kind=fault.kind,
        target=fault.target,
        progress=fault.progress,
        at_s=round((start - load_started_ms) / 1000, 1),
        down_s=round((fault.healed_ms - start) / 1000, 2),
        partitions=fault.partitions,
    )
    touched = set(fault.partitions) if fault.partitions else set(range(partitions))
    if fault.kind != FaultKind.SERVICE_OUTAGE:
        gaps = {p: _largest_gap(by_partition.get(p, []), start, end_ms) for p in sorted(touched)}
        rec.pause_partition, pause = max(gaps.items(), key=lambda kv: kv[1])
        rec.pause_s = round(pause, 2)
        kept = [_largest_gap(by_partition.get(p, []), start, end_ms) for p in range(partitions) if p not in touched]
        rec.kept_pause_s = round(max(kept), 2) if kept else None
    else:
        service = fault.target
        completed = sorted(
            s.at_ms for s in stamps if s.kind == "StepCompleted" and s.service == service and s.at_ms > fault.healed_ms
        )
        rec.service_back_s = round((completed[0] - fault.healed_ms) / 1000, 2) if completed else None
        rec.attempt_timeouts = sum(
            1
            for s in stamps
            if s.kind == "StepRetrying" and s.service == service and s.error_type == "AttemptTimeout"
            if start <= s.at_ms <= end_ms
        )
    inside = [ln.text for ln in log_lines if start <= ln.at_ms <= end_ms]
    rec.producer_recoveries = [float(m.group(1)) for t in inside if (m := _RECOVERY_DONE.search(t))]
    rec.consumer_replacements = sum(1 for t in inside if _CONSUMER_REPLACED.search(t))
    restores = [(int(m.group(1)), float(m.group(2))) for t in inside if (m := _RESTORED.search(t))]
    rec.restores = len(restores)
    rec.restored_records = sum(r for r, _ in restores)
    rec.longest_restore_s = round(max(s for _, s in restores), 2) if restores else None
    assigns = [float(m.group(1)) for t in inside if (m := _ASSIGNED.search(t))]
    rec.longest_assign_s = max(assigns) if assigns else None
    rec.fenced_departed_owners = sum(1 for t in inside if _FENCED.search(t))
    rec.liveness = _liveness_increase(samples, start, end_ms)
    return rec


def instance_totals(samples: Sequence[LivenessSample]) -> dict[str, dict[str, int]]:
    """Per instance, each counter summed over its processes (the last sample of each pid)."""
    last: dict[tuple[str, int], LivenessSample] = {}
    for s in sorted(samples, key=lambda s: s.at_ms):
        last[(s.instance, int(s.status.get("pid", 0)))] = s
    totals: dict[str, dict[str, int]] = {}
    for (instance, _pid), s in sorted(last.items()):
        row = totals.setdefault(instance, dict.fromkeys(("processes", "commits", "aborts", *COUNTERS), 0))
        row["processes"] += 1
        for name in ("commits", "aborts", *COUNTERS):
            row[name] += int(s.status.get(name, 0))
    return totals
