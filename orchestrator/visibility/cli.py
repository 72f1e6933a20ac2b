"""`orchestrator visibility serve|sync|rebuild`, `orchestrator ui`, and `workflows list|show`.

Every command takes the orchestrator's settings (`--config`, `--name`, `--bootstrap-servers`,
SAGABRIDGE_*); with nothing configured it talks to the dev stack. `workflows list` reads the
visibility store after bringing it up to date with the topic (so it works with or without a
running `visibility serve`); `workflows show` reads one workflow's history from the topic itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from orchestrator.config import OrchestratorSettings
from orchestrator.project import load_project, settings_for
from orchestrator.visibility.api import parse_time
from orchestrator.visibility.api_models import StatusCountsView
from orchestrator.visibility.detail import DetailBuilder, summary
from orchestrator.visibility.errors import WorkflowNotFoundError
from orchestrator.visibility.queries import WorkflowFilter, WorkflowQueries, parse_attribute_filters
from orchestrator.workflow.status import WorkflowStatus


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    parser.add_argument("--name", dest="app_name", default=None, help="application name (topic prefix)")
    parser.add_argument("--bootstrap-servers", default=None)
    parser.add_argument("--store", default=None, help="visibility store URL (sqlite:///path or postgresql://...)")


def add_visibility_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    vis = subparsers.add_parser("visibility", help="the visibility store and its HTTP API")
    sub = vis.add_subparsers(dest="vis_command", required=True)
    serve = sub.add_parser("serve", help="follow the events topic into the store and serve the HTTP API")
    _serve_options(serve)
    for name, text in (
        ("sync", "bring the store up to date with the events topic, print the counts, exit"),
        ("rebuild", "drop the store and project the whole events topic again"),
    ):
        cmd = sub.add_parser(name, help=text)
        _common(cmd)
        cmd.add_argument("--timeout", type=float, default=600.0, help="seconds to catch up at most")
        cmd.set_defaults(handler=_sync if name == "sync" else _rebuild)
    ui = subparsers.add_parser("ui", help="alias of `visibility serve`: store, HTTP API and web UI")
    _serve_options(ui)


def _serve_options(cmd: argparse.ArgumentParser) -> None:
    _common(cmd)
    cmd.add_argument("--host", default=None, help="listen address (default 127.0.0.1)")
    cmd.add_argument("--port", type=int, default=None, help="listen port (default 8787)")
    cmd.add_argument("--no-ingest", action="store_true", help="serve only; another process feeds the store")
    cmd.add_argument(
        "--shadow-config",
        type=Path,
        action="append",
        default=[],
        help="a mapping file shadow mode observes: its flow report on the Reports tab (repeatable)",
    )
    cmd.add_argument("--shadow-module", default=None, help="workflows module the shadow reports compare against")
    cmd.set_defaults(handler=_serve)


def add_workflow_view_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`workflows list` and `workflows show` (added to the `workflows` parser of engine/cli.py)."""
    lst = sub.add_parser("list", help="workflows from the visibility store, newest first, filtered")
    lst.add_argument("--status", action="append", default=[], choices=[s.value for s in WorkflowStatus])
    lst.add_argument("--type", dest="types", action="append", default=[], help="workflow type (repeatable)")
    lst.add_argument("--id-prefix", default=None)
    lst.add_argument("--attr", action="append", default=[], help="search attribute name=value (repeatable)")
    lst.add_argument("--since", default=None, help="started at or after (ISO 8601 or epoch ms)")
    lst.add_argument("--until", default=None, help="started before (ISO 8601 or epoch ms)")
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--cursor", default=None, help="next page (printed under the table)")
    lst.add_argument("--store", default=None, help="visibility store URL (default: the app's SQLite file)")
    lst.add_argument("--no-sync", action="store_true", help="read the store as it is, without catching up")
    lst.add_argument("--timeout", type=float, default=120.0, help="seconds to catch up with the topic at most")
    lst.add_argument("--json", action="store_true", help="print the page as JSON")
    show = sub.add_parser("show", help="one workflow's history, steps and decoded payloads")
    show.add_argument("workflow_id")
    show.add_argument("--timeout", type=float, default=60.0, help="seconds to read its partition at most")
    show.add_argument("--json", action="store_true", help="print the detail as JSON (the API's shape)")


def settings_from(args: argparse.Namespace) -> OrchestratorSettings:
    """Flags, SAGABRIDGE_*, sagabridge.toml, then the dev stack (orchestrator.project), plus the
    visibility options of this command."""
    settings = settings_for(
        load_project(getattr(args, "config", None)),
        app=getattr(args, "app_name", None),
        bootstrap=getattr(args, "bootstrap_servers", None),
    )
    changes: dict[str, Any] = {}
    for option, key in (("store", "store_url"), ("host", "host"), ("port", "port")):
        if getattr(args, option, None) is not None:
            changes[key] = getattr(args, option)
    if getattr(args, "no_ingest", False):
        changes["ingest"] = False
    if changes:
        settings = settings.model_copy(update={"visibility": settings.visibility.model_copy(update=changes)})
    return settings


def _stderr() -> Console:
    return Console(stderr=True)


def _progress(console: Console, what: str) -> tuple[Progress, Callable[[int, int], None]]:
    bar = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task(what, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=max(total, 1))

    return bar, update


