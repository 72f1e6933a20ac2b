"""`orchestrator jaeger build|up|down|status|url`: the local Jaeger v2 from the command line."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from orchestrator.devstack.jaeger import JaegerPorts, LocalJaeger
from orchestrator.devstack.jaeger_build import JAEGER_MODULE, JAEGER_MODULE_VERSION, JAEGER_VERSION, build_jaeger


def add_jaeger_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    jaeger = subparsers.add_parser("jaeger", help="local Jaeger v2 built from the Go module proxy (no Docker)")
    sub = jaeger.add_subparsers(dest="jaeger_command", required=True)
    for name, help_text in (
        ("build", f"build (cached) Jaeger {JAEGER_VERSION} with the installed Go"),
        ("up", "build (cached) and start on loopback with in-memory storage; idempotent"),
        ("down", "stop it"),
        ("status", "show whether it runs (exit 1 if not)"),
        ("url", "print the UI URL if a Jaeger answers on its port, ours or docker compose's (exit 1 if not)"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--name", default="dev", help="instance name (separate dirs and ports)")
        if name == "build":
            cmd.add_argument("--force", action="store_true", help="rebuild even if cached")
        if name == "up":
            defaults = JaegerPorts()
            for field, default in asdict(defaults).items():
                cmd.add_argument(
                    f"--{field.replace('_', '-')}-port", dest=field, type=int, default=None, help=f"default {default}"
                )
        cmd.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.jaeger_command == "build":
        result = build_jaeger(force=args.force)
        print(
            json.dumps(
                {
                    "binary": str(result.path),
                    "version": JAEGER_VERSION,
                    "module": f"{JAEGER_MODULE}@{JAEGER_MODULE_VERSION}",
                    "go": result.go_version,
                    "build_s": round(result.seconds, 1),
                    "cached": result.cached,
                    "size_mb": round(result.size_bytes / 1e6, 1),
                },
                indent=2,
            )
        )
        return 0
    if args.jaeger_command == "up":
        chosen = {k: getattr(args, k) for k in asdict(JaegerPorts()) if getattr(args, k) is not None}
        jaeger = LocalJaeger(args.name)
        if chosen:
            jaeger = LocalJaeger(args.name, JaegerPorts(**{**asdict(jaeger.ports), **chosen}))
        seconds = jaeger.up()
        print(
            json.dumps(
                {
                    "query_url": jaeger.query_url,
                    "otlp_endpoint": jaeger.otlp_endpoint,
                    "start_s": round(seconds, 1),
                    "log": str(jaeger.log_file),
                },
                indent=2,
            )
        )
        print(f"export OTEL_EXPORTER_OTLP_ENDPOINT={jaeger.otlp_endpoint}")
        print(f"# Jaeger UI: {jaeger.query_url}")
        return 0
    jaeger = LocalJaeger(args.name)
    if args.jaeger_command == "down":
        print("stopped" if jaeger.down() else "not running")
        return 0
    if args.jaeger_command == "url":  # any Jaeger answering on the port counts (docker compose's too)
        answering = jaeger.ready()
        if answering:
            print(jaeger.query_url)
        return 0 if answering else 1
    status = jaeger.status()
    print(json.dumps(asdict(status), indent=2))
    return 0 if status.running else 1
