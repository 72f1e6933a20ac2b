"""`orchestrator init NAME [--dir PATH]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.scaffold.generator import package_name, scaffold


def add_init_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = subparsers.add_parser("init", help="scaffold a new application (workflow, schemas, topics, worker, tests)")
    init.add_argument("name", help="application name: topic prefix, and (with '-' as '_') its Python package")
    init.add_argument("--dir", type=Path, default=None, help="where to create it (default: ./NAME)")
    init.set_defaults(handler=_init)


def _init(args: argparse.Namespace) -> int:
    target = args.dir if args.dir is not None else Path(args.name)
    files = scaffold(target, args.name)
    print(f"created {args.name} in {target} ({len(files)} files). Next:")
    print(f"  cd {target}")
    print("  pytest                        # the workflow's tests, no broker needed")
    print("  orchestrator topics apply     # its topics on the dev stack (orchestrator dev up)")
    print(f"  python -m {package_name(args.name)}              # orchestrator + worker: one signup, end to end")
    return 0
