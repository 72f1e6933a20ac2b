"""The directly-follows graph as Mermaid text (`flowchart TD`), for docs, wikis and pull requests.

GitHub, GitLab and most wikis render it; the HTML report embeds it for copying.
"""

from __future__ import annotations

from orchestrator.shadow.discovery import Discovery
from orchestrator.shadow.formatting import human_ms

START, END = "start", "end"


def _label(text: str) -> str:
    return text.replace('"', "#quot;")


def to_mermaid(discovery: Discovery) -> str:
    """The directly-follows graph as Mermaid flowchart text (wikis and pull requests render it)."""
    ids = {name: f"a{i}" for i, name in enumerate(discovery.activities)}
    lines = ["flowchart TD", f'    {START}(("start"))', f'    {END}(("end"))']
    for name, count in discovery.activities.items():
        lines.append(f'    {ids[name]}["{_label(name)}<br/>{count:,}"]')
    for name, count in discovery.starts.items():
        lines.append(f'    {START} -->|"{count:,}"| {ids[name]}')
    for edge in discovery.edges:
        label = f"{edge.count:,} · p50 {human_ms(edge.latency_ms[50])}"
        lines.append(f'    {ids[edge.source]} -->|"{label}"| {ids[edge.target]}')
    for name, count in discovery.ends.items():
        if name in discovery.end_activities:
            lines.append(f'    {ids[name]} -->|"{count:,}"| {END}')
    return "\n".join(lines) + "\n"


__all__ = ["to_mermaid"]
