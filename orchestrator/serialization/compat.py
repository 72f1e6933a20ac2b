"""Avro schema-resolution compatibility, checked locally so failures come with readable reasons.

Registries differ in what they enforce (Apicurio checks nothing until a rule is configured), so
`schemas check` and the decoders decide compatibility here, following the resolution rules of
the Avro specification, and only use the registry's verdict as a second opinion.

All functions take fastavro-parsed schemas (full names; a named type used twice is a name
string after its first definition, resolved through `__named_schemas`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orchestrator.serialization.repository import PRIMITIVES

# writer type -> reader types that can read it (Avro spec, "Schema Resolution")
_PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


class CompatibilityLevel(StrEnum):
    """The Confluent compatibility levels; `*_TRANSITIVE` checks every registered version."""

    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def new_reads_old(self) -> bool:
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def old_reads_new(self) -> bool:
        return self.value.startswith(("FORWARD", "FULL"))


@dataclass(frozen=True)
class Incompatibility:
    """One reason a reader cannot read a writer's data; `path` locates it (record.field...)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _named(schema: Any) -> Mapping[str, Any]:
    return schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    kind = schema["type"]
    return "record" if kind == "error" else str(kind)


def _describe(schema: Any) -> str:
    kind = _kind(schema)
    if kind in ("record", "enum", "fixed"):
        return f"{kind} {schema['name']}"
    if kind == "union":
        return "union [" + ", ".join(_describe(b) for b in schema) + "]"
    return kind


def _short(name: str) -> str:
    return name.rpartition(".")[2]


class _Checker:
    def __init__(self, reader_named: Mapping[str, Any], writer_named: Mapping[str, Any]) -> None:
        self.reader_named = reader_named
        self.writer_named = writer_named
        self.visiting: set[tuple[str, str]] = set()

    def resolve(self, schema: Any, named: Mapping[str, Any]) -> Any:
        if isinstance(schema, str) and schema not in PRIMITIVES:
            return named.get(schema, schema)
        if isinstance(schema, dict) and _kind(schema) in PRIMITIVES:
            return schema["type"]  # drop logicalType: resolution is on the underlying type
        return schema

    def readable(self, reader: Any, writer: Any) -> bool:
        probe: list[Incompatibility] = []
        self.check(reader, writer, "", probe)
        return not probe

    def check(self, reader: Any, writer: Any, path: str, out: list[Incompatibility]) -> None:
        reader = self.resolve(reader, self.reader_named)
        writer = self.resolve(writer, self.writer_named)
        rk, wk = _kind(reader), _kind(writer)
        if wk == "union":
            for branch in writer:
                if rk == "union":
                    if not any(self.readable(rb, branch) for rb in reader):
                        out.append(
                            Incompatibility(
                                path,
                                f"writer union branch {_describe(branch)} has no "
                                f"matching branch in reader {_describe(reader)}",
                            )
                        )
                else:
                    self.check(reader, branch, path, out)
            return
        if rk == "union":
            if not any(self.readable(rb, writer) for rb in reader):
                out.append(
                    Incompatibility(
                        path, f"reader {_describe(reader)} has no branch for writer type {_describe(writer)}"
                    )
                )
            return
        if rk != wk:
            if rk not in _PROMOTIONS.get(wk, frozenset()):
                out.append(
                    Incompatibility(
                        path, f"type changed from {_describe(writer)} to {_describe(reader)} (not a promotion)"
                    )
                )
            return
        if rk in ("record", "enum", "fixed") and not self._same_name(reader, writer):
            out.append(
                Incompatibility(
                    path,
                    f"{rk} name changed from {writer['name']} to {reader['name']} "
                    f"(add an alias to accept the old name)",
                )
            )
            return
        if rk == "record":
            self._record(reader, writer, path, out)
        elif rk == "enum":
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing and "default" not in reader:
                out.append(
                    Incompatibility(
                        path or reader["name"], f"enum symbols {missing} removed and the reader has no default"
                    )
                )
        elif rk == "fixed" and reader["size"] != writer["size"]:
            out.append(Incompatibility(path, f"fixed size changed from {writer['size']} to {reader['size']}"))
        elif rk == "array":
            self.check(reader["items"], writer["items"], f"{path}[]", out)
        elif rk == "map":
            self.check(reader["values"], writer["values"], f"{path}{{}}", out)

    @staticmethod
    def _same_name(reader: Any, writer: Any) -> bool:
        names = {reader["name"], *reader.get("aliases", ())}
        return writer["name"] in names or _short(writer["name"]) in {_short(n) for n in names}

    def _record(self, reader: Any, writer: Any, path: str, out: list[Incompatibility]) -> None:
        key = (reader["name"], writer["name"])
        if key in self.visiting:  # recursive type: already being checked higher up
            return
        self.visiting.add(key)
        base = path or reader["name"]
        written = {f["name"]: f for f in writer["fields"]}
        for field in reader["fields"]:
            candidates = [field["name"], *field.get("aliases", ())]
            match = next((written[n] for n in candidates if n in written), None)
            if match is not None:
                self.check(field["type"], match["type"], f"{base}.{field['name']}", out)
            elif "default" not in field:
                out.append(
                    Incompatibility(
                        f"{base}.{field['name']}", "field is missing in the writer schema and has no default"
                    )
                )
        self.visiting.discard(key)


def reader_incompatibilities(reader: Any, writer: Any) -> list[Incompatibility]:
    """Why data written with `writer` cannot be read with `reader` (empty: it can)."""
    out: list[Incompatibility] = []
    _Checker(_named(reader), _named(writer)).check(reader, writer, "", out)
    return out


def check_level(level: CompatibilityLevel, new: Any, registered: Sequence[tuple[str, Any]]) -> list[Incompatibility]:
    """Incompatibilities of `new` against `registered` ((label, parsed schema), oldest first)."""
    if level is CompatibilityLevel.NONE or not registered:
        return []
    against = list(registered) if level.transitive else [registered[-1]]
    problems: list[Incompatibility] = []
    for label, old in against:
        if level.new_reads_old:
            problems += [
                Incompatibility(p.path, f"new schema cannot read {label}: {p.message}")
                for p in reader_incompatibilities(new, old)
            ]
        if level.old_reads_new:
            problems += [
                Incompatibility(p.path, f"{label} cannot read the new schema: {p.message}")
                for p in reader_incompatibilities(old, new)
            ]
    return problems
