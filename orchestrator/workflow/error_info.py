"""`ErrorInfo`: a failure as data, the one error record of the runtime, the engine and the worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = Any


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A failure as data: what the participant said (or the engine decided).

    The one error record of the runtime and the engine: a participant's failure reply, a step's
    last error in the store, the error of a failed workflow. Its Avro form is the wire record
    `sagabridge.protocol.StepError` (`to_avro`/`from_avro`); history keeps the JSON form
    (`to_json`/`from_json`), without `details`, exactly as recorded by earlier releases.
    """

    error_type: str
    message: str
    retryable: bool = False
    details: dict[str, str] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, JSON]:
        """The JSON form history records (no `details`)."""
        return {"error_type": self.error_type, "message": self.message, "retryable": self.retryable}

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> ErrorInfo:
        """Inverse of `to_json`."""
        return cls(
            error_type=str(data.get("error_type", "")),
            message=str(data.get("message", "")),
            retryable=bool(data.get("retryable", False)),
        )

    def to_avro(self) -> dict[str, Any]:
        """The `sagabridge.protocol.StepError` value."""
        return {
            "error_type": self.error_type,
            "message": self.message,
            "retryable": self.retryable,
            "details": dict(self.details),
        }

    @classmethod
    def from_avro(cls, value: dict[str, Any]) -> ErrorInfo:
        """Inverse of `to_avro`."""
        return cls(
            error_type=str(value.get("error_type", "")),
            message=str(value.get("message", "")),
            retryable=bool(value.get("retryable", False)),
            details={str(k): str(v) for k, v in (value.get("details") or {}).items()},
        )
