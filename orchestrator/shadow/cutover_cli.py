"""`orchestrator cutover set|rollback|status`: move new cases of a workflow type to it, or back.

    orchestrator cutover set --config connectors/shop.toml --share 0.25     # a quarter of new orders
    orchestrator cutover set --config connectors/shop.toml --key order-A-17 # just this one
    orchestrator cutover rollback --config connectors/shop.toml             # every new case: choreography
    orchestrator cutover status --config connectors/shop.toml [--json]

A plan is one record on the compacted `<app>.routing` topic; the domain's connectors apply it
from the next start event they read and record that offset. Cases keep the route they started with.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from orchestrator.errors import ConfigurationError
from orchestrator.models.shadow import CutoverAction, CutoverPlan, SwitchRecord
from orchestrator.project import load_project, settings_for
from orchestrator.shadow.loading import Domain, load_domain
from orchestrator.shadow.names import routing_topic
from orchestrator.shadow.routing import plan_key, share_bp
from orchestrator.shadow.routing_table import RoutingTable, ensure_routing_topic
from orchestrator.transport.plain_producer import send_all
from orchestrator.transport.records import OutboundRecord


def add_cutover_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `cutover set|rollback|status` on the top-level parser."""
    cmd = subparsers.add_parser("cutover", help="route new cases of a workflow type to it (or back to choreography)")
    sub = cmd.add_subparsers(dest="cutover_command", required=True)
    set_ = sub.add_parser("set", help="a share of new cases (business-key hash) and/or listed case ids go live")
    _common(set_)
    set_.add_argument("--share", type=float, default=None, help="0..1 of new cases, by business-key hash")
    set_.add_argument("--key", action="append", default=[], help="a case id routed live (repeatable)")
    set_.add_argument("--reason", default="", help="why (recorded with the plan)")
    set_.set_defaults(handler=_set)
    rollback = sub.add_parser("rollback", help="every new case to choreography; live cases finish live")
    _common(rollback)
    rollback.add_argument("--reason", default="", help="why (recorded with the plan)")
    rollback.set_defaults(handler=_rollback)
    status = sub.add_parser("status", help="the plan history, where each version switched, cases per route")
    _common(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)


def _common(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--config", type=Path, required=True, help="mapping file with [shadow.cutover]")
    cmd.add_argument("--workflow-type", default=None, help="default: [shadow.cutover] workflow_type")
    cmd.add_argument("--settings", type=Path, default=None)
    cmd.add_argument("--name", dest="app_name", default=None, help="application name (whose routing topic)")
    cmd.add_argument("--bootstrap-servers", default=None)


def _domain(args: argparse.Namespace) -> tuple[Domain, Any]:
    settings = settings_for(load_project(args.settings), app=args.app_name, bootstrap=args.bootstrap_servers)
    return load_domain(args.config, settings), settings


def publish_plan(
    domain: Domain, settings: Any, action: CutoverAction, share: int, keys: list[str], reason: str, workflow: str
) -> CutoverPlan:
    """Write the next plan version for `workflow` (after reading the current one)."""
    ensure_routing_topic(settings, domain.names.app)
    with _table(domain, settings) as table:
        table.sync()
        history = table.plans(workflow)
    plan = CutoverPlan(
        workflow_type=workflow,
        version=history.next_version,
        action=action,
        share_bp=share,
        keys=sorted(set(keys)),
        created_at_ms=int(time.time() * 1000),
        created_by=_operator(),
        reason=reason,
    )
    record = OutboundRecord(
        routing_topic(domain.names.app),
        plan_key(workflow, int(plan.version)),
        domain.serde.encode(plan.avro_schema_name, plan.to_avro()),
    )
    send_all(settings.bootstrap_servers, [record], settings.client_properties())
    return plan


def _table(domain: Domain, settings: Any) -> RoutingTable:
    # The CLI's mirror is throwaway: a fresh directory, restored from the topic each time.
    return RoutingTable(settings, domain.names.app, domain.serde, Path(tempfile.mkdtemp(prefix="sagabridge-cutover-")))


def _operator() -> str:
    try:
        return os.environ.get("SAGABRIDGE_OPERATOR") or getpass.getuser()
    except OSError:
        return "unknown"


def _set(args: argparse.Namespace) -> int:
    if args.share is None and not args.key:
        raise ConfigurationError("--share/--key", "nothing to route", "pass --share 0.1 and/or --key CASE_ID")
    try:
        share = share_bp(args.share or 0.0)
    except ValueError as exc:
        raise ConfigurationError("--share", str(exc), "pass a share between 0 and 1, e.g. --share 0.25") from exc
    domain, settings = _domain(args)
    workflow = domain.workflow_type(args.workflow_type)
    plan = publish_plan(domain, settings, CutoverAction.SET, share, args.key, args.reason, workflow)
    print(f"{workflow}: plan v{plan.version}: {share / 100:.2f}% of new cases live, {len(plan.keys)} listed case(s)")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    domain, settings = _domain(args)
    workflow = domain.workflow_type(args.workflow_type)
    plan = publish_plan(domain, settings, CutoverAction.ROLLBACK, 0, [], args.reason, workflow)
    print(f"{workflow}: plan v{plan.version}: rolled back, every new case stays with choreography")
    return 0


def cutover_status(domain: Domain, settings: Any, workflow: str) -> dict[str, Any]:
    """The plan history, where each version switched per partition, and cases per route (what `cutover status
    --json` prints)."""
    with _table(domain, settings) as table:
        table.sync()
        history = table.plans(workflow)
        switches = table.switches(workflow)
        live = table.live_cases(workflow, live=True)
        choreography = table.live_cases(workflow, live=False)
    return {
        "workflow_type": workflow,
        "routing_topic": routing_topic(domain.names.app),
        "current": None if history.current is None else _plan_json(history.current),
        "plans": [{**_plan_json(p), "switched": _switched(switches, int(p.version))} for p in history.versions],
        "cases": {"live": live, "choreography": choreography},
    }


def _switched(switches: list[SwitchRecord], version: int) -> list[dict[str, Any]]:
    return [
        {"topic": s.topic, "partition": s.partition, "offset": s.offset, "at_ms": s.at_ms, "instance": s.instance}
        for s in switches
        if s.version == version
    ]


def _plan_json(plan: CutoverPlan) -> dict[str, Any]:
    return {
        "version": plan.version,
        "action": plan.action.value,
        "share": plan.share_bp / 10_000,
        "keys": list(plan.keys),
        "created_at_ms": plan.created_at_ms,
        "created_by": plan.created_by,
        "reason": plan.reason,
    }


def _status(args: argparse.Namespace) -> int:
    domain, settings = _domain(args)
    workflow = domain.workflow_type(args.workflow_type)
    status = cutover_status(domain, settings, workflow)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    console = Console()
    table = Table(title=f"cutover of {workflow} ({status['routing_topic']})")
    for column in ("version", "action", "share", "keys", "by", "reason", "switched at"):
        table.add_column(column)
    for plan in status["plans"]:
        where = ", ".join(f"{s['topic']}[{s['partition']}]@{s['offset']}" for s in plan["switched"]) or "(not yet)"
        table.add_row(
            str(plan["version"]), plan["action"], f"{100 * plan['share']:.2f}%", str(len(plan["keys"])),
            plan["created_by"], plan["reason"], where,
        )  # fmt: skip
    console.print(table)
    cases = status["cases"]
    console.print(f"cases started since the cutover: {cases['live']} live, {cases['choreography']} choreography")
    return 0


__all__ = ["add_cutover_commands", "cutover_status", "publish_plan"]
