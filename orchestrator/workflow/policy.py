"""Retry policy of a service step.

The workflow author declares it; the engine applies it (durable retry timers). It travels
inside the STEP_SCHEDULED history event as plain JSON so replay and the engine agree on it
without pickling anything.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RetryPolicy(BaseModel):
    """How often and how fast a failed step attempt is retried.

    ``maximum_attempts=None`` means unlimited. ``non_retryable_error_types`` lists error types
    (the participant's ``sb-error-type``) that fail the step at once, whatever ``retryable`` says.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_interval: timedelta = timedelta(seconds=1)
    backoff_coefficient: float = Field(default=2.0, ge=1.0)
    maximum_interval: timedelta = timedelta(seconds=100)
    maximum_attempts: int | None = Field(default=None, ge=1)
    non_retryable_error_types: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_intervals(self) -> RetryPolicy:
        if self.initial_interval < timedelta(0):
            raise ValueError("initial_interval must not be negative")
        if self.maximum_interval < self.initial_interval:
            raise ValueError("maximum_interval must be >= initial_interval")
        return self

    def delay_for_attempt(self, attempt: int) -> timedelta:
        """Delay to wait after failed attempt number ``attempt`` (1-based) before the next one."""
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        initial_ms = self.initial_interval / timedelta(milliseconds=1)
        max_ms = self.maximum_interval / timedelta(milliseconds=1)
        # Cap the exponent's effect early so huge attempt numbers never overflow floats.
        delay_ms = initial_ms
        for _ in range(attempt - 1):
            delay_ms *= self.backoff_coefficient
            if delay_ms >= max_ms:
                delay_ms = max_ms
                break
        return timedelta(milliseconds=min(delay_ms, max_ms))

    def is_retryable(self, error_type: str, retryable: bool) -> bool:
        """Whether a failure of this type may be retried at all (ignoring the attempt budget)."""
        return retryable and error_type not in self.non_retryable_error_types

    def attempts_exhausted(self, attempt: int) -> bool:
        """True when ``attempt`` (1-based, just failed) was the last one allowed."""
        return self.maximum_attempts is not None and attempt >= self.maximum_attempts

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (milliseconds) stored in history and changelog."""
        return {
            "initial_interval_ms": _ms(self.initial_interval),
            "backoff_coefficient": self.backoff_coefficient,
            "maximum_interval_ms": _ms(self.maximum_interval),
            "maximum_attempts": self.maximum_attempts,
            "non_retryable_error_types": list(self.non_retryable_error_types),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RetryPolicy:
        """Inverse of :meth:`to_json`; validates, so corrupt input raises ``ValidationError``."""
        return cls(
            initial_interval=timedelta(milliseconds=int(data["initial_interval_ms"])),
            backoff_coefficient=float(data["backoff_coefficient"]),
            maximum_interval=timedelta(milliseconds=int(data["maximum_interval_ms"])),
            maximum_attempts=data.get("maximum_attempts"),
            non_retryable_error_types=tuple(data.get("non_retryable_error_types") or ()),
        )


def _ms(delta: timedelta) -> int:
    return int(delta / timedelta(milliseconds=1))
