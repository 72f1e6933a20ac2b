"""The shadow report: discovery (and compare, when asked) as one HTML page and one JSON document.

The HTML is self-contained (inline SVG graph, inline CSS, no script, no external resource), so it
can be mailed, attached to a ticket, served by the visibility web UI, or rendered to PNG by a
headless browser. The JSON carries every figure with raw milliseconds for tooling.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import zip_longest
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from orchestrator.shadow.compare import Comparison
from orchestrator.shadow.discovery import Discovery, Trace
from orchestrator.shadow.formatting import human_ms
from orchestrator.shadow.graph_svg import render_svg
from orchestrator.shadow.mermaid import to_mermaid
from orchestrator.shadow.verdicts import Verdict

MAX_VARIANTS = 50
MAX_STALLED = 50

_env = Environment(loader=PackageLoader("orchestrator.shadow", "templates"), autoescape=select_autoescape(["j2"]))
_env.filters["num"] = lambda n: f"{int(n):,}"
_env.filters["dur"] = human_ms


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ms else "-"


def attention_edges(traces: Iterable[Trace], comparison: Comparison | None) -> set[tuple[str, str]]:
    """Hops that only deviating cases take: where to look first."""
    if comparison is None:
        return set()
    verdicts = {r.case_id: r.verdict for r in comparison.results}
    conforming: set[tuple[str, str]] = set()
    deviating: set[tuple[str, str]] = set()
    for trace in traces:
        verdict = verdicts.get(trace.case_id)
        target = conforming if verdict is Verdict.CONFORMS else deviating if verdict is Verdict.DEVIATES else None
        if target is not None:
            target.update(zip(trace.activities, trace.activities[1:], strict=False))
    return deviating - conforming


@dataclass
class ShadowReport:
    """The report of one domain: discovery, optionally the comparison, and the renderings."""

    domain: str
    discovery: Discovery
    comparison: Comparison | None
    attention: set[tuple[str, str]]
    generated_ms: int

    @property
    def mermaid(self) -> str:
        """The graph as Mermaid text."""
        return to_mermaid(self.discovery)

    @property
    def svg(self) -> str:
        """The graph as a standalone SVG drawing."""
        return render_svg(self.discovery, self.attention)

    def html(self) -> str:
        """The self-contained HTML page (inline SVG, no script, no external resource)."""
        d, c = self.discovery, self.comparison
        rows = list(zip_longest(d.starts.items(), d.ends.items(), fillvalue=("", "")))
        return _env.get_template("report.html.j2").render(
            domain=self.domain,
            d=d,
            c=c,
            conforming=c.count(Verdict.CONFORMS) if c else 0,
            deviating=c.count(Verdict.DEVIATES) if c else 0,
            in_progress=c.count(Verdict.IN_PROGRESS) if c else 0,
            not_started=c.count(Verdict.NOT_STARTED) if c else 0,
            svg=self.svg,
            mermaid=self.mermaid,
            attention=self.attention,
            start_end=[
                (s[0], f"{s[1]:,}" if s[1] != "" else "", e[0], f"{e[1]:,}" if e[1] != "" else "") for s, e in rows
            ],
            first_event=_when(d.span_ms[0]),
            last_event=_when(d.span_ms[1]),
            now=_when(d.now_ms),
            generated=_when(self.generated_ms),
            max_variants=MAX_VARIANTS,
            max_stalled=MAX_STALLED,
        )

    def as_json(self, cases: bool = False) -> dict[str, Any]:
        """Every figure as JSON (`--json`); `cases` adds each compared case's verdict."""
        out: dict[str, Any] = {
            "domain": self.domain,
            "generated_ms": self.generated_ms,
            "discovery": self.discovery.as_json(),
            "mermaid": self.mermaid,
        }
        if self.comparison is not None:
            out["compare"] = self.comparison.as_json(cases=cases)
            out["attention_edges"] = sorted([list(e) for e in self.attention])
        return out

    def json_text(self, cases: bool = False) -> str:
        """as_json() as indented text."""
        return json.dumps(self.as_json(cases), indent=2) + "\n"


__all__ = ["ShadowReport", "attention_edges"]
