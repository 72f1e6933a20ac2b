"""`orchestrator replay --app NEW_MODULE` and `orchestrator replay export`: a deploy gate for workflow code.

Histories come from the application's changelog topic (restored into a scratch RocksDB per
partition with the same restore consumer a starting orchestrator uses), from a state dir, or
from an export file. Exit status: 0 every history replays, 1 some do not, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.errors import ConfigurationError
from orchestrator.project import load_project, resolved_value, settings_for
from orchestrator.serialization import FRAMINGS, AvroSerde, SchemaRepository, make_serde
from orchestrator.state import PartitionStore
from orchestrator.testing.histories import (
    RecordedHistory,
    histories_in_state_dir,
    histories_in_store,
    read_export,
    write_export,
)
from orchestrator.testing.replayer import Replayer, ReplayReport

EXIT_DIVERGED = 1


def add_replay_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    source = argparse.ArgumentParser(add_help=False)
    where = source.add_mutually_exclusive_group()
    where.add_argument("--file", type=Path, default=None, help="an export written by `orchestrator replay export`")
    where.add_argument("--state-dir", type=Path, default=None, help="an orchestrator's state dir (stopped)")
    where.add_argument("--changelog", default=None, help="changelog topic (default: <name>.changelog)")
    source.add_argument("--group", default=None, help="with --state-dir: only this consumer group's stores")
    source.add_argument("--name", dest="app_name", default=None, help="application name (topic prefix)")
    source.add_argument("--config", type=Path, default=None, help="TOML settings file")
    source.add_argument("--bootstrap-servers", default=None)
    source.add_argument("--schemas-dir", type=Path, default=None, help="the application's .avsc folder")

    replay = subparsers.add_parser(
        "replay",
        parents=[source],
        help="replay recorded workflow histories against new code (exit 1 on any divergence)",
        description="Replay every recorded history against the workflows of --app; exit 1 if any diverges.",
    )
    replay.add_argument(
        "--app", dest="module", default=None, help="module with the NEW workflow code (default: sagabridge.toml's)"
    )
    replay.add_argument("--workflow-type", action="append", default=None, help="only these types (repeatable)")
    replay.add_argument("--json", action="store_true", help="print the report as JSON")
    replay.set_defaults(handler=_replay)
    sub = replay.add_subparsers(dest="replay_command")
    export = sub.add_parser("export", parents=[source], help="write histories to a file (JSON Lines)")
    export.add_argument("--output", "-o", type=Path, required=True)
    export.set_defaults(handler=_export)


def _serde(args: argparse.Namespace) -> AvroSerde:
    """The serde the orchestrator wrote its state with: the same schemas and framing settings
    (flags, then SAGABRIDGE_*, then sagabridge.toml)."""
    project = load_project(args.config)
    framing = resolved_value("framing", None, project) or "single-object"
    if framing not in FRAMINGS:
        raise ConfigurationError("framing", f"unknown framing {framing!r}", f"use one of {', '.join(FRAMINGS)}")
    registry_url = resolved_value("schema_registry_url", None, project)
    schemas = resolved_value("schemas_dir", args.schemas_dir, project)
    return make_serde(framing, SchemaRepository(None if schemas is None else Path(schemas)), registry_url)


def load_histories(args: argparse.Namespace, serde: AvroSerde) -> tuple[list[RecordedHistory], str]:
    """The histories named on the command line, and where they came from."""
    if args.file is not None:
        return read_export(args.file), str(args.file)
    if args.state_dir is not None:
        if not args.state_dir.is_dir():
            raise ConfigurationError(
                "--state-dir", f"{args.state_dir} is not a directory", "pass an existing state dir"
            )
        return histories_in_state_dir(args.state_dir, serde, args.group), str(args.state_dir)
    return _changelog_histories(args, serde)


def _changelog_histories(args: argparse.Namespace, serde: AvroSerde) -> tuple[list[RecordedHistory], str]:
    from orchestrator.transport.admin import KafkaAdmin
    from orchestrator.transport.preflight import verify_connection
    from orchestrator.transport.restore import ChangelogRestorer

    settings = settings_for(load_project(args.config), app=args.app_name, bootstrap=args.bootstrap_servers)
    topic = args.changelog or settings.changelog_topic
    kafka = settings.client_properties()  # security settings first, then the pass-through
    verify_connection(settings.bootstrap_servers, kafka, settings.connect_timeout_s, component="replay")
    partitions = KafkaAdmin(settings.bootstrap_servers, kafka).partition_count(topic)
    if partitions is None:
        raise ConfigurationError(
            "--changelog", f"topic {topic!r} does not exist", "name the application (--name) or the topic (--changelog)"
        )
    histories: list[RecordedHistory] = []
    with (
        tempfile.TemporaryDirectory(prefix="sagabridge-replay-") as scratch,
        ChangelogRestorer(settings.bootstrap_servers, topic, kafka) as restorer,
    ):
        for partition in range(partitions):
            with PartitionStore.open(Path(scratch) / str(partition), partition) as store:
                restorer.restore(store, partition)
                histories.extend(histories_in_store(store.begin(), serde))
    return histories, f"{topic} ({partitions} partitions)"


def _replay(args: argparse.Namespace) -> int:
    from orchestrator.engine.cli import app_module, load_registry

    registry = load_registry(app_module(args.module, load_project(args.config)))
    serde = _serde(args)
    histories, source = load_histories(args, serde)
    if args.workflow_type:
        histories = [h for h in histories if h.workflow_type in set(args.workflow_type)]
    report = Replayer(registry).replay_all(histories)
    if args.json:
        print(json.dumps({"source": source, **report.to_json()}, indent=2, default=str))
    else:
        print_report(report, source)
    return 0 if report.ok else EXIT_DIVERGED


def print_report(report: ReplayReport, source: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"replay of {source}")
    for column in ("workflow type", "histories", "clean", "diverged", "failed"):
        table.add_column(column, justify="left" if column == "workflow type" else "right")
    for s in sorted(report.summaries.values(), key=lambda s: s.workflow_type):
        table.add_row(s.workflow_type, str(s.histories), str(s.clean), str(s.diverged), str(s.failed))
    console.print(table)
    if report.divergences:
        console.print("first divergence per workflow:")
    for d in report.divergences:
        console.print(f"  [bold]{d.workflow_id}[/bold] ({d.workflow_type}, {d.status}) {d.describe()}", soft_wrap=True)
    for f in report.failures:
        console.print(
            f"  [bold]{f.workflow_id}[/bold] ({f.workflow_type}, {f.status}) cannot replay: {f.error}", soft_wrap=True
        )
    if not report.histories:
        console.print("no histories found: nothing to check")
    verdict = "[green]all histories replay[/green]" if report.ok else "[red]the new code diverges[/red]"
    console.print(verdict)


def _export(args: argparse.Namespace) -> int:
    serde = _serde(args)
    histories, source = load_histories(args, serde)
    app = args.app_name or ""
    with args.output.open("w", encoding="utf-8") as out:
        count = write_export(out, histories, app=app, exported_at_ms=int(time.time() * 1000))
    print(f"exported {count} workflow histories from {source} to {args.output}", file=sys.stderr)
    return 0
