"""`orchestrator connectors check`: prove every mapping against the schemas before anything runs.

Found problems are errors: a target field the record has no column for, a required field nothing
maps, a field path absent from the writer schema of the event it reads (`value.item.sku` on an
`OrderPlaced` that has no `item`), an expression rooted at something the context does not have
(`vaule.orderId`), a schema or workflow type that does not exist. What cannot be proven (a JSON
topic without declared `schemas`) is reported as a note, never silently passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.bridge.expressions import Expression
from orchestrator.bridge.fieldmap import FieldMap
from orchestrator.bridge.mapping import CommandMapping, ConnectorConfig, Outcome, Trigger
from orchestrator.bridge.shaping import nullable, record_fields
from orchestrator.errors import SchemaNotFoundError
from orchestrator.serialization import SchemaRepository

EVENT_ROOTS = frozenset(
    {"topic", "partition", "offset", "timestamp", "key", "headers", "value", "schema", "ce", "type"}
)
COMMAND_ROOTS = frozenset({"command", "workflow_id", "command_id", "attempt", "command_type", "service"})


@dataclass
class CheckReport:
    """What `check` found in one mapping file: errors fail the command, notes only inform."""

    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: int = 0  # mappings (triggers, outcomes, commands) examined

    @property
    def ok(self) -> bool:
        """No errors (notes do not count: they name what could not be proven)."""
        return not self.errors


class MappingChecker:
    """Proves mapping files against the schema repository (and, if given, the registered workflow types).

    Static: it reads no topic and needs no broker, so `connectors check` runs in CI and the
    embedded connectors run it at startup, before a single event is consumed.
    """

    def __init__(self, repo: SchemaRepository, workflow_types: Iterable[str] | None = None) -> None:
        self.repo = repo
        self.workflow_types = None if workflow_types is None else set(workflow_types)

    def check(self, config: ConnectorConfig) -> CheckReport:
        """Every trigger, outcome and command mapping of `config`, in file order."""
        report = CheckReport()
        for t in config.triggers:
            self._trigger(config, t, report)
        for p in config.participants:
            for i, o in enumerate(p.outcomes):
                self._outcome(config, f"participant {p.service!r} outcome {o.name or i}", o, report)
            for c in p.commands:
                self._command(f"participant {p.service!r} command {c.type}", c, report)
        return report

    # -- per mapping -------------------------------------------------------------------------
    def _trigger(self, config: ConnectorConfig, t: Trigger, report: CheckReport) -> None:
        report.checked += 1
        where = f"trigger {t.name!r}"
        if self.workflow_types is not None and t.workflow_type and t.workflow_type not in self.workflow_types:
            known = ", ".join(sorted(self.workflow_types)) or "none"
            report.errors.append(f"{where}: workflow type {t.workflow_type!r} is not registered (registered: {known})")
        exprs = self._matcher_expressions(t)
        if t.input is not None and t.input_schema:
            self._target(where, "input", t.input_schema, t.input, report)
            exprs += [e for _, e in t.input.expressions()]
        if t.payload is not None and t.payload_schema:
            self._target(where, "payload", t.payload_schema, t.payload, report)
            exprs += [e for _, e in t.payload.expressions()]
        self._sources(config, where, t.topics, t.event, exprs, report)

    def _outcome(self, config: ConnectorConfig, where: str, o: Outcome, report: CheckReport) -> None:
        report.checked += 1
        exprs = self._matcher_expressions(o)
        for template in (o.error_type, o.error_message):
            if template is not None:
                exprs += list(template.expressions)
        if isinstance(o.retryable, Expression):
            exprs.append(o.retryable)
        if o.command_type and self._schema(o.command_type) is None:
            report.errors.append(f"{where}: command_type {o.command_type!r} is not a known schema")
        if o.result is not None and o.result_schema:
            self._target(where, "result", o.result_schema, o.result, report)
            exprs += [e for _, e in o.result.expressions()]
        self._sources(config, where, o.topics, o.event, exprs, report)

    def _command(self, where: str, c: CommandMapping, report: CheckReport) -> None:
        report.checked += 1
        exprs = [e for _, e in c.value.expressions()]
        for template in (c.key, *c.headers.values()):
            if template is not None:
                exprs += list(template.expressions)
        command_schema = self._schema(c.type)
        if command_schema is None:
            report.errors.append(f"{where}: command type {c.type!r} is not a known schema")
        for expr in exprs:
            for path in expr.field_paths():
                if path[0] not in COMMAND_ROOTS:
                    report.errors.append(
                        f"{where}: {expr.source!r} reads {path[0]!r}; outbound expressions see "
                        + ", ".join(sorted(COMMAND_ROOTS))
                    )
                elif path[0] == "command" and command_schema is not None:
                    bad = self._missing_path(command_schema, path[1:])
                    if bad is not None:
                        report.errors.append(
                            f"{where}: {expr.source!r}: field {'.'.join(path[: len(bad) + 1])!r} is not in {c.type}"
                        )
        if c.value_schema:
            self._target(where, "value", c.value_schema, c.value, report)

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _matcher_expressions(m: Trigger | Outcome) -> list[Expression]:
        exprs = list(m.correlation.expressions)
        if m.message_id is not None:
            exprs += list(m.message_id.expressions)
        if m.when is not None:
            exprs.append(m.when)
        return exprs

    def _schema(self, name: str) -> dict[str, Any] | None:
        try:
            return self.repo.entry(name).definition
        except SchemaNotFoundError:
            return None

    def _target(self, where: str, what: str, schema_name: str, mapping: FieldMap, report: CheckReport) -> None:
        schema = self._schema(schema_name)
        if schema is None:
            report.errors.append(f"{where}: {what} schema {schema_name!r} is not a known schema")
            return
        if mapping.whole is None:
            self._fields(f"{where}: {what}", schema_name, schema, mapping, report)

    def _fields(self, where: str, name: str, schema: Any, mapping: FieldMap, report: CheckReport) -> None:
        fields = {f["name"]: f for f in record_fields(schema) or []}
        for target, entry in mapping.fields:
            spec = fields.get(target)
            if spec is None:
                report.errors.append(f"{where}.{target}: {name} has no field {target!r} (fields: {', '.join(fields)})")
            elif isinstance(entry, FieldMap) and entry.whole is None:
                nested = self._resolve(spec["type"])
                if record_fields(nested) is None:
                    report.errors.append(f"{where}.{target}: a table maps a record, but {target!r} is not a record")
                else:
                    self._fields(f"{where}.{target}", target, nested, entry, report)
        for fname, spec in fields.items():
            if mapping.entry(fname) is None and "default" not in spec and not nullable(spec["type"]):
                report.errors.append(f"{where}: required field {fname!r} of {name} is not mapped")

    def _sources(
        self,
        config: ConnectorConfig,
        where: str,
        topics: Iterable[str],
        event: str | None,
        exprs: list[Expression],
        report: CheckReport,
    ) -> None:
        paths = {(e.source, p) for e in exprs for p in e.field_paths()}
        for source_text, path in sorted(paths):
            if path[0] not in EVENT_ROOTS:
                report.errors.append(
                    f"{where}: {source_text!r} reads {path[0]!r}; event expressions see "
                    + ", ".join(sorted(EVENT_ROOTS))
                )
        value_paths = sorted((s, p[1:]) for s, p in paths if p[0] == "value")
        for topic in topics:
            source = config.source(topic)
            schemas = [n for n in source.schemas if event is None or _type_matches(n, event)]
            if not source.schemas:
                if value_paths:
                    report.notes.append(
                        f"{where}: {topic} declares no schemas: field paths "
                        + ", ".join(sorted({"value." + ".".join(p) for _, p in value_paths}))
                        + " not checked"
                    )
                continue
            if not schemas:
                report.errors.append(
                    f"{where}: event {event!r} is none of the schemas {topic} declares ({', '.join(source.schemas)})"
                )
                continue
            for schema_name in schemas:
                schema = self._schema(schema_name)
                if schema is None:
                    report.errors.append(f"{where}: {topic} declares schema {schema_name!r}, which is not known")
                    continue
                for source_text, path in value_paths:
                    bad = self._missing_path(schema, path)
                    if bad is not None:
                        report.errors.append(
                            f"{where}: {source_text!r}: field path 'value.{'.'.join(path[: len(bad) + 1])}' is "
                            f"absent from the writer schema {schema_name} ({topic})"
                        )

    def _resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema in self.repo:
            return self.repo.entry(schema).definition
        if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
            return schema["type"]
        return schema

    def _missing_path(self, schema: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
        """None if `path` exists in `schema`; else the prefix up to the first segment that does not."""
        if not path:
            return None
        schema = self._resolve(schema)
        head, rest = path[0], path[1:]
        if isinstance(schema, list):
            branches = [b for b in schema if b != "null"]
            results = [self._missing_path(b, path) for b in branches]
            if any(r is None for r in results):
                return None
            return max((r for r in results if r is not None), key=len, default=(head,))
        if isinstance(schema, dict):
            kind = schema.get("type")
            if kind in ("record", "error"):
                for f in schema.get("fields", []):
                    if f["name"] == head:
                        sub = self._missing_path(f["type"], rest)
                        return None if sub is None else (head, *sub)
                return (head,)
            if kind == "array" and head == "[]":
                sub = self._missing_path(schema["items"], rest)
                return None if sub is None else (head, *sub)
            if kind == "map":
                sub = self._missing_path(schema["values"], rest)
                return None if sub is None else (head, *sub)
        return (head,)


def _type_matches(schema_name: str, event: str) -> bool:
    return schema_name == event or schema_name.rsplit(".", 1)[-1] == event.rsplit(".", 1)[-1]


__all__ = ["CheckReport", "MappingChecker"]
