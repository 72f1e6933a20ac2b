"""Hypothesis strategies that generate valid values for any fastavro-parsed Avro schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from orchestrator.serialization.avro_model import INT_MAX, INT_MIN, LONG_MAX, LONG_MIN


def values(schema: Any, named: Mapping[str, Any] | None = None, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values fastavro writes and reads back equal (no NaN: NaN != NaN)."""
    named = schema.get("__named_schemas", {}) if named is None and isinstance(schema, dict) else (named or {})
    if isinstance(schema, list):
        return st.one_of([values(branch, named, depth) for branch in schema])
    if isinstance(schema, str):
        if schema in named:
            return values(named[schema], named, depth)
        return _primitive(schema)
    kind = schema["type"]
    if kind in ("record", "error"):
        return st.fixed_dictionaries({f["name"]: values(f["type"], named, depth + 1) for f in schema["fields"]})
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "fixed":
        return st.binary(min_size=schema["size"], max_size=schema["size"])
    if kind == "array":
        return st.lists(values(schema["items"], named, depth + 1), max_size=0 if depth > 3 else 4)
    if kind == "map":
        return st.dictionaries(
            st.text(max_size=4), values(schema["values"], named, depth + 1), max_size=0 if depth > 3 else 4
        )
    return _primitive(kind)


def _primitive(kind: str) -> st.SearchStrategy[Any]:
    return {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": st.integers(INT_MIN, INT_MAX),
        "long": st.integers(LONG_MIN, LONG_MAX),
        "float": st.floats(width=32, allow_nan=False),
        "double": st.floats(allow_nan=False),
        "bytes": st.binary(max_size=64),
        "string": st.text(max_size=64),
    }[kind]
