"""`orchestrator shadow run|report|case`: observe a choreography, draw its flow, compare a workflow."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from orchestrator.bridge.mapping import Duration
from orchestrator.config import OrchestratorSettings
from orchestrator.errors import ConfigurationError
from orchestrator.project import load_project, settings_for
from orchestrator.shadow.verdicts import Verdict
from orchestrator.transport.group_start import StartKind, StartPosition

EXIT_OK, EXIT_BELOW = 0, 1


def add_shadow_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = subparsers.add_parser("shadow", help="shadow mode: observe a choreography, discover its flow, compare")
    sub = cmd.add_subparsers(dest="shadow_command", required=True)
    run = sub.add_parser("run", help="observe a domain's topics read-only (its own group), cases kept durably")
    _common(run)
    run.add_argument(
        "--from",
        dest="start",
        default="earliest",
        help="where a new shadow group starts: earliest, now, or a time (2026-01-31T09:00:00Z, or epoch ms)",
    )
    run.add_argument("--instance-id", default=None, help="stable per instance: names the transactional.id")
    run.add_argument("--stats-file", type=Path, default=None, help="write the counters here as JSON")
    run.set_defaults(handler=_run)
    report = sub.add_parser("report", help="the flow (graph, variants, stalls) and, with --app, compare")
    _common(report)
    report.add_argument("--out", type=Path, default=Path("shadow-report.html"), help="HTML report")
    report.add_argument("--json", dest="json_out", type=Path, default=None, help="also write the JSON report")
    report.add_argument("--cases-json", action="store_true", help="the JSON report lists every case's verdict")
    report.add_argument("--xes", type=Path, default=None, help="also export the cases as XES (IEEE 1849)")
    report.add_argument("--mermaid", type=Path, default=None, help="also write the graph as Mermaid text")
    report.add_argument("--svg", type=Path, default=None, help="also write the graph as SVG")
    report.add_argument("--app", dest="module", default=None, help="compare with this module's workflow")
    report.add_argument("--workflow-type", default=None, help="which workflow (default: the one the file starts)")
    report.add_argument("--jobs", type=int, default=None, help="compare worker processes (default: CPUs, max 8)")
    report.add_argument("--stall-after", default=None, help="idle this long is stalled (default [shadow] stall_after)")
    report.add_argument("--now", default=None, help="judge as of this time (default: the latest event seen)")
    report.add_argument("--fail-under", type=float, default=None, help="exit 1 if fitness is below this (0..1)")
    report.set_defaults(handler=_report)
    case = sub.add_parser("case", help="one case's events (and, with --app, its verdict)")
    _common(case)
    case.add_argument("case_id")
    case.add_argument("--app", dest="module", default=None)
    case.add_argument("--workflow-type", default=None)
    case.set_defaults(handler=_case)


def _common(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--config", type=Path, required=True, help="mapping file, e.g. connectors/shop.toml")
    cmd.add_argument("--settings", type=Path, default=None, help="settings file (default: sagabridge.toml upwards)")
    cmd.add_argument("--name", dest="app_name", default=None, help="application name (prefixes shadow's topics)")
    cmd.add_argument("--bootstrap-servers", default=None)


def parse_start(text: str) -> StartPosition:
    """earliest | now (latest) | ISO-8601 time | epoch milliseconds."""
    value = text.strip()
    if value in ("earliest", "beginning"):
        return StartPosition(StartKind.EARLIEST)
    if value in ("now", "latest"):
        return StartPosition(StartKind.LATEST)
    if value.isdigit():
        return StartPosition(StartKind.TIMESTAMP, int(value))
    return StartPosition(StartKind.TIMESTAMP, parse_time_ms(value, "--from"))


def parse_time_ms(value: str, setting: str) -> int:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigurationError(setting, f"{value!r} is not a time", "write 2026-01-31T09:00:00Z or epoch ms") from exc
    if moment.tzinfo is None:
        raise ConfigurationError(setting, f"{value!r} has no time zone", "add Z or +01:00")
    return int(moment.timestamp() * 1000)


def _parse_duration(value: str, setting: str) -> timedelta:
    try:
        return TypeAdapter(Duration).validate_python(value)
    except ValidationError as exc:
        raise ConfigurationError(setting, f"{value!r} is not a duration", "write 500ms, 30s, 10m, 2h or 7d") from exc


def _settings(args: argparse.Namespace) -> OrchestratorSettings:
    return settings_for(
        load_project(args.settings),
        app=args.app_name,
        bootstrap=args.bootstrap_servers,
        instance_id=getattr(args, "instance_id", None),
    )


def _logging() -> None:
    logging.basicConfig(
        level=os.environ.get("SAGABRIDGE_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _run(args: argparse.Namespace) -> int:
    """`shadow run`: SIGTERM/SIGINT commit and leave the group within `shutdown_timeout_s`, even
    when the loop is blocked inside librdkafka (the engine's ShutdownGuard, design.md §6)."""
    from orchestrator.engine.shutdown import ShutdownGuard
    from orchestrator.shadow.loading import load_domain
    from orchestrator.shadow.runtime import ShadowRuntime, ensure_shadow_topics
    from orchestrator.transport.group_start import start_group_at

    _logging()
    settings = _settings(args)
    domain = load_domain(args.config, settings)
    start = parse_start(args.start)
    runtime = ShadowRuntime(settings, domain.config, domain.shadow, stats_file=args.stats_file)
    # Before any Kafka client exists: librdkafka's threads must inherit the blocked signal mask.
    ShutdownGuard(runtime.stop, settings.shutdown_timeout_s).install()
    ensure_shadow_topics(settings, domain.names, domain.shadow.partitions)
    chosen = start_group_at(
        settings.bootstrap_servers, domain.names.group, runtime.source_topics, start, settings.client_properties()
    )
    if chosen:
        logging.getLogger(__name__).info("new shadow group %s starts at %s", domain.names.group, chosen)
    runtime.run()
    print(json.dumps(runtime.stats_json()))
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from orchestrator.shadow.building import build_report
    from orchestrator.shadow.loading import load_domain

    _logging()
    settings = _settings(args)
    domain = load_domain(args.config, settings)
    stall_after = _parse_duration(args.stall_after, "--stall-after") if args.stall_after else domain.shadow.stall_after
    now_ms = parse_time_ms(args.now, "--now") if args.now else None
    started = time.monotonic()
    report = build_report(
        settings,
        domain,
        workflows_module=args.module,
        workflow_type=args.workflow_type,
        jobs=args.jobs,
        stall_after=stall_after,
        now_ms=now_ms,
        xes=args.xes,
    )
    args.out.write_text(report.html(), encoding="utf-8")
    if args.json_out:
        args.json_out.write_text(report.json_text(cases=args.cases_json), encoding="utf-8")
    if args.mermaid:
        args.mermaid.write_text(report.mermaid, encoding="utf-8")
    if args.svg:
        args.svg.write_text(report.svg, encoding="utf-8")
    d, c = report.discovery, report.comparison
    print(f"{d.cases:,} cases, {d.events:,} events, {len(d.variants)} variants, {len(d.stalled)} stalled")
    if c is not None:
        print(f"fitness {c.fitness:.4f}: {c.count(Verdict.CONFORMS):,} of {c.judged:,} judged cases conform")
        for kind in c.kinds.values():
            print(f"  {kind.kind.label}: {kind.cases:,} cases, e.g. {', '.join(kind.examples[:3])}")
    print(f"report: {args.out} ({time.monotonic() - started:.1f} s)")
    if args.fail_under is not None and c is not None and c.fitness < args.fail_under:
        print(f"fitness {c.fitness:.4f} is below --fail-under {args.fail_under}", file=sys.stderr)
        return EXIT_BELOW
    return EXIT_OK


def _case(args: argparse.Namespace) -> int:
    from orchestrator.shadow.building import explain_case
    from orchestrator.shadow.loading import load_domain

    settings = _settings(args)
    domain = load_domain(args.config, settings)
    print(json.dumps(explain_case(settings, domain, args.case_id, args.module, args.workflow_type), indent=2))
    return EXIT_OK


__all__ = ["add_shadow_commands", "parse_start", "parse_time_ms"]
