"""A source record as the expressions see it: key, value, headers, topic, type, CloudEvents attributes.

Decoding depends on the topic's declared format: JSON (UTF-8), Avro single-object or Avro Schema
Registry (through the serde the caller passes, so this module stays Kafka-free). CloudEvents are
read in both Kafka bindings: binary mode (`ce_*` headers) and structured mode (content type
`application/cloudevents+json`, the envelope in the value; `value` is then its `data`).

    {"topic": ..., "partition": 0, "offset": 42, "timestamp": 1700000000000,
     "key": "o-1", "headers": {"ce_id": "..."}, "value": {...}, "type": "OrderPlaced",
     "schema": "shop.OrderPlaced" | null, "ce": {"id": ..., "type": ..., "source": ...}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from orchestrator.bridge.mapping import SourceTopic, ValueFormat
from orchestrator.errors import MalformedRecordError
from orchestrator.serialization import AvroSerde
from orchestrator.transport.records import InboundRecord

CE_PREFIX = "ce_"
CE_STRUCTURED = "application/cloudevents+json"
CONTENT_TYPE_HEADERS = ("content-type", "Content-Type", "ce_datacontenttype")


@dataclass(frozen=True)
class SourceEvent:
    """One decoded source record; `context` is the dict every expression is evaluated against."""

    record: InboundRecord
    value: Any
    event_type: str | None
    schema_name: str | None
    headers: dict[str, str]
    cloudevent: dict[str, Any]
    context: dict[str, Any] = field(repr=False)

    @property
    def position(self) -> str:
        """`topic:partition:offset`, the default message id."""
        return f"{self.record.topic}:{self.record.partition}:{self.record.offset}"

    def matches_type(self, wanted: str) -> bool:
        """Full or short name match: `OrderPlaced` matches `shop.orders.OrderPlaced`."""
        have = self.event_type
        if have is None:
            return False
        return have == wanted or have.rsplit(".", 1)[-1] == wanted or wanted.rsplit(".", 1)[-1] == have


def _headers(record: InboundRecord) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in record.headers:
        out[name] = value.decode("utf-8", errors="replace")  # last wins, as Kafka clients read them
    return out


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedRecordError(f"{what} is not JSON: {' '.join(str(exc).split())[:200]}") from exc


def decode_event(record: InboundRecord, source: SourceTopic, serde: AvroSerde | None) -> SourceEvent:
    """Decode `record` per its topic's format; bad bytes raise a DecodeError (-> DLQ)."""
    if record.value is None:
        raise MalformedRecordError("record has no value (tombstone)")
    headers = _headers(record)
    schema_name: str | None = None
    if source.format is ValueFormat.JSON:
        value = _json(record.value, "the value")
    else:
        if serde is None:  # a wiring bug: the runtime builds one serde per Avro format it reads
            raise MalformedRecordError(f"no serde for {source.format.value} topic {source.topic}")
        decoded = serde.decode(record.value)
        value, schema_name = decoded.value, decoded.schema_name
    cloudevent = {k[len(CE_PREFIX) :]: v for k, v in headers.items() if k.startswith(CE_PREFIX)}
    content_type = next((headers[h] for h in CONTENT_TYPE_HEADERS if h in headers), "")
    if source.format is ValueFormat.JSON and content_type.startswith(CE_STRUCTURED):
        if not isinstance(value, dict) or "specversion" not in value:
            raise MalformedRecordError("structured CloudEvent without 'specversion'")
        cloudevent = {k: v for k, v in value.items() if k not in ("data", "data_base64")}
        value = value.get("data")
    context: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp_ms,
        "key": None if record.key is None else record.key.decode("utf-8", errors="replace"),
        "headers": headers,
        "value": value,
        "schema": schema_name,
        "ce": cloudevent,
        "type": None,
    }
    event_type: str | None = None
    if source.event_type is not None:
        found = source.event_type.evaluate(context)
        event_type = None if found is None else str(found)
    if event_type is None and isinstance(cloudevent.get("type"), str):
        event_type = cloudevent["type"]
    if event_type is None:
        event_type = schema_name
    context["type"] = event_type
    return SourceEvent(record, value, event_type, schema_name, headers, cloudevent, context)


__all__ = ["SourceEvent", "decode_event"]
