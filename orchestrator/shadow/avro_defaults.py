"""A neutral value of an Avro schema: what the sandbox answers for a step choreography never did.

The workflow only needs *a* result to carry on (so one missing step is reported once, not as a
cascade of every later step); zeros, empty strings and nulls say "nothing real here".
"""

from __future__ import annotations

from typing import Any


def neutral_value(schema: Any, named: dict[str, Any] | None = None) -> Any:
    """`named`: the parsed schema's named types (fastavro's `__named_schemas`), for references."""
    named = named or {}
    if isinstance(schema, list):  # a union: null when allowed, else its first branch
        return None if "null" in schema else neutral_value(schema[0], named)
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        return neutral_value(named[schema], named) if schema in named else None
    kind = schema.get("type")
    if schema.get("logicalType") == "decimal":
        return b"\x00" if kind == "bytes" else b"\x00" * int(schema.get("size", 1))
    if kind == "record":
        return neutral_record(schema, named)
    if kind == "enum":
        return schema["symbols"][0]
    if kind == "array":
        return []
    if kind == "map":
        return {}
    if kind == "fixed":
        return b"\x00" * int(schema["size"])
    return neutral_value(kind, named)


def neutral_record(schema: dict[str, Any], named: dict[str, Any] | None = None) -> dict[str, Any]:
    """A record of `schema` with every field at its default or a neutral value (0, '', false, empty)."""
    named = {**schema.get("__named_schemas", {}), **(named or {})}
    return {
        f["name"]: f["default"] if "default" in f else neutral_value(f["type"], named) for f in schema.get("fields", [])
    }


_PRIMITIVES: dict[str, Any] = {
    "null": None,
    "boolean": False,
    "int": 0,
    "long": 0,
    "float": 0.0,
    "double": 0.0,
    "bytes": b"",
    "string": "",
}

__all__ = ["neutral_record", "neutral_value"]
