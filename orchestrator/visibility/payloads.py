"""Payloads as JSON: the framed Avro records kept in the timeline, decoded for people and UIs.

Avro values JSON cannot hold are written the way most JSON APIs do: bytes as base64 strings,
decimals as strings, dates and times in ISO 8601, UUIDs as strings. A payload that cannot be
decoded (its schema is unknown to this process) is reported, never raised: one odd record must
not hide the rest of a timeline.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from orchestrator.errors import SagaBridgeError
from orchestrator.serialization import AvroSerde


@dataclass(frozen=True, slots=True)
class DecodedPayload:
    """A payload as JSON, or why it could not be decoded."""

    schema: str | None
    value: Any  # JSON-safe
    error: str | None = None


def to_json(value: Any) -> Any:
    """A decoded Avro value as plain JSON data."""
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def decode_payload(serde: AvroSerde, schema: str | None, data: bytes | None) -> DecodedPayload | None:
    """Decode a framed record for display; None without data, never raises for bad bytes."""
    if data is None:
        return None
    try:
        decoded = serde.decode(data)
    except SagaBridgeError as exc:
        return DecodedPayload(schema, None, f"{type(exc).__name__}: {exc}")
    return DecodedPayload(decoded.schema_name, to_json(decoded.value))
