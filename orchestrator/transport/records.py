"""Plain record types that cross the transport boundary.

The engine and the workflow layer speak these dataclasses, never confluent_kafka's
Message, so everything above the transport stays testable and Kafka-agnostic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Headers = tuple[tuple[str, bytes], ...]


def make_headers(items: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]]) -> Headers:
    """Normalise header values to bytes (Kafka headers are bytes on the wire)."""
    pairs = items.items() if isinstance(items, Mapping) else items
    return tuple((k, v.encode() if isinstance(v, str) else v) for k, v in pairs)


def header_value(headers: Headers, name: str) -> str | None:
    """Last value of a header decoded as UTF-8, or None when absent (last wins, as in Kafka)."""
    found: bytes | None = None
    for key, value in headers:
        if key == name:
            found = value
    return None if found is None else found.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """A record consumed from Kafka, detached from the client library."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int = 0

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    """A record to produce. `partition=None` lets the partitioner pick by key."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default=())
    partition: int | None = None

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)