def catch_up(settings: OrchestratorSettings, timeout_s: float, console: Console, rebuild: bool = False) -> Any:
    """Open the store and bring it up to date with the topic (a progress bar on stderr)."""
    from orchestrator.visibility.server import make_ingester, open_store, settings_serde

    store = open_store(settings)
    if rebuild:
        store.drop()
        store.create()
    ingester = make_ingester(settings, store, settings_serde(settings))
    try:
        ingester.open()
        bar, update = _progress(console, f"reading {settings.events_topic}")
        with bar:
            result = ingester.catch_up(timeout_s, update)
    finally:
        ingester.close()
    if not result.caught_up:
        console.print(f"[yellow]not caught up with {settings.events_topic} after {timeout_s:.0f}s (--timeout)[/]")
    return store


def _sync(args: argparse.Namespace, rebuild: bool = False) -> int:
    settings = settings_from(args)
    console = Console()
    store = catch_up(settings, args.timeout, _stderr(), rebuild=rebuild)
    try:
        counts = WorkflowQueries(store).counts()
        from orchestrator.visibility.render import counts_line

        console.print(f"store {store.description}: ", counts_line(_counts_view(counts)))
    finally:
        store.close()
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    return _sync(args, rebuild=True)


def _counts_view(c: Any) -> StatusCountsView:
    return StatusCountsView(total=c.total, by_status=c.by_status, source=c.exact_source)


def _serve(args: argparse.Namespace) -> int:
    from orchestrator.visibility.server import VisibilityServer

    logging.basicConfig(
        level=os.environ.get("SAGABRIDGE_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = settings_from(args)
    server = VisibilityServer.build(settings)
    if args.shadow_config:
        from orchestrator.shadow.loading import load_domain
        from orchestrator.shadow.ui_report import shadow_report_source

        for config in args.shadow_config:
            domain = load_domain(config, settings)
            server.reports.add(shadow_report_source(settings, domain, workflows_module=args.shadow_module))
    v = settings.visibility
    print(f"SagaBridge visibility for {settings.app}: store {server.store.description}", flush=True)
    print(f"  API   http://{v.host}:{v.port}/api/v1  (OpenAPI: /api/v1/openapi.json)", flush=True)
    print(f"  UI    http://{v.host}:{v.port}/  (sign in with a read or an operate token)", flush=True)
    if server.tokens.generated:
        print("  no tokens configured (visibility.read_tokens / operate_tokens); for this run:", flush=True)
        for name, secret in {**server.tokens.read, **server.tokens.operate}.items():
            print(f"    {name}: {secret.get_secret_value()}", flush=True)
    server.serve()
    return 0


# --- workflows list / show ------------------------------------------------------------------------------


def _check_connection(settings: OrchestratorSettings, component: str) -> None:
    """One bounded round trip first: refused credentials or an untrusted certificate fail here, naming
    the setting and the fix, instead of surfacing as a metadata timeout of the events topic."""
    from orchestrator.transport.preflight import verify_connection

    verify_connection(
        settings.bootstrap_servers, settings.client_properties(), settings.connect_timeout_s, component=component
    )


def list_command(args: argparse.Namespace, settings: OrchestratorSettings) -> int:
    from orchestrator.visibility.render import counts_line, when, workflows_table
    from orchestrator.visibility.server import open_store

    if args.store:
        settings = settings.model_copy(
            update={"visibility": settings.visibility.model_copy(update={"store_url": args.store})}
        )
    console = Console()
    if not args.no_sync:
        _check_connection(settings, "workflows list")
    store = open_store(settings) if args.no_sync else catch_up(settings, args.timeout, _stderr())
    try:
        f = WorkflowFilter(
            statuses=tuple(WorkflowStatus(s) for s in args.status),
            types=tuple(args.types),
            id_prefix=args.id_prefix,
            started_after_ms=parse_time(args.since, "--since"),
            started_before_ms=parse_time(args.until, "--until"),
            attributes=parse_attribute_filters(args.attr),
        )
        queries = WorkflowQueries(store)
        page = queries.page(f, args.limit, args.cursor)
        rows = [summary(s, settings.visibility.jaeger_url) for s in page.workflows]
        if args.json:
            print(json.dumps({"workflows": [r.model_dump(mode="json") for r in rows], "next_cursor": page.next_cursor}))
            return 0
        if not sys.stdout.isatty():  # piped: tab-separated lines, so scripts can grep and cut
            for r in rows:
                print(f"{r.workflow_id}\t{r.status.value}\t{r.workflow_type}\t{when(r.started_at_ms)}")
            return 0
        console.print(workflows_table(rows))
        console.print(counts_line(_counts_view(queries.counts(f))))
        if page.next_cursor:
            console.print(f"next page: --cursor {page.next_cursor}")
    finally:
        store.close()
    return 0


def show_command(args: argparse.Namespace, settings: OrchestratorSettings) -> int:
    from orchestrator.visibility.reader import read_history
    from orchestrator.visibility.render import workflow_view
    from orchestrator.visibility.server import settings_serde

    serde = settings_serde(settings)
    _check_connection(settings, "workflows show")
    err = _stderr()
    bar, update = _progress(err, f"reading {settings.events_topic}")
    with bar:
        history = read_history(
            settings.bootstrap_servers,
            settings.events_topic,
            serde,
            args.workflow_id,
            extra_config=settings.client_properties(),
            timeout_s=args.timeout,
            progress=update,
        )
    if history.state is None:
        raise WorkflowNotFoundError(args.workflow_id, f"{settings.events_topic} (no event has its key)")
    if not history.complete:
        err.print(f"[yellow]partial: {settings.events_topic} not read to its end within {args.timeout:.0f}s[/]")
    detail = DetailBuilder(serde, settings.visibility.jaeger_url).build(history.state, history.entries)
    if args.json:
        print(detail.model_dump_json(indent=2))
    else:
        Console().print(workflow_view(detail))
    if history.undecodable:
        err.print(f"[yellow]{history.undecodable} record(s) of this workflow could not be decoded[/]")
    return 0
