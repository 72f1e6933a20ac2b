"""Deploy-time registry work: check local schemas against what is registered, then register.

Compatibility is decided locally (compat.py) so a failure lists *why* and shows a diff of the
registered and local schema; the registry's own verdict is asked too and reported if it
disagrees (it is what will accept or reject the registration). Subjects use the
RecordNameStrategy, like ConfluentSerde. Only records are registered: enums and fixed types
travel inside them.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from confluent_kafka.schema_registry import SchemaRegistryClient, SchemaRegistryError
from fastavro.schema import to_parsing_canonical_form

from orchestrator.errors import SchemaCompatibilityError, SchemaRegistryUnavailableError
from orchestrator.serialization.compat import CompatibilityLevel, check_level
from orchestrator.serialization.confluent import avro_schema, fetch_writer
from orchestrator.serialization.repository import SchemaRepository

Status = Literal["new", "unchanged", "compatible", "incompatible"]


@dataclass
class SubjectReport:
    """The outcome for one subject; `problems` and `diff` explain an incompatibility."""

    subject: str
    status: Status
    registered_versions: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    diff: str = ""
    schema_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "status": self.status,
            "registered_versions": self.registered_versions,
            "problems": self.problems,
            "diff": self.diff,
            "schema_id": self.schema_id,
        }


def _pretty(definition: Any) -> list[str]:
    return json.dumps(definition, indent=2).splitlines(keepends=True)


class RegistryTool:
    """Runs `schemas check` and `schemas register` for a repository against one registry."""

    def __init__(
        self,
        repo: SchemaRepository,
        client: SchemaRegistryClient,
        level: CompatibilityLevel = CompatibilityLevel.BACKWARD,
    ) -> None:
        self.repo = repo
        self.client = client
        self.level = level

    def subjects(self, namespaces: Iterable[str] = ()) -> list[str]:
        prefixes = tuple(namespaces)
        return [
            n
            for n in self.repo.names()
            if self.repo.schema(n)["type"] == "record"
            and (not prefixes or any(n == p or n.startswith(p + ".") for p in prefixes))
        ]

    def check(self, namespaces: Iterable[str] = ()) -> list[SubjectReport]:
        return [self._check(subject) for subject in self.subjects(namespaces)]

    def register(self, namespaces: Iterable[str] = (), set_level: bool = True) -> list[SubjectReport]:
        """Check everything first; register only if nothing is incompatible (all or nothing)."""
        reports = self.check(namespaces)
        if any(r.status == "incompatible" for r in reports):
            return reports
        for report in reports:
            schema = avro_schema(self.repo.definition(report.subject))
            try:
                if report.status == "unchanged":
                    report.schema_id = self.client.lookup_schema(report.subject, schema).schema_id
                    continue
                if set_level:
                    self.client.set_compatibility(report.subject, self.level.value)
                report.schema_id = self.client.register_schema(report.subject, schema)
            except SchemaRegistryError as exc:
                if exc.http_status_code == 409:
                    raise SchemaCompatibilityError(f"{report.subject}: registry rejected it: {exc}") from exc
                raise SchemaRegistryUnavailableError(f"{report.subject}: {exc}") from exc
        return reports

    def _check(self, subject: str) -> SubjectReport:
        entry = self.repo.entry(subject)
        try:
            versions = sorted(self.client.get_versions(subject))
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return SubjectReport(subject, "new")
            raise SchemaRegistryUnavailableError(f"{subject}: {exc}") from exc
        except Exception as exc:
            raise SchemaRegistryUnavailableError(f"schema registry unreachable: {exc}") from exc
        wanted = versions if self.level.transitive else versions[-1:]
        registered: list[tuple[str, Any]] = []
        latest_definition: Any = None
        for version in wanted:
            schema = self.client.get_version(subject, version).schema
            registered.append((f"v{version}", fetch_writer(self.client, schema)))
            latest_definition = json.loads(schema.schema_str or "null")
        report = SubjectReport(subject, "compatible", versions)
        if to_parsing_canonical_form(registered[-1][1]) == entry.canonical:
            report.status = "unchanged"
            return report
        report.problems = [str(p) for p in check_level(self.level, entry.parsed, registered)]
        registry_level = self._registry_level(subject)
        if (
            self.level is not CompatibilityLevel.NONE
            and registry_level == self.level.value
            and not self._registry_agrees(subject, entry.definition)
        ):
            report.problems.append(f"the registry also reports it incompatible ({registry_level})")
        if report.problems:
            report.status = "incompatible"
            report.diff = "".join(
                difflib.unified_diff(
                    _pretty(latest_definition),
                    _pretty(entry.definition),
                    fromfile=f"registry {subject} v{versions[-1]}",
                    tofile=f"local {entry.source}",
                )
            )
        return report

    def _registry_agrees(self, subject: str, definition: Any) -> bool:
        """The registry's verdict, asked only when it enforces the same level as ours (otherwise
        `register` changes the subject's level first, and its current verdict does not apply)."""
        try:
            return bool(self.client.test_compatibility(subject, avro_schema(definition)))
        except SchemaRegistryError:
            return True  # no opinion (e.g. endpoint unsupported): rely on the local check

    def _registry_level(self, subject: str) -> str:
        try:
            return str(self.client.get_compatibility(subject))
        except SchemaRegistryError:
            return "unknown"


def format_reports(reports: list[SubjectReport], level: CompatibilityLevel, url: str) -> str:
    """Human-readable summary: one line per subject, reasons and diffs under incompatible ones."""
    lines = [f"{level.value} check of {len(reports)} subjects against {url}"]
    for report in reports:
        detail = f" -> id {report.schema_id}" if report.schema_id is not None else ""
        if report.registered_versions and report.status != "new":
            detail = f" (registered v{report.registered_versions[-1]}){detail}"
        lines.append(
            f"  {report.status.upper() if report.status == 'incompatible' else report.status:<13}"
            f"{report.subject}{detail}"
        )
        lines += [f"      - {problem}" for problem in report.problems]
        lines += [f"      {line}" for line in report.diff.splitlines()]
    bad = sum(r.status == "incompatible" for r in reports)
    lines.append(f"{bad} incompatible" if bad else "all compatible")
    return "\n".join(lines)
