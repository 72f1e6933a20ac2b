"""Discover: the flow choreography really runs, from the observed cases.

- a **directly-follows graph**: activity b directly follows a in a case (cases in time order);
  per edge its frequency and the latency percentiles of the hop (b's time - a's time);
- the **variants**: distinct activity sequences, with counts, share and example cases;
- **start and end activities** with their counts;
- **stalled cases**: idle for longer than `stall_after` as of `now` (default: the latest event
  seen, so an old log is judged as of its own end), whose last activity is not an end activity.

An activity is an end activity when configured (`[shadow] end_activities`) or, by default, when
it is the last event of at least half the cases it occurs in: a case that stops there is done.
Pure and in memory: a trace is a few small tuples, so a million cases fit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from orchestrator.shadow.case_store import StoredCase

EXAMPLES = 5
PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Trace:
    """What discovery needs of a case: its activities and their times, in time order."""

    case_id: str
    activities: tuple[str, ...]
    times_ms: tuple[int, ...]
    duplicates: int = 0
    out_of_order: int = 0
    late: int = 0

    @classmethod
    def of(cls, case: StoredCase) -> Trace:
        """The case's activities in time order."""
        return cls(
            case.case_id,
            tuple(e.observation.activity for e in case.events),
            tuple(e.observation.timestamp_ms for e in case.events),
            int(case.header.duplicates),
            int(case.header.out_of_order),
            int(case.header.late),
        )

    @property
    def first_ms(self) -> int:
        """Timestamp of the case's first event."""
        return self.times_ms[0]

    @property
    def last_ms(self) -> int:
        """Timestamp of the case's last event."""
        return self.times_ms[-1]


def percentile(sorted_values: Sequence[int], pct: float) -> int:
    """Nearest-rank percentile of an ascending sequence (0 for an empty one)."""
    if not sorted_values:
        return 0
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return int(sorted_values[int(min(rank, len(sorted_values))) - 1])


@dataclass
class Edge:
    """One directly-follows arrow: how often b followed a, in how many cases, and the hop's latency percentiles."""

    source: str
    target: str
    count: int
    latency_ms: dict[int, int]  # percentile -> ms
    cases: int  # cases with at least one such hop

    def as_json(self) -> dict[str, Any]:
        """The edge as the report's JSON carries it (raw milliseconds)."""
        return {
            "from": self.source,
            "to": self.target,
            "count": self.count,
            "cases": self.cases,
            "latency_ms": {f"p{p}": v for p, v in self.latency_ms.items()},
        }


@dataclass
class Variant:
    """One distinct path through the activities, with its cases."""

    activities: tuple[str, ...]
    count: int
    share: float
    examples: list[str]
    duration_p50_ms: int

    def as_json(self) -> dict[str, Any]:
        """The variant as the report's JSON carries it."""
        return {
            "activities": list(self.activities),
            "count": self.count,
            "share": round(self.share, 6),
            "examples": self.examples,
            "duration_p50_ms": self.duration_p50_ms,
        }


@dataclass
class StalledCase:
    """A case idle for longer than stall_after that is not at an end activity."""

    case_id: str
    last_activity: str
    idle_ms: int


@dataclass
class Discovery:
    """What discovery found in a set of cases: graph, variants, start/end activities, stalls."""

    cases: int
    events: int
    activities: dict[str, int]  # activity -> occurrences
    activity_cases: dict[str, int]  # activity -> cases it occurs in
    edges: list[Edge]
    starts: dict[str, int]
    ends: dict[str, int]
    end_activities: list[str]
    variants: list[Variant]
    stalled: list[StalledCase]
    stall_after_ms: int
    now_ms: int
    duration_ms: dict[int, int]
    duplicates: int = 0
    out_of_order: int = 0
    late: int = 0
    span_ms: tuple[int, int] = (0, 0)
    extra: dict[str, Any] = field(default_factory=dict)

    def edge(self, source: str, target: str) -> Edge | None:
        """The arrow from `source` to `target`, or None when no case took that hop."""
        return next((e for e in self.edges if e.source == source and e.target == target), None)

    def as_json(self) -> dict[str, Any]:
        """Every figure of the discovery, raw milliseconds (the report's `--json`)."""
        return {
            "cases": self.cases,
            "events": self.events,
            "activities": self.activities,
            "activity_cases": self.activity_cases,
            "edges": [e.as_json() for e in self.edges],
            "start_activities": self.starts,
            "end_activities": self.ends,
            "end_activity_set": self.end_activities,
            "variants": [v.as_json() for v in self.variants],
            "stalled": {
                "threshold_ms": self.stall_after_ms,
                "count": len(self.stalled),
                "cases": [
                    {"case_id": s.case_id, "last_activity": s.last_activity, "idle_ms": s.idle_ms}
                    for s in self.stalled[:1000]
                ],
            },
            "case_duration_ms": {f"p{p}": v for p, v in self.duration_ms.items()},
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "late": self.late,
            "now_ms": self.now_ms,
            "first_event_ms": self.span_ms[0],
            "last_event_ms": self.span_ms[1],
            **self.extra,
        }


