"""The figures of a chaos run: one JSON, one Markdown page and the same tables on the console (rich).

Rendering reads only the report model, so `python -m chaos audit <dir>` prints a kept run again.
Every table is built once as rows (`sections`) and rendered twice, for Markdown and for rich.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from chaos.audit import AuditResult
from chaos.recovery_times import FaultRecovery
from chaos.run_record import RunRecord
from chaos.sizes import ChaosSize


class ChaosReport(BaseModel):
    """What a run writes to `chaos/results/<timestamp>.json`."""

    run_id: str
    started_at: str
    command: str
    seed: int
    size: ChaosSize
    machine: dict[str, Any]
    app: str
    partitions: int
    instances: list[str]
    seconds: float
    drained_s: float | None
    error: str | None
    workload: dict[str, Any]
    bad_input: dict[str, int]
    audit: AuditResult
    faults: list[FaultRecovery]
    instance_totals: dict[str, dict[str, int]]
    unexpected_exits: dict[str, int] = Field(description="'<process> status <code>' -> how often")
    passed: bool

    @staticmethod
    def build(
        run: RunRecord, audit: AuditResult, faults: list[FaultRecovery], totals: dict[str, dict[str, int]]
    ) -> ChaosReport:
        load = run.load
        exits = Counter(f"{e.name} status {e.returncode}" for e in run.exits)
        return ChaosReport(
            run_id=run.run_id,
            started_at=run.started_at,
            command=run.command,
            seed=run.seed,
            size=run.size,
            machine=run.machine,
            app=run.app,
            partitions=run.partitions,
            instances=run.instances,
            seconds=run.seconds,
            drained_s=run.drained_s,
            error=run.error,
            workload={
                "workflow_type": load.workflow_type,
                "starts_sent": len(load.started_ids),
                "cancels_sent": len(load.cancel_requested),
                "load_s": round((load.ended_ms - load.started_ms) / 1000, 1) if load.ended_ms else None,
                "client_flush_timeouts": load.flush_errors,
            },
            bad_input=load.bad_input,
            audit=audit,
            faults=faults,
            instance_totals=totals,
            unexpected_exits=dict(exits),
            passed=audit.passed and run.error is None,
        )


@dataclass(frozen=True)
class Section:
    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]


def _s(value: float | None, unit: str = "s") -> str:
    return "" if value is None else f"{value:.1f} {unit}".strip()


def sections(r: ChaosReport) -> list[Section]:
    a = r.audit
    out = [
        Section(
            "Workflows",
            ("figure", "value"),
            [
                ("starts sent by the workload", str(r.workload["starts_sent"])),
                ("cancels sent (in flight)", str(r.workload["cancels_sent"])),
                ("started", str(a.started)),
                *[(status, str(n)) for status, n in sorted(a.outcomes.items())],
                ("lost (started, never finished)", str(len(a.lost_workflows))),
                ("sent, never on the inbox", str(len(a.not_on_inbox))),
                ("drained after the load stopped", _s(r.drained_s)),
            ],
        ),
        Section(
            "Integrity",
            ("check", "found"),
            [
                ("commands committed", str(a.commands)),
                ("duplicate (command id, attempt)", str(len(a.duplicate_commands))),
                ("attempt gaps", str(len(a.attempt_gaps))),
                ("commands vs StepScheduled mismatches", str(len(a.unscheduled_commands))),
                ("workflows started twice / ended twice", f"{len(a.duplicate_starts)} / {len(a.duplicate_ends)}"),
                ("lost inputs (no effect, not in the DLQ)", str(len(a.lost_inputs))),
                ("effects left uncompensated (abandoned)", str(len(a.abandoned))),
                ("sagas with an uncompensated step", str(len(a.uncompensated))),
                ("wrong outcomes", str(len(a.wrong_outcomes))),
                ("parked (stuck: waits for an operator)", str(len(a.parked))),
            ],
        ),
        Section(
            "Inbox records by kind",
            ("kind", "total", "applied or recorded", "DLQ", "lost"),
            [(k, str(f.total), str(f.events), str(f.dlq), str(f.lost)) for k, f in sorted(a.inputs.items())],
        ),
        Section("DLQ by reason", ("reason", "records"), [(k, str(v)) for k, v in sorted(a.dlq_by_reason.items())]),
        Section(
            "Replies recorded as ignored, and retries",
            ("what", "count"),
            [(f"ReplyIgnored why={k}", str(v)) for k, v in sorted(a.ignored_replies.items())]
            + [(f"StepRetrying {k}", str(v)) for k, v in sorted(a.step_retries.items())],
        ),
        Section(
            "Faults and recovery",
            (
                "#",
                "at",
                "fault",
                "target",
                "down",
                "pause (touched)",
                "pause (others)",
                "service back",
                "recoveries (log)",
                "restores",
                "liveness increase",
            ),
            [
                (
                    str(i + 1),
                    f"{f.at_s:.0f} s / {f.progress} steps",
                    f.kind.value,
                    f.target + (f" {f.partitions}" if f.partitions else ""),
                    _s(f.down_s),
                    _s(f.pause_s),
                    _s(f.kept_pause_s),
                    _s(f.service_back_s) + (f" ({f.attempt_timeouts} timeouts)" if f.attempt_timeouts else ""),
                    _recoveries(f),
                    f"{f.restores} ({f.restored_records} records, max {_s(f.longest_restore_s)})" if f.restores else "",
                    ", ".join(f"{k} +{v}" for k, v in sorted(f.liveness.items())),
                )
                for i, f in enumerate(r.faults)
            ],
        ),
        Section(
            "Instances (liveness counters, summed over their processes)",
            ("instance", "processes", "commits", "aborts", "producer recoveries", "consumer replacements", "retried"),
            [
                (
                    name,
                    *(
                        str(t.get(k, 0))
                        for k in ("processes", "commits", "aborts", "producer_recoveries", "consumer_replacements")
                    ),
                    str(t.get("retried_calls", 0)),
                )
                for name, t in sorted(r.instance_totals.items())
            ],
        ),
    ]
    if r.unexpected_exits:
        out.append(
            Section(
                "Processes that ended on their own (restarted by the supervisor)",
                ("process", "times"),
                [(k, str(v)) for k, v in sorted(r.unexpected_exits.items())],
            )
        )
    return out


def _recoveries(f: FaultRecovery) -> str:
    parts = []
    if f.producer_recoveries:
        parts.append(f"{len(f.producer_recoveries)} producer, max {max(f.producer_recoveries):.2f} s")
    if f.consumer_replacements:
        parts.append(f"{f.consumer_replacements} consumer")
    if f.fenced_departed_owners:
        parts.append(f"{f.fenced_departed_owners} departed owner fenced")
    return "; ".join(parts)


def _verdict(r: ChaosReport) -> list[str]:
    if r.error:
        return [f"**RUN ERROR**: {r.error}"]
    if r.passed:
        return ["**PASSED**: no loss, no duplicate, no stuck workflow, nothing left uncompensated."]
    return ["**FAILED**:", *[f"- {v}" for v in r.audit.violations]]


def markdown(r: ChaosReport, json_path: str) -> str:
    lines = [
        f"# Chaos run {r.run_id}",
        "",
        f"`{r.command}` on {r.started_at}, {r.seconds:.0f} s; raw results in `{json_path}`.",
        f"Size `{r.size.name}`, seed {r.seed}: {len(r.instances)} orchestrators over {r.partitions} partitions, "
        f"{r.size.rate_per_s:g} workflows/s of `{r.workload['workflow_type']}` for {r.workload['load_s']} s.",
        "",
        *_verdict(r),
        "",
    ]
    for sec in sections(r):
        lines += [f"## {sec.title}", "", "| " + " | ".join(sec.headers) + " |", "|" + "---|" * len(sec.headers)]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in sec.rows]
        lines.append("")
    lines += ["## Bad input sent", "", "| kind | records |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(r.bad_input.items())]
    lines += ["", "## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in r.machine.items()]
    lines.append("")
    return "\n".join(lines)


def print_report(r: ChaosReport, console: Console) -> None:
    for sec in sections(r):
        table = Table(title=sec.title, title_justify="left")
        for h in sec.headers:
            table.add_column(h)
        for row in sec.rows:
            table.add_row(*row)
        console.print(table)
    for line in _verdict(r):
        style = "bold green" if r.passed else "bold red"
        console.print(line.replace("**", ""), style=style)


def write(r: ChaosReport, results_dir: Path, repo: Path) -> tuple[Path, Path]:
    """`<results_dir>/<run id>.json` and `.md` (the id starts with the UTC start time)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / f"{r.run_id}.json"
    json_path.write_text(json.dumps(r.model_dump(mode="json"), indent=2) + "\n")
    try:
        shown = str(json_path.resolve().relative_to(repo))
    except ValueError:
        shown = str(json_path)
    md_path = json_path.with_suffix(".md")
    md_path.write_text(markdown(r, shown))
    return json_path, md_path
