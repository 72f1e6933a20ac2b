"""Reports on the web UI: self-contained HTML pages another feature renders (shadow mode's flow report).

A feature registers a `ReportSource` on the server's `UiReports`; the UI then lists it under
"Reports" and shows it in a sandboxed frame (no script runs in it, it cannot reach the page or
the token). Its HTML is fetched through the API with the reader's token like everything else:
`GET /api/v1/reports` lists the sources, `GET /api/v1/reports/{slug}` renders one.

Shadow mode's report (`orchestrator shadow report`, issue 11) is the intended first source: its
HTML is self-contained by design (inline SVG and CSS, no script), which is what this contract asks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, HTTPException

from orchestrator.visibility.api_models import ReportList, ReportSummary, ReportView

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True, slots=True)
class ReportSource:
    """A page of HTML another part (shadow mode's comparison) shows in the UI's Reports tab."""

    slug: str  # its URL part: /reports/<slug>
    title: str
    render: Callable[[], str | None]  # self-contained HTML without script; None: nothing to show yet
    description: str = ""

    def __post_init__(self) -> None:
        if not _SLUG.match(self.slug):
            raise ValueError(f"report slug {self.slug!r} must be lowercase letters, digits and '-'")


@dataclass
class UiReports:
    """The reports registered with this server, by slug (the UI lists them; the API serves them)."""

    sources: dict[str, ReportSource] = field(default_factory=dict)

    def add(self, source: ReportSource) -> None:
        """Register a report; a second one under the same slug is a programming error."""
        if source.slug in self.sources:
            raise ValueError(f"a report named {source.slug!r} is already registered")
        self.sources[source.slug] = source

    def all(self) -> list[ReportSource]:
        """Every report, in registration order."""
        return list(self.sources.values())

    def router(self, reader: Callable[..., object]) -> APIRouter:
        """The API routes; `reader` is the API's read-token dependency."""
        router = APIRouter(dependencies=[Depends(reader)])

        @router.get("/reports", response_model=ReportList, summary="Reports the web UI can show")
        def list_reports() -> ReportList:
            return ReportList(
                reports=[ReportSummary(slug=s.slug, title=s.title, description=s.description) for s in self.all()]
            )

        @router.get("/reports/{slug}", response_model=ReportView, summary="One report, rendered now")
        def report(slug: str) -> ReportView:
            source = self.sources.get(slug)
            if source is None:
                raise HTTPException(404, f"no report named {slug!r}")
            return ReportView(slug=slug, title=source.title, html=source.render())

        return router
