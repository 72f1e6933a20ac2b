"""Builds a report from a domain's cases: refresh the mirror, discover, compare, export.

The glue between the CLI (and the demo, and the benchmarks) and the pure parts.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from orchestrator.config import OrchestratorSettings
from orchestrator.shadow.compare import Comparison, compare_cases, default_jobs, settled
from orchestrator.shadow.discovery import Trace, discover
from orchestrator.shadow.loading import Domain, SandboxSpec, build_sandbox
from orchestrator.shadow.mirror import CaseMirror
from orchestrator.shadow.report import ShadowReport, attention_edges
from orchestrator.shadow.xes import export_xes


def sandbox_spec(settings: OrchestratorSettings, domain: Domain, workflows_module: str) -> SandboxSpec:
    """Workers re-read the same file with the same environment (its ${VARS}) and settings."""
    return SandboxSpec(domain.path, workflows_module, settings.model_dump(mode="json"), dict(os.environ))


def build_report(
    settings: OrchestratorSettings,
    domain: Domain,
    *,
    workflows_module: str | None = None,
    workflow_type: str | None = None,
    jobs: int | None = None,
    stall_after: timedelta | None = None,
    now_ms: int | None = None,
    xes: Path | None = None,
    mirror_dir: Path | None = None,
) -> ShadowReport:
    """Everything `shadow report` shows: the cases restored from the changelog, discovered, compared (with a
    workflow module), rendered."""
    stall = stall_after or domain.shadow.stall_after
    with CaseMirror(settings, domain.names, domain.serde, mirror_dir) as mirror:
        mirror.refresh()
        traces = [Trace.of(case) for case in mirror.cases()]
        discovery = discover(traces, stall_after=stall, now_ms=now_ms, end_activities=domain.shadow.end_activities)
        comparison: Comparison | None = None
        if workflows_module:
            spec = sandbox_spec(settings, domain, workflows_module)
            shadow = domain.shadow.model_copy(update={"stall_after": stall})
            comparison = compare_cases(
                mirror.cases(),
                workflow_type=domain.workflow_type(workflow_type),
                settings=shadow,
                now_ms=discovery.now_ms,
                spec=spec,
                jobs=default_jobs() if jobs is None else jobs,
            )
        if xes is not None:
            export_xes(xes, mirror.cases(), f"{domain.names.app}/{domain.config.domain}")
    return ShadowReport(
        domain.config.domain, discovery, comparison, attention_edges(traces, comparison), int(time.time() * 1000)
    )


def explain_case(
    settings: OrchestratorSettings,
    domain: Domain,
    case_id: str,
    workflows_module: str | None,
    workflow_type: str | None,
) -> dict[str, Any]:
    """One case's events in time order, and its verdict when a workflow module is given."""
    with CaseMirror(settings, domain.names, domain.serde) as mirror:
        mirror.refresh()
        case = mirror.case(case_id)
        if case is None:
            return {"case_id": case_id, "found": False}
        out: dict[str, Any] = {
            "case_id": case_id,
            "found": True,
            "duplicates": case.header.duplicates,
            "events": [
                {
                    "activity": e.observation.activity,
                    "timestamp_ms": e.observation.timestamp_ms,
                    "source": f"{e.observation.source_topic}:{e.observation.source_partition}:"
                    f"{e.observation.source_offset}",
                    "producer": e.observation.producer,
                    "out_of_order": e.out_of_order,
                    "late": e.late,
                }
                for e in case.events
            ],
        }
        if workflows_module:
            sandbox = build_sandbox(sandbox_spec(settings, domain, workflows_module))
            latest = max(c.header.last_ms for c in mirror.cases())
            result = sandbox.judge(case, settled=settled(case, latest, domain.shadow.stall_after))
            out["workflow_type"] = domain.workflow_type(workflow_type)
            out["verdict"] = result.verdict.value
            out["deviations"] = [d.describe() for d in result.deviations]
            out["workflow_status"] = result.workflow_status
            out["commands"] = result.commands
        return out


__all__ = ["build_report", "explain_case", "sandbox_spec"]
