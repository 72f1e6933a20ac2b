"""`orchestrator topics apply [--dry-run]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.admin.topic_specs import apply, load_topic_set

DEFAULT_TOPICS_FILE = Path("topics/orders.toml")


def add_topics_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    topics = subparsers.add_parser("topics", help="topics as code")
    sub = topics.add_subparsers(dest="topics_command", required=True)
    apply_cmd = sub.add_parser("apply", help="create missing topics; report drift, never alter")
    apply_cmd.add_argument(
        "--file", type=Path, default=None, help="topics file (default: sagabridge.toml's, else topics/orders.toml)"
    )
    apply_cmd.add_argument("--app", default=None, help="override the app name of the spec")
    apply_cmd.add_argument("--partitions", type=int, default=None, help="override inbox+changelog partitions")
    apply_cmd.add_argument("--config", type=Path, default=None, help="sagabridge.toml (default: found in the cwd)")
    apply_cmd.add_argument(
        "--bootstrap-servers",
        default=None,
        help="default: env, sagabridge.toml, dev stack (security: SAGABRIDGE_SECURITY__*)",
    )
    apply_cmd.add_argument("--dry-run", action="store_true")
    apply_cmd.set_defaults(handler=_apply)


def _apply(args: argparse.Namespace) -> int:
    from orchestrator.project import connection_for, load_project
    from orchestrator.transport.admin import KafkaAdmin
    from orchestrator.transport.preflight import verify_connection

    project = load_project(args.config)
    topics_file = args.file or project.project.topics or DEFAULT_TOPICS_FILE
    topic_set = load_topic_set(topics_file, args.app, args.partitions)
    connection = connection_for(project, bootstrap=args.bootstrap_servers)
    properties = connection.client_properties()
    verify_connection(connection.bootstrap_servers, properties, connection.connect_timeout_s, component="topics apply")
    report = apply(KafkaAdmin(connection.bootstrap_servers, properties), topic_set, dry_run=args.dry_run)
    for line in report.lines():
        print(line)
    return 3 if report.drift else 0
