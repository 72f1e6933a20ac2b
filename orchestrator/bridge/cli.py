"""`orchestrator connectors run|check`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from orchestrator.bridge.check import CheckReport, MappingChecker
from orchestrator.bridge.errors import MappingCheckError
from orchestrator.bridge.mapping import ConnectorConfig, load_connector_file
from orchestrator.errors import SagaBridgeError
from orchestrator.project import load_project, settings_for
from orchestrator.serialization import SchemaRepository

DEFAULT_DIR = Path("connectors")
EXIT_OK, EXIT_PROBLEMS = 0, 1


def add_connectors_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = subparsers.add_parser(
        "connectors", help="the bridge: map domain events to workflow starts, signals, outcomes"
    )
    sub = cmd.add_subparsers(dest="connectors_command", required=True)
    run = sub.add_parser("run", help="run one domain's connector (stateless, exactly-once into the inbox)")
    run.add_argument("--config", type=Path, required=True, help="mapping file, e.g. connectors/shop.toml")
    run.add_argument(
        "--settings",
        type=Path,
        default=None,
        help="settings file (default: sagabridge.toml found upwards; Kafka, security, app)",
    )
    run.add_argument("--name", dest="app_name", default=None, help="application name (whose inbox receives)")
    run.add_argument("--instance-id", default=None, help="stable per instance: names the transactional.id")
    run.add_argument("--bootstrap-servers", default=None)
    run.add_argument("--stats-file", type=Path, default=None, help="write the counters here as JSON")
    run.set_defaults(handler=_run)
    seek = sub.add_parser("seek", help="move a stopped connector's group to the end (or start) of its topics")
    seek.add_argument("--config", type=Path, required=True)
    seek.add_argument("--to", choices=["latest", "earliest"], required=True)
    seek.add_argument("--settings", type=Path, default=None)
    seek.add_argument("--name", dest="app_name", default=None)
    seek.add_argument("--bootstrap-servers", default=None)
    seek.set_defaults(handler=_seek)
    check = sub.add_parser("check", help="validate mappings against the schemas (exit 1 on any problem)")
    check.add_argument(
        "--config",
        type=Path,
        action="append",
        default=None,
        help="mapping file (repeatable; default connectors/*.toml)",
    )
    check.add_argument("--app", dest="module", default=None, help="also check workflow types against this module")
    check.add_argument("--schemas-dir", type=Path, action="append", default=None, help="extra schema folder")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=_check)


def check_config(
    config: ConnectorConfig, schemas_dirs: list[Path] | None = None, workflow_types: list[str] | None = None
) -> CheckReport:
    roots = [*(schemas_dirs or []), *config.schemas_dir]
    return MappingChecker(SchemaRepository(roots or None), workflow_types).check(config)


def _run(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT, as `orchestrator run` does: bounded shutdown, a watchdog over the
    loop's broker calls, and the process ends itself (a client whose call overran its deadline must
    never be destroyed by interpreter teardown)."""
    from orchestrator import metrics
    from orchestrator.bridge.runtime import ConnectorRuntime
    from orchestrator.engine.shutdown import ShutdownGuard
    from orchestrator.engine.watchdog import Watchdog

    logging.basicConfig(
        level=os.environ.get("SAGABRIDGE_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log = logging.getLogger(__name__)
    settings = settings_for(
        load_project(args.settings), app=args.app_name, bootstrap=args.bootstrap_servers, instance_id=args.instance_id
    )
    config = load_connector_file(args.config)
    report = check_config(config, [settings.schemas_dir] if settings.schemas_dir else None)
    for note in report.notes:
        log.warning("%s", note)
    if not report.ok:
        raise MappingCheckError(report.errors)
    watchdog = Watchdog(settings.stuck_call_grace_s)
    runtime = ConnectorRuntime(settings, config, stats_file=args.stats_file, watch=watchdog)
    # Before any Kafka client exists: librdkafka's threads must inherit the blocked signal mask.
    ShutdownGuard(runtime.stop, settings.shutdown_timeout_s).install()
    metrics.setup_metrics(  # the endpoint if metrics_port is set, OTLP if OTEL_* say so; else off
        "sagabridge-connector",
        prometheus_host=settings.metrics_host,
        prometheus_port=settings.metrics_port,
        resource_attributes={"service.instance.id": runtime.transactional_id},
    )
    watchdog.start()
    status = EXIT_OK
    try:
        runtime.run()
        print(json.dumps(runtime.stats_json()))
    except SagaBridgeError as exc:
        log.critical("%s: %s", type(exc).__name__, exc)
        print(f"error: {exc}", file=sys.stderr)
        status = 2
    except Exception:
        log.critical("connector %s failed", config.domain, exc_info=True)
        status = 1
    finally:
        watchdog.stop()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _seek(args: argparse.Namespace) -> int:
    from orchestrator.bridge.runtime import connector_group
    from orchestrator.transport.source import seek_group

    settings = settings_for(load_project(args.settings), app=args.app_name, bootstrap=args.bootstrap_servers)
    config = load_connector_file(args.config)
    group = connector_group(config.app or settings.app, config.domain)
    positions = seek_group(
        settings.bootstrap_servers,
        group,
        config.source_topics,
        args.to == "latest",
        settings.client_properties(),
        timeout_s=settings.kafka_call_timeout_s,
    )
    for (topic, partition), offset in sorted(positions.items()):
        print(f"{group}\t{topic}[{partition}]\t{offset}")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    files = args.config or sorted(DEFAULT_DIR.glob("*.toml"))
    if not files:
        print(f"error: no mapping files (looked for {DEFAULT_DIR}/*.toml). Fix: pass --config FILE", file=sys.stderr)
        return EXIT_PROBLEMS
    workflow_types: list[str] | None = None
    if args.module:
        from orchestrator.engine.cli import load_registry

        workflow_types = list(load_registry(args.module).names())
    results = {}
    for path in files:
        results[str(path)] = check_config(load_connector_file(path), args.schemas_dir, workflow_types)
    if args.json:
        print(
            json.dumps(
                {
                    p: {"ok": r.ok, "errors": r.errors, "notes": r.notes, "checked": r.checked}
                    for p, r in results.items()
                },
                indent=2,
            )
        )
    else:
        for path_name, r in results.items():
            print(f"{path_name}: {r.checked} mappings, {len(r.errors)} error(s), {len(r.notes)} note(s)")
            for error in r.errors:
                print(f"  error: {error}")
            for note in r.notes:
                print(f"  note:  {note}")
    return EXIT_OK if all(r.ok for r in results.values()) else EXIT_PROBLEMS


__all__ = ["add_connectors_commands", "check_config"]
