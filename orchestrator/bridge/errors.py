"""Why a source event could not be mapped, and why a mapping file is refused.

Runtime failures are `DecodeError`s: the record goes to the DLQ with `reason` as `sb-dlq-reason`
(and `field_path`, when one is to blame, as `sb-dlq-field-path`), and the partition keeps moving.
A bad mapping file is a `ConfigurationError` naming the setting and the fix, raised before
anything is consumed.
"""

from __future__ import annotations

from orchestrator.errors import ConfigurationError, DecodeError


class MappingError(DecodeError):
    """A decodable source event the mapping cannot turn into an inbox record."""

    reason = "mapping-error"

    def __init__(self, problem: str, *, field_path: str | None = None, trigger: str | None = None) -> None:
        self.problem = problem
        self.field_path = field_path
        self.trigger = trigger
        where = f"{trigger}: " if trigger else ""
        super().__init__(f"{where}{problem}")


class MissingFieldError(MappingError):
    """An expression the mapping needs evaluated to null: the event lacks that field."""

    reason = "missing-field"


class InvalidFieldError(MappingError):
    """A mapped value does not fit the target record's schema (wrong type, out of range)."""

    reason = "invalid-field"


class ExpressionEvaluationError(MappingError):
    """A JMESPath function rejected its arguments at run time (e.g. `to_number` of an object)."""

    reason = "expression-error"


class UnmatchedEventError(MappingError):
    """The source is declared `require_match`, and no trigger or outcome matched the event."""

    reason = "unmatched"


class MappingConfigError(ConfigurationError):
    """A mapping file (connectors/*.toml) or mapping object is invalid."""


class MappingCheckError(MappingConfigError):
    """`orchestrator connectors check` found mappings that cannot work against the schemas."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "connectors", f"{len(problems)} mapping problem(s): " + "; ".join(problems), "fix the mappings named"
        )


__all__ = [
    "ExpressionEvaluationError",
    "InvalidFieldError",
    "MappingCheckError",
    "MappingConfigError",
    "MappingError",
    "MissingFieldError",
    "UnmatchedEventError",
]
