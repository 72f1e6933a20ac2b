"""`orchestrator schemas register|check|codegen|list`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from orchestrator.errors import SchemaCompatibilityError, SchemaRegistryUnavailableError, SerializationError
from orchestrator.serialization.codegen import BUILTIN_MAPPING, PackageMapping, generate, write
from orchestrator.serialization.compat import CompatibilityLevel
from orchestrator.serialization.confluent import registry_client
from orchestrator.serialization.registry import RegistryTool, format_reports
from orchestrator.serialization.repository import BUILTIN_SCHEMAS_DIR, SchemaRepository

REGISTRY_URL_ENV = "SAGABRIDGE_SCHEMA_REGISTRY_URL"
COMPATIBILITY_ENV = "SAGABRIDGE_SCHEMA_COMPATIBILITY"
EXIT_OK, EXIT_INCOMPATIBLE, EXIT_ERROR = 0, 1, 2
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def add_schemas_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schemas = subparsers.add_parser("schemas", help="Avro schemas: registry check/register, model codegen")
    sub = schemas.add_subparsers(dest="schemas_command", required=True)
    for name, help_text in (
        ("check", "check local schemas against the registry (exit 1 if incompatible)"),
        ("register", "check, then register every local record schema (all or nothing)"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        _common(cmd)
        cmd.add_argument(
            "--registry-url",
            default=os.environ.get(REGISTRY_URL_ENV),
            help=f"Confluent-compatible registry URL (env {REGISTRY_URL_ENV})",
        )
        cmd.add_argument(
            "--compatibility",
            type=CompatibilityLevel,
            choices=list(CompatibilityLevel),
            default=CompatibilityLevel(os.environ.get(COMPATIBILITY_ENV, "BACKWARD")),
            help=f"compatibility level to enforce (default BACKWARD, env {COMPATIBILITY_ENV})",
        )
        cmd.add_argument(
            "--namespace", action="append", default=[], help="only subjects in this namespace (repeatable)"
        )
        cmd.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "register":
            cmd.add_argument(
                "--no-set-compatibility",
                action="store_true",
                help="do not set the level on each subject in the registry",
            )
        cmd.set_defaults(handler=_registry_command)
    codegen = sub.add_parser("codegen", help="generate pydantic models from the schemas")
    _common(codegen)
    codegen.add_argument("--out", type=Path, default=DEFAULT_MODELS_DIR, help="output package directory")
    codegen.add_argument("--package", default=BUILTIN_MAPPING.package, help="Python package of --out")
    codegen.add_argument(
        "--namespace-prefix",
        default=BUILTIN_MAPPING.namespace_prefix,
        help="Avro namespace to generate; stripped from module paths",
    )
    codegen.add_argument("--check", action="store_true", help="only report stale files (exit 1)")
    codegen.set_defaults(handler=_codegen)
    listing = sub.add_parser("list", help="list schemas with their single-object fingerprints")
    _common(listing)
    listing.set_defaults(handler=_list)


def _common(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--schemas-dir",
        type=Path,
        action="append",
        default=None,
        help="schema folder (repeatable; default env SAGABRIDGE_SCHEMAS_DIR; built-ins always added)",
    )


def _repo(args: argparse.Namespace) -> SchemaRepository:
    return SchemaRepository(args.schemas_dir)


def _registry_command(args: argparse.Namespace) -> int:
    if not args.registry_url:
        print(f"error: no registry URL. Fix: pass --registry-url or set {REGISTRY_URL_ENV}", file=sys.stderr)
        return EXIT_ERROR
    try:
        tool = RegistryTool(_repo(args), registry_client(args.registry_url), args.compatibility)
        if args.schemas_command == "register":
            reports = tool.register(args.namespace, set_level=not args.no_set_compatibility)
        else:
            reports = tool.check(args.namespace)
    except (SchemaRegistryUnavailableError, SchemaCompatibilityError, SerializationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INCOMPATIBLE if isinstance(exc, SchemaCompatibilityError) else EXIT_ERROR
    if args.json:
        print(json.dumps([r.as_json() for r in reports], indent=2))
    else:
        print(format_reports(reports, args.compatibility, args.registry_url))
    return EXIT_INCOMPATIBLE if any(r.status == "incompatible" for r in reports) else EXIT_OK


def _codegen(args: argparse.Namespace) -> int:
    try:
        mapping = PackageMapping(args.namespace_prefix, args.package)
        mappings = [mapping] if mapping == BUILTIN_MAPPING else [mapping, BUILTIN_MAPPING]
        # Generate what the named folders define (default: the built-in schemas), whatever else
        # SAGABRIDGE_SCHEMAS_DIR adds to the repository for references.
        sources = args.schemas_dir or [BUILTIN_SCHEMAS_DIR]
        repo = SchemaRepository([*sources, *_repo(args).roots])
        changed = write(generate(repo, mappings, sources), args.out, check=args.check)
    except SerializationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    verb = "stale" if args.check else "written"
    for path in changed:
        print(f"{verb}: {path}")
    if args.check and changed:
        print("models are out of date: run `orchestrator schemas codegen`", file=sys.stderr)
        return EXIT_INCOMPATIBLE
    print(f"{len(changed)} file(s) {verb}, models in {args.out}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    repo = _repo(args)
    for name in repo.names():
        for entry in repo.versions(name):
            label = "current" if entry.version is None else f"v{entry.version}"
            print(f"{entry.fingerprint.hex()}  {label:<8} {name}  ({entry.source})")
    return EXIT_OK
