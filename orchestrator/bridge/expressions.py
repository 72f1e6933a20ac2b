"""JMESPath expressions and `order-{value.orderId}` templates over one source event.

JMESPath (the `jmespath` library) is a standard, side-effect-free query language: an expression
can read the event and compute with it, never execute anything, so a mapping file from another
team is safe to load. Expressions are compiled once, when the mapping is loaded; a syntax error
is a configuration error that names the setting.

A *template* is literal text with `{expression}` parts (`order-{value.orderId}`); a template
without braces is one expression (`headers.ce_id`). `{{` and `}}` are literal braces. Every part
must evaluate to a non-null scalar: a null part means the event lacks the field, and the error
names the expression (the field path) so the DLQ record says what was missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jmespath
from jmespath import exceptions as jexc
from jmespath.parser import ParsedResult
from jmespath.visitor import TreeInterpreter

from orchestrator.bridge.errors import ExpressionEvaluationError, MappingConfigError, MissingFieldError

_OPTIONS = jmespath.Options(dict_cls=dict)
# One interpreter for every search: `ParsedResult.search` builds a new one (and its function table)
# per call, which is most of the cost of a simple expression. It holds no per-search state.
_INTERPRETER = TreeInterpreter(_OPTIONS)


@dataclass(frozen=True)
class Expression:
    """A compiled JMESPath expression; `source` is what the mapping file said."""

    source: str
    setting: str = field(default="", compare=False)
    _compiled: ParsedResult = field(init=False, repr=False, compare=False)
    _fields: tuple[str, ...] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            compiled = jmespath.compile(self.source)
        except jexc.JMESPathError as exc:
            raise MappingConfigError(
                self.setting or "expression",
                f"{self.source!r} is not a valid JMESPath expression ({' '.join(str(exc).split())})",
                "write a JMESPath expression such as value.orderId or headers.ce_id (https://jmespath.org)",
            ) from exc
        object.__setattr__(self, "_compiled", compiled)
        chain = _chain(compiled.parsed)
        object.__setattr__(self, "_fields", None if chain is None or "[]" in chain else tuple(chain))

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The value at `context` (None where JMESPath gives null: a missing field is not an error here).

        Raises ExpressionEvaluationError when a function rejects its arguments at run time.
        """
        fields = self._fields
        if fields is not None:  # a plain field chain (most mappings): JMESPath's semantics, by dict lookups
            node: Any = context
            for name in fields:
                if not isinstance(node, dict):
                    return None
                node = node.get(name)
            return node
        try:
            return _INTERPRETER.visit(self._compiled.parsed, context)
        except jexc.JMESPathError as exc:  # type errors of functions, raised at run time
            raise ExpressionEvaluationError(
                f"{self.source!r} failed: {' '.join(str(exc).split())}", field_path=self.source
            ) from exc

    def require(self, context: Mapping[str, Any], what: str) -> Any:
        """The value, or MissingFieldError naming the expression when it is null."""
        value = self.evaluate(context)
        if value is None:
            raise MissingFieldError(f"{what}: {self.source} is missing (null)", field_path=self.source)
        return value

    def field_paths(self) -> set[tuple[str, ...]]:
        """Field paths the expression reads from the root (`value.item.sku` -> ("value","item","sku")).

        `[]` stands for "an element of this array". Paths inside filters relative to `@` are not
        reported: `connectors check` validates what it can prove and nothing it cannot.
        """
        return _paths(self._compiled.parsed)


def _chain(node: Mapping[str, Any]) -> list[str] | None:
    """The path of a node that is a pure field chain (fields, indexes), else None."""
    kind = node.get("type")
    if kind == "field":
        return [str(node["value"])]
    if kind == "subexpression":
        parts: list[str] = []
        for child in node["children"]:
            sub = _chain(child)
            if sub is None:
                return None
            parts += sub
        return parts
    if kind == "index_expression":
        left = _chain(node["children"][0])
        return None if left is None else [*left, "[]"]
    return None


