"""The `orchestrator` command: one entry point, subcommands contributed by each layer."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from orchestrator.admin.cli import add_topics_commands
from orchestrator.bridge.cli import add_connectors_commands
from orchestrator.devstack.cli import add_dev_commands
from orchestrator.devstack.jaeger_cli import add_jaeger_commands
from orchestrator.engine.cli import add_run_commands
from orchestrator.errors import SagaBridgeError
from orchestrator.scaffold.cli import add_init_command
from orchestrator.serialization.cli import add_schemas_commands
from orchestrator.shadow.cli import add_shadow_commands
from orchestrator.shadow.cutover_cli import add_cutover_commands
from orchestrator.testing.cli import add_replay_commands
from orchestrator.visibility.cli import add_visibility_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orchestrator", description="SagaBridge orchestrator")
    sub = parser.add_subparsers(dest="command", required=True)
    add_dev_commands(sub)
    add_jaeger_commands(sub)
    add_topics_commands(sub)
    add_schemas_commands(sub)
    add_run_commands(sub)
    add_replay_commands(sub)
    add_init_command(sub)
    add_connectors_commands(sub)
    add_visibility_commands(sub)
    add_shadow_commands(sub)
    add_cutover_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except SagaBridgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
