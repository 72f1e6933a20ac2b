"""A field mapping: target field -> expression (or constant, or nested mapping), evaluated to a dict.

    [trigger.input]                 # TOML
    order_id = "value.orderId"      # a string is a JMESPath expression
    currency = "'EUR'"              # ... so a constant string is a JMESPath literal
    quantity = 1                    # numbers and booleans are constants
    [trigger.input.address]         # a nested table builds a nested record
    city = "value.shipTo.city"

A mapping can also be one expression for the whole value (`input = "value"`). Evaluation is
plain: null stays null; what a null means (default, optional, missing field) is decided by
`shaping.py` against the target schema.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.bridge.expressions import Expression

Constant = str | int | float | bool


@dataclass(frozen=True)
class Literal:
    """A number or boolean written as such in the mapping file (a string is always an expression)."""

    value: int | float | bool


Entry = Expression | Literal


@dataclass(frozen=True)
class FieldMap:
    """Either `whole` (one expression for the entire value) or `fields` (name -> entry / nested map)."""

    fields: tuple[tuple[str, Entry | FieldMap], ...] = ()
    whole: Expression | None = None

    @staticmethod
    def build(raw: object, setting: str) -> FieldMap:
        """From the TOML/Python shape: a table of entries or one expression string.

        Every expression compiles here, so a bad one fails at load naming `setting` (its
        MappingConfigError); a value of the wrong kind raises ValueError for pydantic to report.
        """
        if isinstance(raw, FieldMap):
            return raw
        if isinstance(raw, str):
            return FieldMap(whole=Expression(raw, setting))
        if not isinstance(raw, Mapping):
            raise ValueError("a mapping is a table of target field = expression, or one expression string")
        fields: list[tuple[str, Entry | FieldMap]] = []
        for name, value in raw.items():
            where = f"{setting}.{name}"
            if isinstance(value, str):
                fields.append((str(name), Expression(value, where)))
            elif isinstance(value, bool | int | float):
                fields.append((str(name), Literal(value)))
            elif isinstance(value, Mapping):
                fields.append((str(name), FieldMap.build(value, where)))
            else:
                raise ValueError(f"{where}: use an expression string, a number, a boolean or a table")
        return FieldMap(fields=tuple(fields))

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The mapped value for `context`: a dict of the fields (nulls kept), or the whole expression's value."""
        if self.whole is not None:
            return self.whole.evaluate(context)
        out: dict[str, Any] = {}
        for name, entry in self.fields:
            if isinstance(entry, FieldMap):
                out[name] = entry.evaluate(context)
            elif isinstance(entry, Literal):
                out[name] = entry.value
            else:
                out[name] = entry.evaluate(context)
        return out

    def entry(self, name: str) -> Entry | FieldMap | None:
        """The entry of target field `name`, or None when the mapping does not set it."""
        for field_name, entry in self.fields:
            if field_name == name:
                return entry
        return None

    def expressions(self) -> Iterator[tuple[str, Expression]]:
        """(target path, expression) for every expression, nested ones included."""
        if self.whole is not None:
            yield "", self.whole
        for name, entry in self.fields:
            if isinstance(entry, FieldMap):
                for sub, expr in entry.expressions():
                    yield f"{name}.{sub}" if sub else name, expr
            elif isinstance(entry, Expression):
                yield name, entry

    def to_raw(self) -> Any:
        """Back to the TOML/JSON shape it was built from (for dumping a config)."""
        if self.whole is not None:
            return self.whole.source
        raw: dict[str, Any] = {}
        for name, entry in self.fields:
            if isinstance(entry, FieldMap):
                raw[name] = entry.to_raw()
            elif isinstance(entry, Literal):
                raw[name] = entry.value
            else:
                raw[name] = entry.source
        return raw


__all__ = ["FieldMap", "Literal"]
