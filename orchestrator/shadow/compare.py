"""Compare every case with the workflow: fitness, and per deviation kind its count and examples.

Fitness is the share of judged cases that conform (cases still in progress, and cases whose start
was never observed, are counted apart, not judged). An unexpected step whose command type is a
compensation (configured in `[shadow] compensations`, or seen run as one by the workflow in any
case) is reported as a compensation the workflow would not have run. Deviations an allow rule
matches are listed as allowed and do not count against the case.

`--jobs N` spreads the cases over N worker processes (each builds its own sandbox from the same
mapping file and workflow module); the result does not depend on N.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from orchestrator.shadow.case_store import StoredCase
from orchestrator.shadow.loading import SandboxSpec, build_sandbox
from orchestrator.shadow.sandbox import Sandbox
from orchestrator.shadow.settings import ShadowSettings
from orchestrator.shadow.verdicts import CaseResult, Deviation, DeviationKind, Verdict

EXAMPLES = 10
CHUNK = 250


@dataclass
class KindSummary:
    """The cases of one deviation kind: how many, how often, where, and a few example case ids."""

    kind: DeviationKind
    cases: int = 0
    occurrences: int = 0
    examples: list[str] = field(default_factory=list)
    steps: Counter[str] = field(default_factory=Counter)

    def add(self, case_id: str, deviations: list[Deviation]) -> None:
        """Count one case's deviations of this kind."""
        self.cases += 1
        self.occurrences += len(deviations)
        if len(self.examples) < EXAMPLES:
            self.examples.append(case_id)
        for d in deviations:
            self.steps[d.describe()] += 1

    def as_json(self) -> dict[str, Any]:
        """The summary as the report's JSON carries it."""
        return {
            "kind": self.kind.value,
            "label": self.kind.label,
            "cases": self.cases,
            "occurrences": self.occurrences,
            "examples": self.examples,
            "steps": dict(self.steps.most_common()),
        }


@dataclass
class Comparison:
    """Every case judged against one workflow type, and the summaries the report prints."""

    workflow_type: str
    results: list[CaseResult]
    kinds: dict[DeviationKind, KindSummary]
    allowed: dict[DeviationKind, KindSummary]
    compensation_types: list[str]

    def count(self, verdict: Verdict) -> int:
        """How many cases got `verdict`."""
        return sum(1 for r in self.results if r.verdict is verdict)

    @property
    def judged(self) -> int:
        """Cases that were compared: conforming plus deviating (in progress and not started are not)."""
        return self.count(Verdict.CONFORMS) + self.count(Verdict.DEVIATES)

    @property
    def fitness(self) -> float:
        """The share of judged cases that conform (1.0 when none was judged)."""
        return self.count(Verdict.CONFORMS) / self.judged if self.judged else 1.0

    def result(self, case_id: str) -> CaseResult | None:
        """One case's result, or None when it was not compared."""
        return next((r for r in self.results if r.case_id == case_id), None)

    def as_json(self, cases: bool = False) -> dict[str, Any]:
        """The comparison as the report's JSON carries it; `cases` adds every case's verdict and commands."""
        out: dict[str, Any] = {
            "workflow_type": self.workflow_type,
            "cases": len(self.results),
            "judged": self.judged,
            "conforming": self.count(Verdict.CONFORMS),
            "deviating": self.count(Verdict.DEVIATES),
            "in_progress": self.count(Verdict.IN_PROGRESS),
            "not_started": self.count(Verdict.NOT_STARTED),
            "fitness": round(self.fitness, 6),
            "deviations": [s.as_json() for s in self.kinds.values()],
            "allowed": [s.as_json() for s in self.allowed.values()],
            "compensation_types": self.compensation_types,
        }
        if cases:
            out["results"] = [
                {
                    "case_id": r.case_id,
                    "verdict": r.verdict.value,
                    "deviations": [
                        {"kind": d.kind.value, "step": d.step, "activity": d.activity} for d in r.deviations
                    ],
                    "allowed": [{"kind": d.kind.value, "step": d.step, "activity": d.activity} for d in r.allowed],
                    "workflow_status": r.workflow_status,
                    "commands": r.commands,
                }
                for r in self.results
            ]
        return out