def discover(
    traces: Iterable[Trace],
    *,
    stall_after: timedelta,
    now_ms: int | None = None,
    end_activities: Sequence[str] = (),
) -> Discovery:
    """Build the directly-follows graph, variants, start/end activities and stalled cases of `traces`."""
    activities: Counter[str] = Counter()
    activity_cases: Counter[str] = Counter()
    last_of: Counter[str] = Counter()
    hops: dict[tuple[str, str], list[int]] = {}
    hop_cases: Counter[tuple[str, str]] = Counter()
    starts: Counter[str] = Counter()
    variants: dict[tuple[str, ...], list[Trace]] = {}
    durations: list[int] = []
    kept: list[Trace] = []
    events = duplicates = out_of_order = late = 0
    for trace in traces:
        if not trace.activities:
            continue
        kept.append(trace)
        events += len(trace.activities)
        duplicates += trace.duplicates
        out_of_order += trace.out_of_order
        late += trace.late
        activities.update(trace.activities)
        activity_cases.update(set(trace.activities))
        starts[trace.activities[0]] += 1
        last_of[trace.activities[-1]] += 1
        seen: set[tuple[str, str]] = set()
        for i in range(1, len(trace.activities)):
            pair = (trace.activities[i - 1], trace.activities[i])
            hops.setdefault(pair, []).append(trace.times_ms[i] - trace.times_ms[i - 1])
            seen.add(pair)
        hop_cases.update(seen)
        variants.setdefault(trace.activities, []).append(trace)
        durations.append(trace.last_ms - trace.first_ms)
    total = len(kept)
    first_ms = min((t.first_ms for t in kept), default=0)
    last_ms = max((t.last_ms for t in kept), default=0)
    now = last_ms if now_ms is None else now_ms
    ends_set = list(end_activities) or sorted(a for a, n in last_of.items() if 2 * n >= activity_cases[a])
    stall_ms = int(stall_after / timedelta(milliseconds=1))
    stalled = sorted(
        (
            StalledCase(t.case_id, t.activities[-1], now - t.last_ms)
            for t in kept
            if now - t.last_ms > stall_ms and t.activities[-1] not in ends_set
        ),
        key=lambda s: -s.idle_ms,
    )
    edges = []
    for (a, b), latencies in hops.items():
        latencies.sort()
        edges.append(Edge(a, b, len(latencies), {p: percentile(latencies, p) for p in PERCENTILES}, hop_cases[(a, b)]))
    edges.sort(key=lambda e: (-e.count, e.source, e.target))
    variant_list = []
    for path, members in variants.items():
        member_durations = sorted(t.last_ms - t.first_ms for t in members)
        variant_list.append(
            Variant(
                path,
                len(members),
                len(members) / total if total else 0.0,
                [t.case_id for t in sorted(members, key=lambda t: t.case_id)[:EXAMPLES]],
                percentile(member_durations, 50),
            )
        )
    variant_list.sort(key=lambda v: (-v.count, v.activities))
    durations.sort()
    return Discovery(
        cases=total,
        events=events,
        activities=dict(activities.most_common()),
        activity_cases=dict(activity_cases.most_common()),
        edges=edges,
        starts=dict(starts.most_common()),
        ends=dict(last_of.most_common()),
        end_activities=ends_set,
        variants=variant_list,
        stalled=stalled,
        stall_after_ms=stall_ms,
        now_ms=now,
        duration_ms={p: percentile(durations, p) for p in PERCENTILES},
        duplicates=duplicates,
        out_of_order=out_of_order,
        late=late,
        span_ms=(first_ms, last_ms),
    )


__all__ = ["Discovery", "Edge", "StalledCase", "Trace", "Variant", "discover", "percentile"]
