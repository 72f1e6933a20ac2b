"""Shadow mode's flow report on the visibility web UI (its Reports tab, `/reports/shadow-<domain>`).

`orchestrator visibility serve --shadow-config connectors/<domain>.toml` registers one source per
mapping file. The page is rendered when it is opened, from the cases' changelog, exactly as
`orchestrator shadow report` renders it: self-contained HTML (inline SVG, no script), which is
what the UI's sandboxed frame asks of a report.
"""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.config import OrchestratorSettings
from orchestrator.shadow.building import build_report
from orchestrator.shadow.loading import Domain
from orchestrator.visibility.ui.reports import ReportSource


def shadow_report_source(
    settings: OrchestratorSettings,
    domain: Domain,
    *,
    workflows_module: str | None = None,
    mirror_dir: Path | None = None,
) -> ReportSource:
    """A report source for `domain`: discovery always, the comparison too when `workflows_module` is
    given; nothing to show (None) while shadow has observed no case yet."""
    name = domain.config.domain

    def render() -> str | None:
        report = build_report(settings, domain, workflows_module=workflows_module, mirror_dir=mirror_dir)
        return report.html() if report.discovery.cases else None

    compared = f", compared with {domain.workflow_type()}" if workflows_module else ""
    return ReportSource(
        slug="shadow-" + re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:55],
        title=f"Shadow: {name}",
        render=render,
        description=f"the flow choreography runs for {name} (directly-follows graph, variants, stalls){compared}",
    )
