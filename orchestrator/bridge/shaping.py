"""Shape a mapped dict into a record of an Avro schema: defaults, optionals, and what is missing.

JMESPath yields null for an absent field. Against the target schema that null means: the field's
default (if it has one), None (if the field is nullable), else a `MissingFieldError` naming the
target field *and* the source expression, which is the field path the DLQ record reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.bridge.errors import MissingFieldError
from orchestrator.bridge.expressions import Expression
from orchestrator.bridge.fieldmap import FieldMap, Literal
from orchestrator.serialization import SchemaRepository

_NO_DEFAULT = object()


def record_fields(schema: Any) -> list[dict[str, Any]] | None:
    """The fields of a record schema (or of the record branch of a nullable union), else None."""
    if isinstance(schema, dict) and schema.get("type") in ("record", "error"):
        return list(schema.get("fields", []))
    if isinstance(schema, list):
        records = [b for b in schema if isinstance(b, dict) and b.get("type") in ("record", "error")]
        if len(records) == 1:
            return list(records[0].get("fields", []))
    return None


def nullable(schema: Any) -> bool:
    """The schema accepts null (`"null"` or a union with it): a missing value becomes None."""
    return schema == "null" or (isinstance(schema, list) and "null" in schema)


class RecordShaper:
    """Builds Avro-ready dicts for named records of one schema repository."""

    def __init__(self, repo: SchemaRepository) -> None:
        self.repo = repo

    def shape(self, schema_name: str, mapping: FieldMap, mapped: Any, what: str) -> dict[str, Any]:
        """`mapped` (the mapping's evaluated value) as a record of `schema_name`.

        Fields the mapping does not set take their default or null; a required one left unset
        or null raises MissingFieldError naming the source expression (`what` prefixes the
        message: "input", "payload", a command). A whole-value mapping must yield an object.
        """
        schema = self.repo.entry(schema_name).definition
        if mapping.whole is not None:
            if not isinstance(mapped, Mapping):
                raise MissingFieldError(
                    f"{what}: {mapping.whole.source} is not an object", field_path=mapping.whole.source
                )
            return dict(mapped)
        return self._record(schema, mapping, mapped, what)

    def _record(self, schema: Any, mapping: FieldMap, mapped: Mapping[str, Any], what: str) -> dict[str, Any]:
        fields = record_fields(schema) or []
        out: dict[str, Any] = {}
        for spec in fields:
            name = spec["name"]
            entry = mapping.entry(name)
            value = mapped.get(name) if entry is not None else None
            if isinstance(entry, FieldMap) and value is not None and record_fields(spec["type"]) is not None:
                value = self._record(spec["type"], entry, value, f"{what}.{name}")
            if value is not None:
                out[name] = value
            elif "default" in spec:
                out[name] = spec["default"]
            elif nullable(spec["type"]):
                out[name] = None
            else:
                source = _source(entry)
                raise MissingFieldError(
                    f"{what}.{name} is required and "
                    + (f"{source} is missing (null)" if source else "the mapping does not set it"),
                    field_path=source or f"{what}.{name}",
                )
        return out


def _source(entry: Expression | Literal | FieldMap | None) -> str | None:
    if isinstance(entry, Expression):
        return entry.source
    return None


__all__ = ["RecordShaper", "nullable", "record_fields"]
