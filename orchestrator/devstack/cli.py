"""`orchestrator dev up|down|status`: the local stack from the command line."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from orchestrator.devstack import artifacts
from orchestrator.devstack.stack import LocalStack, StackPorts


def add_dev_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = subparsers.add_parser("dev", help="local Kafka + schema registry (no Docker)")
    dev_sub = dev.add_subparsers(dest="dev_command", required=True)
    for name, help_text in (
        ("fetch", "download (cached) the broker and registry artifacts only"),
        ("up", "download (cached) and start the stack; idempotent"),
        ("down", "stop the stack"),
        ("status", "show whether the stack runs"),
    ):
        cmd = dev_sub.add_parser(name, help=help_text)
        cmd.add_argument("--name", default="dev", help="stack name (separate dirs and ports)")
        cmd.add_argument("--kafka-port", type=int, default=None)
        cmd.add_argument("--controller-port", type=int, default=None)
        cmd.add_argument("--registry-port", type=int, default=None)
        cmd.add_argument("--no-registry", action="store_true", help="start only Kafka")
        cmd.set_defaults(handler=_run)


def _stack(args: argparse.Namespace) -> LocalStack:
    ports = None
    if args.kafka_port or args.controller_port or args.registry_port:
        base = StackPorts()
        ports = StackPorts(
            kafka=args.kafka_port or base.kafka,
            controller=args.controller_port or base.controller,
            registry=args.registry_port or base.registry,
        )
    return LocalStack(args.name, ports)


def _run(args: argparse.Namespace) -> int:
    stack = _stack(args)
    if args.dev_command == "fetch":
        kafka = artifacts.fetch_kafka()
        registry = artifacts.fetch_apicurio()
        print(
            json.dumps(
                {
                    "kafka": str(kafka.path),
                    "kafka_download_s": round(kafka.seconds, 1),
                    "registry": str(registry.path),
                    "registry_download_s": round(registry.seconds, 1),
                }
            )
        )
        return 0
    if args.dev_command == "up":
        times = stack.up(with_registry=not args.no_registry)
        print(
            json.dumps(
                {"bootstrap_servers": stack.bootstrap_servers, "registry_url": stack.registry_url, **asdict(times)},
                indent=2,
            )
        )
        print(f"export SAGABRIDGE_BOOTSTRAP_SERVERS={stack.bootstrap_servers}")
        print(f"export SAGABRIDGE_SCHEMA_REGISTRY_URL={stack.registry_url}")
        return 0
    if args.dev_command == "down":
        stack.down()
        print("stopped")
        return 0
    status = stack.status()
    print(json.dumps(asdict(status), indent=2))
    return 0 if status.kafka_running else 1
