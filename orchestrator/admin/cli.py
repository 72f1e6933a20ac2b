"""`orchestrator topics apply [--dry-run]`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from orchestrator.admin.topic_specs import apply, load_topic_set
from orchestrator.errors import ConfigurationError


def add_topics_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    topics = subparsers.add_parser("topics", help="topics as code")
    sub = topics.add_subparsers(dest="topics_command", required=True)
    apply_cmd = sub.add_parser("apply", help="create missing topics; report drift, never alter")
    apply_cmd.add_argument("--file", type=Path, default=Path("topics/orders.toml"))
    apply_cmd.add_argument("--app", default=None, help="override the app name of the spec")
    apply_cmd.add_argument("--partitions", type=int, default=None, help="override inbox+changelog partitions")
    apply_cmd.add_argument("--bootstrap-servers", default=os.environ.get("SAGABRIDGE_BOOTSTRAP_SERVERS"))
    apply_cmd.add_argument("--dry-run", action="store_true")
    apply_cmd.set_defaults(handler=_apply)


def _apply(args: argparse.Namespace) -> int:
    from orchestrator.transport.admin import KafkaAdmin

    if not args.bootstrap_servers:
        raise ConfigurationError(
            "bootstrap servers", "not set", "pass --bootstrap-servers or export SAGABRIDGE_BOOTSTRAP_SERVERS"
        )
    topic_set = load_topic_set(args.file, args.app, args.partitions)
    report = apply(KafkaAdmin(args.bootstrap_servers), topic_set, dry_run=args.dry_run)
    for line in report.lines():
        print(line)
    return 3 if report.drift else 0
