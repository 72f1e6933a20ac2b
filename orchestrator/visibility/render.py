"""Terminal views of the visibility models with rich: the workflow list and one workflow's timeline."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from orchestrator.visibility.api_models import (
    PayloadView,
    StatusCountsView,
    TimelineEntryView,
    WorkflowDetail,
    WorkflowSummary,
)
from orchestrator.workflow.status import WorkflowStatus

STATUS_STYLE: dict[WorkflowStatus, str] = {
    WorkflowStatus.RUNNING: "cyan",
    WorkflowStatus.PARKED: "bold yellow",
    WorkflowStatus.NEEDS_ATTENTION: "bold red",
    WorkflowStatus.COMPLETED: "green",
    WorkflowStatus.FAILED: "red",
    WorkflowStatus.COMPENSATED: "magenta",
    WorkflowStatus.CANCELLED: "dim",
}
_PAYLOAD_CHARS = 160


def when(ms: int | None) -> str:
    """Epoch ms as a UTC time to the millisecond: timelines are read at that scale."""
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _status(status: WorkflowStatus) -> Text:
    return Text(status.value, style=STATUS_STYLE.get(status, ""))


def _step(w: WorkflowSummary) -> str:
    s = w.current_step
    if s is None:
        return ""
    text = f"#{s.seq} {s.service} {s.command_type.rsplit('.', 1)[-1]} (attempt {s.attempt}, {s.status.value})"
    return text + (f" +{w.open_steps - 1} more" if w.open_steps > 1 else "")


def _waits(w: WorkflowSummary) -> str:
    parts = []
    if w.retry_at_ms is not None:
        parts.append(f"retry {when(w.retry_at_ms)}")
    if w.awaited_signals:
        parts.append("signal " + ", ".join(w.awaited_signals))
    if w.timer_due_ms is not None:
        parts.append(f"timer {when(w.timer_due_ms)}")
    if w.cancel_requested and not w.status.finished:
        parts.append("cancel requested")
    return "; ".join(parts)


def workflows_table(workflows: list[WorkflowSummary], title: str | None = None) -> Table:
    """The `workflows list` table."""
    table = Table(title=title, show_lines=False, header_style="bold")
    for name in ("workflow", "type", "status", "current step", "waiting on", "started (UTC)", "note"):
        table.add_column(name, overflow="fold")
    for w in workflows:
        note = w.parked_reason or (f"{w.error.error_type}: {w.error.message}" if w.error else "")
        table.add_row(
            w.workflow_id, w.workflow_type, _status(w.status), _step(w), _waits(w), when(w.started_at_ms), note
        )
    return table


def counts_line(counts: StatusCountsView) -> Text:
    """Counts per status on one line, coloured like the statuses in the table."""
    text = Text(f"{counts.total} workflows: ")
    for i, (status, n) in enumerate(sorted(counts.by_status.items(), key=lambda kv: kv[0].value)):
        if i:
            text.append(", ")
        text.append(f"{status.value} {n}", style=STATUS_STYLE.get(status, ""))
    return text


def payload_text(p: PayloadView | None, limit: int = _PAYLOAD_CHARS) -> str:
    """A payload as compact JSON, cut at `limit` characters for a table cell."""
    if p is None:
        return ""
    if p.error is not None:
        return f"<{p.schema_name or 'record'}: {p.error}>"
    text = json.dumps(p.value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(e: TimelineEntryView) -> str:
    d: dict[str, Any] = e.detail
    err = d.get("error")
    error = f"{err.get('error_type')}: {err.get('message')}" if isinstance(err, dict) else ""
    kind = e.kind
    if kind in ("StepScheduled", "StepCompleted", "StepFailed", "StepRetrying"):
        text = f"{d.get('service')} {str(d.get('command_type', '')).rsplit('.', 1)[-1]}"
        if d.get("compensation"):
            text += " (compensation)"
        if kind == "StepRetrying":
            text += f"; retry at {when(d.get('retry_at_ms'))}"
        return f"{text}; {error}" if error else text
    if kind == "WorkflowParked":
        return f"{d.get('status', 'parked')}: {d.get('reason')}"
    if kind == "WorkflowResumed":
        return f"now {d.get('status')}"
    if kind == "WorkflowWaiting":
        signals = ", ".join(d.get("signals") or []) or "no signal"
        return f"awaits {signals}; timer {when(d.get('timer_due_ms')) or 'none'}"
    if kind == "SignalReceived":
        return f"{d.get('name')}" + (f" from {d['sent_by']}" if d.get("sent_by") else "")
    if kind == "OperatorActionApplied":
        seq = "" if d.get("seq") is None else f" step {d['seq']}"
        return f"{d.get('action')}{seq} by {d.get('operator')}" + (f": {d['reason']}" if d.get("reason") else "")
    if kind == "SearchAttributesSet":
        return json.dumps(d.get("attributes"), separators=(",", ":"))
    if kind in ("CancelRequested", "WorkflowCancelled", "Compensating"):
        return str(d.get("reason") or error)
    if kind == "ReplyIgnored":
        return f"{d.get('status')} reply to {d.get('command_id')} attempt {d.get('attempt')}: {d.get('why')}"
    if kind == "EventPublished":
        return str(d.get("schema"))
    if kind == "WorkflowContinuedAsNew":
        carried = d.get("carried_signals") or 0
        text = f"run {d.get('run')} starts; the previous run's {d.get('previous_run_events')} history events deleted"
        return text + (f"; {carried} buffered signal(s) carried over" if carried else "")
    return error


def current_run(detail: WorkflowDetail) -> int:
    """The run the workflow is in: 1, or the number the last WorkflowContinuedAsNew started."""
    runs = [int(e.detail.get("run") or 0) for e in detail.timeline if e.kind == "WorkflowContinuedAsNew"]
    return max(runs, default=1)


def timeline_table(detail: WorkflowDetail) -> Table:
    """Every timeline entry, with its time relative to the start."""
    start = detail.workflow.started_at_ms
    table = Table(header_style="bold", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("+ms", justify="right")
    table.add_column("event")
    table.add_column("step", justify="right")
    table.add_column("att", justify="right")
    table.add_column("detail", overflow="fold")
    table.add_column("payload", overflow="fold")
    for e in detail.timeline:
        table.add_row(
            str(e.position),
            str(e.at_ms - start),
            e.kind,
            "" if e.step_seq is None else str(e.step_seq),
            "" if e.attempt is None else str(e.attempt),
            _describe(e),
            payload_text(e.payload),
        )
    return table


def steps_table(detail: WorkflowDetail) -> Table:
    """One line per step: status, attempts, duration, last error."""
    table = Table(header_style="bold")
    for name in ("step", "service", "command", "status", "attempts", "duration ms", "error"):
        table.add_column(name, overflow="fold")
    for s in detail.steps:
        table.add_row(
            str(s.seq),
            s.service + (" (compensation)" if s.compensation else ""),
            s.command_type.rsplit(".", 1)[-1],
            s.status.value,
            str(len(s.attempts)),
            "" if s.duration_ms is None else str(s.duration_ms),
            "" if s.error is None else f"{s.error.error_type}: {s.error.message}",
        )
    return table


def workflow_view(detail: WorkflowDetail) -> Group:
    """What `workflows show` prints: the row, its steps, its timeline."""
    w = detail.workflow
    head = Text()
    head.append(f"{w.workflow_id}", style="bold")
    head.append(f"  {w.workflow_type}  ")
    head.append_text(_status(w.status))
    lines = [f"started {when(w.started_at_ms)}  updated {when(w.updated_at_ms)}"]
    run = current_run(detail)
    if run > 1:
        lines.append(f"run {run} (continued as new {run - 1} time(s))")
    if w.closed_at_ms is not None:
        lines.append(f"closed {when(w.closed_at_ms)} after {w.duration_ms} ms")
    for label, value in (
        ("parked", w.parked_reason),
        ("current step", _step(w)),
        ("waiting on", _waits(w)),
        ("error", f"{w.error.error_type}: {w.error.message}" if w.error else ""),
        ("trace", w.trace_url or w.trace_id),
        ("parent", w.parent_workflow_id),
        ("search attributes", json.dumps(w.search_attributes) if w.search_attributes else ""),
        ("input", payload_text(detail.input, 400)),
        ("result", payload_text(detail.result, 400)),
    ):
        if value:
            lines.append(f"{label}: {value}")
    parts: list[Any] = [Panel(Group(head, *[Text(line) for line in lines]), expand=False)]
    if detail.steps:
        parts.append(steps_table(detail))
    parts.append(timeline_table(detail))
    return Group(*parts)
