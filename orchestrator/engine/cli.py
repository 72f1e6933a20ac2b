"""`orchestrator run --app <module>` and `orchestrator workflows ...`."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from pathlib import Path

from orchestrator.config import OrchestratorSettings
from orchestrator.errors import ConfigurationError, SagaBridgeError
from orchestrator.project import Project, load_project, settings_for
from orchestrator.serialization import AvroModel, SchemaRepository
from orchestrator.workflow import WorkflowRegistry


def add_run_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser("run", help="run the orchestrator for an application module")
    run.add_argument(
        "--app",
        dest="module",
        default=None,
        help="python module defining workflows (its `registry`, or the default registry); "
        "default: [project] workflows of sagabridge.toml",
    )
    run.add_argument("--config", type=Path, default=None, help="TOML settings file")
    run.add_argument("--name", dest="app_name", default=None, help="application name (topic prefix)")
    run.add_argument("--instance-id", default=None)
    run.add_argument("--state-dir", type=Path, default=None)
    run.add_argument("--bootstrap-servers", default=None)
    run.set_defaults(handler=_run)

    health = subparsers.add_parser("health", help="liveness probe: is the orchestrator loop still making passes?")
    health.add_argument("--liveness-file", type=Path, required=True, help="the orchestrator's liveness_file")
    health.add_argument("--max-age", type=float, default=30.0, help="stale after this many seconds (default 30)")
    health.set_defaults(handler=_health)

    wf = subparsers.add_parser("workflows", help="start, signal, cancel and operate workflows")
    wf.add_argument("--config", type=Path, default=None)
    wf.add_argument("--name", dest="app_name", default=None)
    wf.add_argument("--bootstrap-servers", default=None)
    sub = wf.add_subparsers(dest="wf_command", required=True)
    start = sub.add_parser("start", help="start a workflow with a JSON input")
    start.add_argument("workflow_type")
    start.add_argument("--input-schema", required=True, help="Avro full name of the input record")
    start.add_argument("--input", required=True, help="JSON object matching the input schema")
    start.add_argument("--id", default=None)
    for name in ("signal", "cancel", "retry", "skip", "compensate", "show"):
        cmd = sub.add_parser(name)
        cmd.add_argument("workflow_id")
        if name == "signal":
            cmd.add_argument("signal_name")
        if name in ("retry", "skip", "compensate", "cancel"):
            cmd.add_argument("--reason", default="")
        if name in ("retry", "skip", "compensate"):
            cmd.add_argument("--seq", type=int, default=None, help="step to act on (default: the parked one)")
        if name == "skip":
            cmd.add_argument("--result-schema", required=True, help="Avro name of the step's result")
            cmd.add_argument("--result", required=True, help="JSON result to record for the skipped step")
        if name == "show":
            cmd.add_argument("--timeout", type=float, default=5.0)
    lst = sub.add_parser("list", help="latest status of every workflow on the events topic")
    lst.add_argument("--timeout", type=float, default=5.0)
    for cmd in (lst, sub.choices["show"]):
        cmd.add_argument("--json", action="store_true", help="machine-readable output")
    wf.set_defaults(handler=_workflows)


def _settings(args: argparse.Namespace) -> OrchestratorSettings:
    """Flags, then SAGABRIDGE_*, then sagabridge.toml, then the dev stack (orchestrator.project)."""
    return settings_for(
        load_project(args.config),
        app=getattr(args, "app_name", None),
        bootstrap=getattr(args, "bootstrap_servers", None),
        instance_id=getattr(args, "instance_id", None),
        state_dir=getattr(args, "state_dir", None),
    )


def app_module(flag: str | None, project: Project) -> str:
    """The workflows module: --app, else sagabridge.toml's [project] workflows."""
    module = flag or project.project.workflows
    if not module:
        raise ConfigurationError(
            "--app",
            "no workflows module",
            'pass --app my_app.workflows or set [project] workflows = "..." in sagabridge.toml',
        )
    return module


def load_registry(module_name: str) -> WorkflowRegistry:
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            "--app", f"cannot import {module_name!r} ({exc})", "pass an importable module name"
        ) from exc
    registry = getattr(module, "registry", None)
    if isinstance(registry, WorkflowRegistry):
        return registry
    from orchestrator.workflow import default_registry

    return default_registry


