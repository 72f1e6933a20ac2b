"""Local schema repository: every `.avsc` under one or more directories, parsed once.

Why our own loader instead of `fastavro.schema.load_schema`: a single-object fingerprint and a
registry registration both need each schema as a *standalone* document (referenced named types
inlined at first use), and we also keep older versions of a record (`Name.v1.avsc`) so a reader can
resolve records written before an upgrade. Everything is computed at construction; lookups are dict
reads, so the repository is safe to share between threads.

Layout: one top-level named type per file, `<namespace as dirs>/<Name>.avsc` is the current
version; `<Name>.v<N>.avsc` next to it is an older (or newer) version kept only for decoding.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from orchestrator.errors import SchemaLoadError, SchemaNotFoundError

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})
SCHEMAS_DIR_ENV = "SAGABRIDGE_SCHEMAS_DIR"
# schemas/ at the top of the checkout; an installed wheel carries the same files in the package
# (orchestrator/_schemas, a symlink to ../schemas in the checkout).
BUILTIN_SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "_schemas"
_VERSION_FILE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<version>\d+)\.avsc$")


@dataclass(frozen=True)
class SchemaEntry:
    """One schema version: standalone JSON, fastavro-parsed form and CRC-64-AVRO fingerprint."""

    full_name: str
    definition: dict[str, Any] = field(repr=False)  # standalone, full names, references inlined
    parsed: dict[str, Any] = field(repr=False)
    canonical: str = field(repr=False)
    fingerprint: bytes  # 8 bytes, little-endian as the single-object encoding writes it
    source: Path
    version: int | None = None  # None: the current version (from `<Name>.avsc`)


def qualify(name: str, namespace: str | None) -> str:
    """Full name of `name` in `namespace` (a dotted name is already full)."""
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _normalize(schema: Any, namespace: str | None, defs: dict[str, Any], source: Path) -> Any:
    """Rewrite every name to its full name (dropping `namespace`) and collect named definitions."""
    if isinstance(schema, str):
        return schema if schema in PRIMITIVES else qualify(schema, namespace)
    if isinstance(schema, list):
        return [_normalize(branch, namespace, defs, source) for branch in schema]
    if not isinstance(schema, dict) or "type" not in schema:
        raise SchemaLoadError(f"{source}: not an Avro schema: {json.dumps(schema)[:200]}")
    kind = schema["type"]
    if kind in NAMED:
        if not isinstance(schema.get("name"), str):
            raise SchemaLoadError(f"{source}: a {kind} without a name")
        full = qualify(schema["name"], schema.get("namespace") or namespace)
        inner_ns = full.rpartition(".")[0] or None
        out = {k: v for k, v in schema.items() if k != "namespace"}
        out["name"] = full
        if "aliases" in schema:
            out["aliases"] = [qualify(a, inner_ns) for a in schema["aliases"]]
        if kind in ("record", "error"):
            out["fields"] = [
                {**f, "type": _normalize(f["type"], inner_ns, defs, source)} for f in schema.get("fields", [])
            ]
        if full in defs and defs[full] != out:
            raise SchemaLoadError(f"{source}: named type {full!r} is defined twice, differently")
        defs[full] = out
        return out
    if kind == "array":
        return {**schema, "items": _normalize(schema["items"], namespace, defs, source)}
    if kind == "map":
        return {**schema, "values": _normalize(schema["values"], namespace, defs, source)}
    if isinstance(kind, (dict, list)) or (isinstance(kind, str) and kind not in PRIMITIVES):
        return _normalize(kind, namespace, defs, source)  # {"type": <schema or named ref>}
    return schema  # primitive, possibly with a logicalType


def _inline(schema: Any, defs: dict[str, Any], seen: set[str], source: Path) -> Any:
    """Standalone form: a referenced named type is defined inline at its first use only."""
    if isinstance(schema, str):
        if schema in PRIMITIVES or schema in seen:
            return schema
        if schema not in defs:
            raise SchemaLoadError(f"{source}: references unknown type {schema!r}")
        return _inline(defs[schema], defs, seen, source)
    if isinstance(schema, list):
        return [_inline(branch, defs, seen, source) for branch in schema]
    kind = schema["type"]
    if kind in NAMED:
        seen.add(schema["name"])
        if kind in ("record", "error"):
            return {
                **schema,
                "fields": [{**f, "type": _inline(f["type"], defs, seen, source)} for f in schema["fields"]],
            }
        return schema
    if kind == "array":
        return {**schema, "items": _inline(schema["items"], defs, seen, source)}
    if kind == "map":
        return {**schema, "values": _inline(schema["values"], defs, seen, source)}
    return schema


def make_entry(definition: dict[str, Any], source: Path, version: int | None = None) -> SchemaEntry:
    """Parse a standalone definition and fingerprint its Parsing Canonical Form."""
    try:
        parsed = cast(dict[str, Any], fastavro.parse_schema(definition, named_schemas={}))
    except Exception as exc:  # fastavro raises several types for invalid schemas
        raise SchemaLoadError(f"{source}: invalid Avro schema: {exc}") from exc
    canonical = to_parsing_canonical_form(parsed)
    return SchemaEntry(
        full_name=definition["name"],
        definition=definition,
        parsed=parsed,
        canonical=canonical,
        fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
        source=source,
        version=version,
    )


def _roots(root: Path | Sequence[Path] | None, include_builtin: bool) -> list[Path]:
    if root is None:
        env = os.environ.get(SCHEMAS_DIR_ENV)
        roots = [Path(p) for p in env.split(os.pathsep) if p] if env else []
    elif isinstance(root, (str, Path)):
        roots = [Path(root)]
    else:
        roots = [Path(p) for p in root]
    if include_builtin or not roots:
        roots.append(BUILTIN_SCHEMAS_DIR)
    unique: list[Path] = []
    for path in roots:
        if path.resolve() not in [u.resolve() for u in unique]:
            unique.append(path)
    return unique


class SchemaRepository:
    """All schemas under the given directories (default: env SAGABRIDGE_SCHEMAS_DIR, else the
    repo's `schemas/`). The built-in `schemas/` is always added unless `include_builtin=False`,
    so user schema folders need not copy the engine's `sagabridge.*` records."""

    def __init__(self, root: Path | Sequence[Path] | None = None, *, include_builtin: bool = True) -> None:
        self.roots = _roots(root, include_builtin)
        self._current: dict[str, SchemaEntry] = {}
        self._top_level: list[str] = []
        self._versions: dict[str, list[SchemaEntry]] = {}
        self._by_fingerprint: dict[bytes, SchemaEntry] = {}
        self._load()

    # -- public API ---------------------------------------------------------------------------

    def schema(self, full_name: str) -> dict[str, Any]:
        """The current version, parsed by fastavro (cached: parsed once at load)."""
        return self.entry(full_name).parsed

    def names(self) -> list[str]:
        """Full names of the file-level schemas, sorted."""
        return list(self._top_level)

    def named_types(self) -> list[str]:
        """Every current named type, including enums/records defined inline in another file."""
        return sorted(self._current)

    def entry(self, full_name: str) -> SchemaEntry:
        try:
            return self._current[full_name]
        except KeyError:
            raise SchemaNotFoundError(full_name, len(self._current)) from None

    def __contains__(self, full_name: object) -> bool:
        return full_name in self._current

    def by_fingerprint(self, fp: bytes) -> SchemaEntry | None:
        """Any known version (current or `.vN`) with this CRC-64-AVRO fingerprint."""
        return self._by_fingerprint.get(fp)

    def versions(self, full_name: str) -> list[SchemaEntry]:
        """Every known version of a name: numbered ones ascending, then the current one."""
        self.entry(full_name)
        return list(self._versions.get(full_name, ()))

    def definition(self, full_name: str) -> dict[str, Any]:
        """Standalone JSON of the current version (what gets registered in a registry)."""
        return self.entry(full_name).definition

    # -- loading ------------------------------------------------------------------------------

    def _files(self) -> Iterable[tuple[Path, int | None]]:
        for root in self.roots:
            if not root.is_dir():
                raise SchemaLoadError(
                    f"schema directory {root} does not exist. Fix: create it or point "
                    f"{SCHEMAS_DIR_ENV} at the folder holding your .avsc files."
                )
            for path in sorted(root.rglob("*.avsc")):
                match = _VERSION_FILE.match(path.name)
                yield path, int(match["version"]) if match else None

    @staticmethod
    def _read(path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SchemaLoadError(f"{path}: cannot read schema: {exc}") from exc

    def _load(self) -> None:
        current_defs: dict[str, Any] = {}
        sources: dict[str, Path] = {}
        top: dict[str, tuple[Any, Path]] = {}
        older: list[tuple[Any, Path, int]] = []
        for path, version in self._files():
            raw = self._read(path)
            if not isinstance(raw, dict) or raw.get("type") not in NAMED:
                raise SchemaLoadError(f"{path}: a schema file must define one record, enum or fixed")
            if version is not None:
                older.append((raw, path, version))
                continue
            normalized = _normalize(raw, None, current_defs, path)
            for name in current_defs:
                sources.setdefault(name, path)
            full = normalized["name"]
            if full in top and top[full][0] != normalized:
                raise SchemaLoadError(f"{path}: {full!r} is also defined, differently, in {top[full][1]}")
            top[full] = (normalized, path)
        self._top_level = sorted(top)
        for full, definition in current_defs.items():
            source = sources[full]
            self._add(make_entry(_inline(definition, current_defs, set(), source), source))
        for raw, path, version in sorted(older, key=lambda item: (str(item[1]), item[2])):
            local_defs: dict[str, Any] = {}
            normalized = _normalize(raw, None, local_defs, path)
            merged = {**current_defs, **local_defs}
            entry = make_entry(_inline(normalized, merged, set(), path), path, version)
            self._add(entry, current=False)
        for entries in self._versions.values():
            entries.sort(key=lambda e: (e.version is None, e.version or 0))

    def _add(self, entry: SchemaEntry, current: bool = True) -> None:
        if current:
            self._current[entry.full_name] = entry
        self._versions.setdefault(entry.full_name, []).append(entry)
        clash = self._by_fingerprint.get(entry.fingerprint)
        if clash is None or clash.canonical == entry.canonical:
            self._by_fingerprint.setdefault(entry.fingerprint, entry)
        else:
            raise SchemaLoadError(f"fingerprint collision between {clash.source} and {entry.source}")
