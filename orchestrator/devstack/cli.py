"""`orchestrator dev up|down|status`: the local stack from the command line.

`--security sasl-ssl` starts a separate stack (default name `secure`, ports 19094/19095/18082)
whose broker takes SCRAM-SHA-512 over TLS only; `up` prints the SAGABRIDGE_SECURITY__* exports
its clients need. The plaintext `dev` stack is unaffected.
"""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import asdict

from orchestrator.devstack import artifacts
from orchestrator.devstack.secure_broker import StackSecurity
from orchestrator.devstack.stack import SECURE_PORTS, LocalStack, StackPorts

SECURE_STACK_NAME = "secure"


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
        cmd.add_argument(
            "--name", default=None, help="stack name (separate dirs and ports; default dev, or secure with sasl-ssl)"
        )
        cmd.add_argument(
            "--security",
            type=StackSecurity,
            choices=list(StackSecurity),
            default=None,
            help="client listener: plaintext (default) or sasl-ssl (SCRAM-SHA-512 over TLS, certificates made here)",
        )
        cmd.add_argument("--kafka-port", type=int, default=None)
        cmd.add_argument("--controller-port", type=int, default=None)
        cmd.add_argument("--registry-port", type=int, default=None)
        cmd.add_argument("--no-registry", action="store_true", help="start only Kafka")
        cmd.set_defaults(handler=_run)


def _stack(args: argparse.Namespace) -> LocalStack:
    secure = args.security is StackSecurity.SASL_SSL
    name = args.name or (SECURE_STACK_NAME if secure else "dev")
    ports = None
    if args.kafka_port or args.controller_port or args.registry_port:
        base = SECURE_PORTS if secure else StackPorts()
        ports = StackPorts(
            kafka=args.kafka_port or base.kafka,
            controller=args.controller_port or base.controller,
            registry=args.registry_port or base.registry,
        )
    return LocalStack(name, ports, security=args.security)


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
                {
                    "bootstrap_servers": stack.bootstrap_servers,
                    "registry_url": stack.registry_url,
                    "security": stack.security.value,
                    **asdict(times),
                },
                indent=2,
            )
        )
        for name, value in stack.exports():
            print(f"export {name}={shlex.quote(value)}")
        return 0
    if args.dev_command == "down":
        stack.down()
        print("stopped")
        return 0
    status = stack.status()
    print(json.dumps(asdict(status), indent=2))
    return 0 if status.kafka_running else 1