def _run(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT; always ends the process itself (see the end of this function)."""
    from orchestrator import tracing
    from orchestrator.engine.runner import Orchestrator
    from orchestrator.engine.shutdown import ShutdownGuard

    logging.basicConfig(
        level=os.environ.get("SAGABRIDGE_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log = logging.getLogger(__name__)
    settings = _settings(args)
    registry = load_registry(app_module(args.module, load_project(args.config)))
    orchestrator = Orchestrator(settings, registry)
    # Before any thread starts (tracing's exporter, librdkafka's, the bridge's connectors): signals
    # must reach the sigwait thread.
    ShutdownGuard(orchestrator.stop, settings.shutdown_timeout_s).install()
    tracing.setup_tracing("sagabridge-orchestrator")  # off unless OTEL_* say so; OTEL_SERVICE_NAME overrides
    status = 0
    bridge = None
    try:
        if settings.connectors:  # the bridge's mapping files: native participants and inbound triggers
            from orchestrator.bridge.embedded import start_embedded

            bridge = start_embedded(settings, registry, orchestrator)
        orchestrator.run()
        if bridge is not None and bridge.errors:  # an embedded connector died: it stopped the process
            raise bridge.errors[0]
        log.info("stopped cleanly: %s", orchestrator.status())
    except SagaBridgeError as exc:
        log.critical("%s: %s", type(exc).__name__, exc)
        print(f"error: {exc}", file=sys.stderr)
        status = 2
    except Exception:
        log.critical("orchestrator loop failed", exc_info=True)
        status = 1
    finally:
        if bridge is not None:
            bridge.stop()
        tracing.shutdown_tracing()
    # End here rather than by returning: interpreter teardown would destroy the Kafka clients, and a
    # client whose call overran its deadline (still blocked inside librdkafka) must never be destroyed.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _health(args: argparse.Namespace) -> int:
    """Exit 0 when the liveness file was rewritten within --max-age seconds, 1 otherwise (a probe)."""
    from orchestrator.engine.liveness import liveness_age_s, read_status

    age = liveness_age_s(args.liveness_file)
    if age is None:
        print(f"unhealthy: {args.liveness_file} does not exist (not started, or liveness_file not set)")
        return 1
    status = read_status(args.liveness_file)
    shown = ("pid", "partitions", "commits", "producer_recoveries")
    summary = ", ".join(f"{k}={status[k]}" for k in shown if k in status)
    if age > args.max_age:
        print(f"unhealthy: loop silent for {age:.1f}s (> {args.max_age:.0f}s): {summary}")
        return 1
    print(f"healthy: last beat {age:.1f}s ago: {summary}")
    return 0


def _print_rows(rows: list[dict[str, str]], as_json: bool, title: str) -> None:
    """JSON with --json; a rich table on a terminal; tab-separated lines when piped (for grep/cut)."""
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not sys.stdout.isatty():
        for row in rows:
            print(f"{row['workflow_id']}\t{row['status']}\t{row['workflow_type']}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("workflow_id", "status", "workflow_type"):
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(row["workflow_id"], row["status"], row["workflow_type"])
    Console().print(table)


def _model(schema_name: str, option: str, repo: SchemaRepository) -> type[AvroModel]:
    """The generated model of a record, else a pass-through one for any record in the schemas."""
    from orchestrator.serialization import model_for, untyped_model

    model = model_for(schema_name)
    if model is not None:
        return model
    if schema_name not in repo:
        raise ConfigurationError(
            option, f"no schema named {schema_name!r}", "name a record of the schemas folders (SAGABRIDGE_SCHEMAS_DIR)"
        )
    return untyped_model(schema_name)


def _workflows(args: argparse.Namespace) -> int:
    from orchestrator.client import WorkflowClient
    from orchestrator.serialization import make_serde

    settings = _settings(args)
    project = load_project(args.config)
    if project.project.workflows:  # the app's typed models register on import (for --input-schema)
        load_registry(project.project.workflows)
    repo = SchemaRepository(settings.schemas_dir)
    serde = make_serde(settings.framing, repo, settings.schema_registry_url)
    client = WorkflowClient(settings.bootstrap_servers, settings.app, serde, settings.kafka)
    cmd = args.wf_command
    if cmd == "start":
        model = _model(args.input_schema, "--input-schema", repo)
        handle = client.start(args.workflow_type, model.from_avro(json.loads(args.input)), workflow_id=args.id)
        print(handle.id)
    elif cmd == "signal":
        client.signal(args.workflow_id, args.signal_name)
    elif cmd == "cancel":
        client.cancel(args.workflow_id, args.reason or "cancelled from the CLI")
    elif cmd in ("retry", "compensate"):
        client.operator_action(args.workflow_id, cmd, seq=args.seq, reason=args.reason)
    elif cmd == "skip":
        result_model = _model(args.result_schema, "--result-schema", repo)
        client.operator_action(
            args.workflow_id,
            cmd,
            seq=args.seq,
            reason=args.reason,
            result=result_model.from_avro(json.loads(args.result)),
        )
    elif cmd == "list":
        rows = [
            {"workflow_id": wf_id, "status": status, "workflow_type": event.get("workflow_type", "")}
            for wf_id, (status, event) in sorted(client.list_workflows(args.timeout).items())
        ]
        _print_rows(rows, args.json, f"workflows of {settings.app}")
    elif cmd == "show":
        from orchestrator.client import EventReader

        reader = EventReader(client, args.workflow_id, from_beginning=True)
        try:
            events = [{"event": d.schema_name.rsplit(".", 1)[-1], **d.value} for d in reader.read(args.timeout)]
        finally:
            reader.close()
        if args.json:
            print(json.dumps(events, default=str, indent=2))
        else:
            for event in events:
                name = event.pop("event")
                print(name, json.dumps(event, default=str))
    return 0
