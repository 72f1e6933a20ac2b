"""The benchmark runner: one broker, every registered case, one JSON, one BENCHMARKS.md.

    python -m benchmarks run [--size tiny|small|full] [--only NAME ...]
    python -m benchmarks report benchmarks/results/<timestamp>.json

The broker is SAGABRIDGE_BENCH_BOOTSTRAP if set, else the dev stack (`LocalStack("dev")`,
started if it is not running and stopped again afterwards). A case that cannot run here (a peer
whose tool is missing) is recorded as "not available: <reason>"; one that fails is recorded as
"error" and makes the run exit non-zero, so `make test`'s tiny run notices a harness that rotted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import records
from benchmarks.cases import PLANNED_ORCHESTRATOR, all_cases
from benchmarks.errors import BenchmarkNotAvailableError
from benchmarks.machine import machine_info
from benchmarks.model import SIZES, BenchContext, Case, Measurement
from benchmarks.report import render
from orchestrator.config import OrchestratorSettings
from orchestrator.devstack import LocalStack

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results"
MARKDOWN = REPO / "BENCHMARKS.md"
ENGINE_COMMIT_INTERVAL_MS = int(OrchestratorSettings.model_fields["commit_interval_ms"].default)
RECORD_BYTES = len(records.encode(records.record(0)))

log = logging.getLogger("benchmarks")


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    source: str


@contextlib.contextmanager
def broker(bootstrap: str | None = None) -> Iterator[Broker]:
    """The broker to measure on; a dev stack we had to start is stopped again afterwards."""
    explicit = bootstrap or os.environ.get("SAGABRIDGE_BENCH_BOOTSTRAP")
    if explicit:
        yield Broker(explicit, "given")
        return
    stack = LocalStack("dev")
    was_running = stack.status().kafka_running
    if not was_running:
        log.info("starting the dev stack's broker for the benchmarks")
        stack.up(with_registry=False)
    try:
        yield Broker(stack.bootstrap_servers, "dev stack" if was_running else "dev stack, started for this run")
    finally:
        if not was_running:
            stack.down()


def select(cases: Sequence[Case], only: Sequence[str]) -> list[Case]:
    if not only:
        return list(cases)
    wanted = {o.lower() for o in only}
    chosen = [c for c in cases if c.name.lower() in wanted or c.group in wanted]
    unknown = wanted - {c.name.lower() for c in chosen} - {c.group for c in chosen}
    if unknown:
        names = ", ".join(c.name for c in cases)
        raise SystemExit(
            f"unknown case(s) {sorted(unknown)}; known: {names} "
            "(or a group: ceiling, orchestrator, bridge, visibility, shadow, peer)"
        )
    return chosen


def run_case(case: Case, ctx: BenchContext) -> list[Measurement]:
    """Run one case; a missing tool or a failure becomes a row, never an aborted run."""
    if case.group == "peer" and not ctx.size.run_peers:
        return [
            Measurement(
                case.name, case.name, None, "", status="skipped", note=f"peers do not run at size {ctx.size.name}"
            )
        ]
    log.info("case %s ...", case.name)
    started = time.monotonic()
    try:
        measurements = case.run(ctx)
    except BenchmarkNotAvailableError as exc:
        log.warning("case %s not available: %s", case.name, exc.reason)
        return [Measurement(case.name, case.name, None, "", status="not available", note=exc.reason)]
    except Exception as exc:  # one broken case must not cost the other figures; recorded as "error"
        log.error("case %s failed:\n%s", case.name, traceback.format_exc())
        return [Measurement(case.name, case.name, None, "", status="error", note=f"{type(exc).__name__}: {exc}"[:400])]
    for m in measurements:
        log.info("  %s: %s %s", m.name, f"{m.value:,.4g}" if m.value is not None else m.status, m.unit)
    log.info("case %s took %.1f s", case.name, time.monotonic() - started)
    return measurements


def run(
    size: str = "small",
    only: Sequence[str] = (),
    bootstrap: str | None = None,
    results_dir: Path = RESULTS_DIR,
    markdown: Path = MARKDOWN,
    peers: bool | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run the selected cases and write `<results_dir>/<timestamp>.json` and `markdown`.

    `peers` overrides the size's default (peers are off at tiny size)."""
    spec = SIZES[size] if peers is None else replace(SIZES[size], run_peers=peers)
    cases = select(all_cases(), only)
    started_at = datetime.now(UTC)
    run_id = started_at.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:4]
    wall = time.monotonic()
    measurements: list[Measurement] = []
    with broker(bootstrap) as b, tempfile.TemporaryDirectory(prefix="sagabridge-bench-") as work:
        ctx = BenchContext(b.bootstrap, spec, Path(work), run_id, ENGINE_COMMIT_INTERVAL_MS, log)
        machine = machine_info(b.bootstrap)
        try:
            for case in cases:
                measurements += run_case(case, ctx)
        finally:
            ctx.cleanup()
    measured = {m.name for m in measurements}
    result: dict[str, Any] = {
        "run_id": run_id,
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - wall, 1),
        "size": asdict(spec),
        "broker": asdict(b),
        "machine": machine,
        "settings": {
            "commit_interval_ms": ENGINE_COMMIT_INTERVAL_MS,
            "replication_factor": 1,
            "record": f"sagabridge.bench.BenchEvent, Avro ({RECORD_BYTES} B), {records.KEYS:,} keys",
            "producer": "acks=all, enable.idempotence, murmur2_random partitioner",
        },
        "cases": [{"name": c.name, "group": c.group, "description": c.description} for c in cases],
        "measurements": [m.to_json() for m in measurements],
        "pending": [[n, u] for n, u in PLANNED_ORCHESTRATOR if n not in measured],
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / f"{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    markdown.write_text(render(result, _display_path(json_path)))
    return json_path, result


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="SagaBridge benchmarks (issue 7)")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run the cases, write results JSON and BENCHMARKS.md")
    run_p.add_argument("--size", choices=sorted(SIZES), default="small")
    run_p.add_argument("--only", action="append", default=[], help="case name or group (repeatable)")
    run_p.add_argument("--bootstrap", help="broker to use (default: SAGABRIDGE_BENCH_BOOTSTRAP or the dev stack)")
    run_p.add_argument(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the peer cases regardless of size (default: not at tiny)",
    )
    run_p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    run_p.add_argument("--markdown", type=Path, default=MARKDOWN)
    rep_p = sub.add_parser("report", help="rewrite BENCHMARKS.md from a results JSON")
    rep_p.add_argument("json", type=Path)
    rep_p.add_argument("--markdown", type=Path, default=MARKDOWN)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    if args.command == "report":
        args.markdown.write_text(render(json.loads(args.json.read_text()), _display_path(args.json)))
        return 0
    json_path, result = run(args.size, args.only, args.bootstrap, args.results_dir, args.markdown, args.peers)
    errors = [m for m in result["measurements"] if m["status"] == "error"]
    print(f"results: {json_path}\nreport:  {args.markdown}")
    return 1 if errors else 0
