"""The directly-follows graph drawn as SVG: a layered (Sugiyama) layout from grandalf, no browser JS.

Nodes are activities (with their counts) between a start and an end marker; an edge's width grows
with its frequency and its label gives the count and the median latency of the hop. Edges named
in `attention` (hops no conforming case takes, when compare ran) are drawn red and dashed. Back
edges (loops in the flow) bend to the side; a repeated activity gets a loop on its node.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from html import escape

from grandalf.graphs import Edge as GEdge
from grandalf.graphs import Graph, Vertex
from grandalf.layouts import SugiyamaLayout
from grandalf.routing import EdgeViewer, route_with_lines

from orchestrator.shadow.discovery import Discovery
from orchestrator.shadow.formatting import human_ms

START, END = "\x00start", "\x00end"
CHAR_W, NODE_H, MARKER = 7.2, 44.0, 26.0
MARGIN = 40.0
INK, MUTED, ATTENTION, FILL = "#1f2937", "#6b7280", "#dc2626", "#eef2ff"


@dataclass
class _Box:
    w: float
    h: float
    xy: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class _Hop:
    source: str
    target: str
    count: int
    label: str


def _node_size(name: str, count: int) -> tuple[float, float]:
    if name in (START, END):
        return MARKER, MARKER
    text = max(len(name), len(f"{count:,}") + 2)
    return max(90.0, CHAR_W * text + 28), NODE_H


def render_svg(discovery: Discovery, attention: Collection[tuple[str, str]] = ()) -> str:
    """The graph as a standalone <svg> element (inline it in HTML, or save it as a .svg file)."""
    if not discovery.activities:
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><text x="10" y="25">no cases</text></svg>'
        )
    counts = {**discovery.activities, START: discovery.cases, END: sum(discovery.ends.values())}
    hops = [_Hop(START, a, n, f"{n:,}") for a, n in discovery.starts.items()]
    hops += [_Hop(e.source, e.target, e.count, f"{e.count:,} · {human_ms(e.latency_ms[50])}") for e in discovery.edges]
    hops += [_Hop(a, END, n, f"{n:,}") for a, n in discovery.ends.items() if a in discovery.end_activities]
    vertices = {name: Vertex(name) for name in counts}
    for name, vertex in vertices.items():
        vertex.view = _Box(*_node_size(name, counts[name]))
    edges: list[tuple[_Hop, GEdge]] = []
    loops: list[_Hop] = []
    for hop in hops:
        if hop.source == hop.target:
            loops.append(hop)
            continue
        edge = GEdge(vertices[hop.source], vertices[hop.target])
        edge.view = EdgeViewer()
        edges.append((hop, edge))
    graph = Graph(list(vertices.values()), [e for _, e in edges])
    offset_x = 0.0
    for component in graph.C:
        layout = SugiyamaLayout(component)
        layout.xspace, layout.yspace = 40, 70
        layout.route_edge = route_with_lines
        roots = [vertices[START]] if vertices[START] in component.sV else None
        layout.init_all(roots=roots)
        layout.draw(5)
        xs = [v.view.xy[0] - v.view.w / 2 for v in component.sV]
        shift = offset_x - min(xs)
        for v in component.sV:
            v.view.xy = (v.view.xy[0] + shift, v.view.xy[1])
        for _, e in edges:
            if e in component.sE and getattr(e.view, "_pts", None):
                e.view._pts = [(x + shift, y) for x, y in e.view._pts]
        offset_x = max(v.view.xy[0] + v.view.w / 2 for v in component.sV) + 60
    boxes = {name: v.view for name, v in vertices.items()}
    # Bounds of everything drawn: boxes, and edge routes (long edges bend around nodes).
    xs = [b.xy[0] - b.w / 2 for b in boxes.values()] + [x for _, e in edges for x, _ in (e.view._pts or [])]
    ys = [b.xy[1] - b.h / 2 for b in boxes.values()] + [y for _, e in edges for _, y in (e.view._pts or [])]
    right = max([b.xy[0] + b.w / 2 for b in boxes.values()] + xs) + 140  # room for back edges and labels
    bottom = max([b.xy[1] + b.h / 2 for b in boxes.values()] + ys)
    min_x, min_y = min(xs), min(ys)
    width, height = right - min_x + 2 * MARGIN, bottom - min_y + 2 * MARGIN
    dx, dy = MARGIN - min_x, MARGIN - min_y
    top = max((h.count for h in hops), default=1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" font-family="system-ui, sans-serif" font-size="12">',
        "<defs>" + _marker("arrow", MUTED) + _marker("arrow-red", ATTENTION) + "</defs>",
    ]
    attention_set = set(attention)
    for hop, edge in edges:
        points = [(x + dx, y + dy) for x, y in (edge.view._pts or [])]
        if len(points) < 2:
            continue
        back = boxes[hop.source].xy[1] > boxes[hop.target].xy[1]
        parts.append(_edge(points, hop, top, back, (hop.source, hop.target) in attention_set))
    for hop in loops:
        box = boxes[hop.source]
        parts.append(
            _loop(box.xy[0] + dx + box.w / 2, box.xy[1] + dy, hop, top, (hop.source, hop.source) in attention_set)
        )
    for name, box in boxes.items():
        parts.append(_node(name, counts[name], box.xy[0] + dx, box.xy[1] + dy, box))
    parts.append("</svg>")
    return "\n".join(parts)


def _marker(name: str, colour: str) -> str:
    """An arrowhead of fixed size (markerUnits userSpaceOnUse: it does not grow with the stroke)."""
    return (
        f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="11" markerHeight="11" '
        f'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/>'
        "</marker>"
    )


def _stroke(count: int, top: int) -> float:
    return 1.0 + 5.0 * math.log1p(count) / math.log1p(max(top, 1))


def _edge(points: list[tuple[float, float]], hop: _Hop, top: int, back: bool, attention: bool) -> str:
    colour = ATTENTION if attention else MUTED
    dash = ' stroke-dasharray="6 4"' if attention or back else ""
    if back:  # bend a loop edge to the side so it does not hide the forward edge
        (x1, y1), (x2, y2) = points[0], points[-1]
        bend = 60 + abs(y1 - y2) / 4
        d = f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 + bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        lx, ly = max(x1, x2) + bend * 0.75, (y1 + y2) / 2
    else:
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points)
        mid = points[len(points) // 2 - 1 : len(points) // 2 + 1]
        lx, ly = (mid[0][0] + mid[-1][0]) / 2, (mid[0][1] + mid[-1][1]) / 2
    marker = "arrow-red" if attention else "arrow"
    return (
        f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="{_stroke(hop.count, top):.1f}"{dash} '
        f'marker-end="url(#{marker})"><title>{escape(_plain(hop.source))} → {escape(_plain(hop.target))}: '
        f"{escape(hop.label)}</title></path>"
        f'<text x="{lx + 6:.1f}" y="{ly:.1f}" fill="{colour}" font-size="11">{escape(hop.label)}</text>'
    )


def _loop(x: float, y: float, hop: _Hop, top: int, attention: bool) -> str:
    colour = ATTENTION if attention else MUTED
    d = f"M{x:.1f},{y - 8:.1f} C{x + 40:.1f},{y - 30:.1f} {x + 40:.1f},{y + 30:.1f} {x:.1f},{y + 8:.1f}"
    return (
        f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="{_stroke(hop.count, top):.1f}" '
        f'stroke-dasharray="6 4" marker-end="url(#{"arrow-red" if attention else "arrow"})"/>'
        f'<text x="{x + 44:.1f}" y="{y + 4:.1f}" fill="{colour}" font-size="11">{escape(hop.label)}</text>'
    )


def _node(name: str, count: int, x: float, y: float, box: _Box) -> str:
    if name == START:
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{MARKER / 2:.0f}" fill="{INK}"><title>start</title></circle>'
    if name == END:
        return (
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{MARKER / 2:.0f}" fill="white" stroke="{INK}" stroke-width="3"/>'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{MARKER / 4:.0f}" fill="{INK}"><title>end</title></circle>'
        )
    left, top = x - box.w / 2, y - box.h / 2
    return (
        f'<g><rect x="{left:.1f}" y="{top:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" rx="8" '
        f'fill="{FILL}" stroke="{INK}"/>'
        f'<text x="{x:.1f}" y="{y - 3:.1f}" text-anchor="middle" fill="{INK}" font-weight="600">{escape(name)}</text>'
        f'<text x="{x:.1f}" y="{y + 13:.1f}" text-anchor="middle" fill="{MUTED}">{count:,}</text></g>'
    )


def _plain(name: str) -> str:
    return {START: "start", END: "end"}.get(name, name)


__all__ = ["render_svg"]
