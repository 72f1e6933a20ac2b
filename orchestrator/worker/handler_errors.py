"""Exceptions a handler raises to say how the orchestrator should treat its failure."""

from __future__ import annotations

from typing import ClassVar

from orchestrator.errors import error_type_name


class RetryableError(Exception):
    """A transient failure: the orchestrator retries with its policy (sb-retryable: true)."""

    retryable = True


class NonRetryableError(Exception):
    """A permanent failure (e.g. a declined payment): no retry, the saga compensates."""

    retryable = False


class UnknownCommandError(NonRetryableError):
    """A command type this service has no handler for: permanent, the orchestrator must not retry."""

    wire_name: ClassVar[str] = "UnknownCommand"  # the documented sb-error-type (docs/protocol.md)


class UndecodableCommandError(NonRetryableError):
    """The command's bytes are not a record we can read: retrying the same bytes cannot help."""

    wire_name: ClassVar[str] = "UndecodableCommand"  # the documented sb-error-type (docs/protocol.md)


def error_type(exc: BaseException) -> str:
    """The sb-error-type a participant reports: the exception's `wire_name` or class name (matched by
    retry policies)."""
    return error_type_name(exc)


def is_retryable(exc: BaseException, non_retryable: tuple[type[BaseException], ...]) -> bool:
    """The `sb-retryable` of a failure: the exception's `retryable` flag, else not one of `non_retryable`."""
    flag = getattr(exc, "retryable", None)
    if isinstance(flag, bool):
        return flag
    return not isinstance(exc, non_retryable)