def settled(case: StoredCase, now_ms: int, stall_after: timedelta) -> bool:
    """No more events are expected: idle for longer than `stall_after` as of `now_ms`."""
    return now_ms - case.header.last_ms > stall_after / timedelta(milliseconds=1)


def summarise(workflow_type: str, raw: list[CaseResult], settings: ShadowSettings, learned: set[str]) -> Comparison:
    """Split allowed deviations from the rest, per kind; compensations learned in the run or listed in the settings
    count as such."""
    compensations = set(settings.compensations) | learned
    kinds: dict[DeviationKind, KindSummary] = {}
    allowed: dict[DeviationKind, KindSummary] = {}
    results = []
    for result in raw:
        kept: list[Deviation] = []
        silenced: list[Deviation] = []
        for d in result.deviations:
            if d.kind is DeviationKind.UNEXPECTED_STEP and d.step in compensations:
                d = replace(d, kind=DeviationKind.UNEXPECTED_COMPENSATION)
            rule = settings.allowed(d.kind, d.step, d.activity)
            if rule is None:
                kept.append(d)
            else:
                silenced.append(replace(d, allowed_by=rule.reason or "allow-list"))
        verdict = result.verdict
        if verdict in (Verdict.CONFORMS, Verdict.DEVIATES):
            verdict = Verdict.DEVIATES if kept else Verdict.CONFORMS
        result = replace(result, verdict=verdict, deviations=kept, allowed=silenced)
        for table, found in ((kinds, kept), (allowed, silenced)):
            by_kind: dict[DeviationKind, list[Deviation]] = {}
            for d in found:
                by_kind.setdefault(d.kind, []).append(d)
            for kind, ds in by_kind.items():
                table.setdefault(kind, KindSummary(kind)).add(result.case_id, ds)
        results.append(result)
    order = list(DeviationKind)
    return Comparison(
        workflow_type,
        results,
        dict(sorted(kinds.items(), key=lambda kv: order.index(kv[0]))),
        dict(sorted(allowed.items(), key=lambda kv: order.index(kv[0]))),
        sorted(compensations),
    )


# -- running the sandbox, in this process or in workers ------------------------------------------


_worker: Sandbox | None = None


def _init_worker(spec: SandboxSpec) -> None:
    global _worker
    _worker = build_sandbox(spec)


def _judge_chunk(chunk: list[tuple[StoredCase, bool]]) -> tuple[list[CaseResult], set[str]]:
    assert _worker is not None
    return [_worker.judge(case, settled=s) for case, s in chunk], set(_worker.compensation_types)


def _chunks(items: Iterable[tuple[StoredCase, bool]], size: int) -> Iterator[list[tuple[StoredCase, bool]]]:
    chunk: list[tuple[StoredCase, bool]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def compare_cases(
    cases: Iterable[StoredCase],
    *,
    workflow_type: str,
    settings: ShadowSettings,
    now_ms: int,
    sandbox: Sandbox | None = None,
    spec: SandboxSpec | None = None,
    jobs: int = 1,
) -> Comparison:
    """Judge every case (in `sandbox`, or in `jobs` workers built from `spec`) and summarise."""
    work = ((case, settled(case, now_ms, settings.stall_after)) for case in cases)
    raw: list[CaseResult] = []
    learned: set[str] = set()
    if jobs <= 1 or spec is None:
        if sandbox is None:
            if spec is None:
                raise ValueError("compare_cases needs a sandbox or a spec to build one")
            sandbox = build_sandbox(spec)
        for case, is_settled in work:
            raw.append(sandbox.judge(case, settled=is_settled))
        learned = set(sandbox.compensation_types)
    else:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(spec,)) as pool:
            for results, types in pool.map(_judge_chunk, _chunks(work, CHUNK)):
                raw.extend(results)
                learned |= types
    return summarise(workflow_type, raw, settings, learned)


def default_jobs() -> int:
    """Worker processes for compare: one per core, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


__all__ = ["Comparison", "KindSummary", "compare_cases", "default_jobs", "settled", "summarise"]