def _paths(node: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    chain = _chain(node)
    if chain is not None:
        return {(*prefix, *chain)}
    kind = node.get("type")
    children: list[Mapping[str, Any]] = [c for c in node.get("children", []) if isinstance(c, Mapping)]
    if kind == "subexpression" and children:
        head = _chain(children[0])
        if head is not None:
            found: set[tuple[str, ...]] = set()
            for child in children[1:]:
                found |= _paths(child, (*prefix, *head))
            return found or {(*prefix, *head)}
    if kind == "projection" and len(children) == 2:
        left = _paths(children[0], prefix)
        found = set(left)
        for base in left:
            found |= {p for p in _paths(children[1], (*base, "[]")) if p != (*base, "[]")}
        return found
    if kind in ("current", "literal", "identity"):
        return set()
    out: set[tuple[str, ...]] = set()
    for child in children:  # comparators, functions, or/and, multiselects: root-relative operands
        out |= _paths(child)
    return out


@dataclass(frozen=True)
class Template:
    """`literal{expr}literal...`: literal text and expressions, concatenated as strings."""

    source: str
    setting: str = field(default="", compare=False)
    parts: tuple[str | Expression, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", _parse_template(self.source, self.setting))

    @property
    def expressions(self) -> tuple[Expression, ...]:
        """The `{...}` parts (a template without braces is one whole expression)."""
        return tuple(p for p in self.parts if isinstance(p, Expression))

    def render(self, context: Mapping[str, Any], what: str) -> str:
        """The text for `context`. A null part raises MissingFieldError naming it: an id built
        from a missing field would silently correlate unrelated events (`order-None`)."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            out.append(scalar_text(part.require(context, what), part.source, what))
        return "".join(out)

    def field_paths(self) -> set[tuple[str, ...]]:
        """Every root field path its expressions read (`Expression.field_paths`)."""
        found: set[tuple[str, ...]] = set()
        for expr in self.expressions:
            found |= expr.field_paths()
        return found


def scalar_text(value: Any, source: str, what: str) -> str:
    """A template part as text: strings as they are, numbers and booleans as JSON writes them."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise MissingFieldError(f"{what}: {source} is a {type(value).__name__}, not a string or number", field_path=source)


def _parse_template(source: str, setting: str) -> tuple[str | Expression, ...]:
    if "{" not in source and "}" not in source:
        return (Expression(source, setting),)
    parts: list[str | Expression] = []
    literal: list[str] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch == "{" and source.startswith("{{", i):
            literal.append("{")
            i += 2
        elif ch == "}" and source.startswith("}}", i):
            literal.append("}")
            i += 2
        elif ch == "{":
            end = _closing_brace(source, i, setting)
            if literal:
                parts.append("".join(literal))
                literal = []
            inner = source[i + 1 : end].strip()
            if not inner:
                raise MappingConfigError(
                    setting or "template", f"{source!r} has an empty {{}}", "put an expression inside"
                )
            parts.append(Expression(inner, setting))
            i = end + 1
        elif ch == "}":
            raise MappingConfigError(
                setting or "template", f"{source!r} has an unmatched '}}'", "write '}}' for a brace"
            )
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append("".join(literal))
    return tuple(parts)


def _closing_brace(source: str, start: int, setting: str) -> int:
    """Index of the brace closing the one at `start`; quotes and nested braces are skipped."""
    depth, quote = 0, ""
    for j in range(start, len(source)):
        ch = source[j]
        if quote:
            if ch == quote and source[j - 1] != "\\":
                quote = ""
            continue
        if ch in "'\"`":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return j
    raise MappingConfigError(setting or "template", f"{source!r} has an unclosed '{{'", "close every {expression}")


def compile_all(sources: Iterable[tuple[str, str]]) -> list[Expression]:
    """Compile (setting, source) pairs, so a file's every expression is checked at load."""
    return [Expression(source, setting) for setting, source in sources]


__all__ = ["Expression", "Template", "compile_all", "scalar_text"]
