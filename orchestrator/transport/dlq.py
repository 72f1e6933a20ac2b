"""Dead-lettering: a record we cannot process leaves the loop, untouched, for an operator.

The DLQ record keeps the original key, value and headers byte for byte (so it can be replayed
as is) and appends `sb-dlq-*` headers saying why and where it came from. `decode_or_dead_letter`
is the decode step of every consuming loop: it never raises for bad bytes, so one poisoned
record cannot stop a partition.
"""

from __future__ import annotations

from orchestrator.errors import DecodeError, MalformedRecordError
from orchestrator.serialization.serde import AvroSerde, DecodedRecord
from orchestrator.transport.header_names import DLQ_REASON, DLQ_SOURCE_OFFSET, DLQ_SOURCE_PARTITION, DLQ_SOURCE_TOPIC
from orchestrator.transport.records import Headers, InboundRecord, OutboundRecord

DLQ_ERROR = "sb-dlq-error"
PROCESSING_ERROR_REASON = "processing-error"
__all__ = [
    "DLQ_ERROR",
    "DLQ_REASON",
    "DLQ_SOURCE_OFFSET",
    "DLQ_SOURCE_PARTITION",
    "DLQ_SOURCE_TOPIC",
    "dead_letter",
    "decode_or_dead_letter",
    "dlq_reason",
]
MAX_ERROR_HEADER_CHARS = 1000


def dlq_reason(error: BaseException) -> str:
    """The `sb-dlq-reason` value: the DecodeError's reason, else a generic processing failure."""
    return error.reason if isinstance(error, DecodeError) else PROCESSING_ERROR_REASON


def dead_letter(source: InboundRecord, dlq_topic: str, error: DecodeError | Exception) -> OutboundRecord:
    """The DLQ copy of `source`: same key/value/headers plus the reason and source coordinates."""
    description = f"{type(error).__name__}: {error}"[:MAX_ERROR_HEADER_CHARS]
    extra: Headers = (
        (DLQ_REASON, dlq_reason(error).encode()),
        (DLQ_SOURCE_TOPIC, source.topic.encode()),
        (DLQ_SOURCE_PARTITION, str(source.partition).encode()),
        (DLQ_SOURCE_OFFSET, str(source.offset).encode()),
        (DLQ_ERROR, description.encode("utf-8", errors="replace")),
    )
    return OutboundRecord(topic=dlq_topic, key=source.key, value=source.value, headers=source.headers + extra)


def decode_or_dead_letter(
    serde: AvroSerde, record: InboundRecord, dlq_topic: str, reader_schema_name: str | None = None
) -> DecodedRecord | OutboundRecord:
    """Decode `record`'s value, or return its DLQ record when the bytes are bad.

    Only `DecodeError` is dead-lettered. `SchemaRegistryUnavailableError` propagates on purpose:
    the record is fine and the loop should back off and retry it, not lose it to the DLQ.
    """
    if record.value is None:
        return dead_letter(record, dlq_topic, MalformedRecordError("record has no value (tombstone)"))
    try:
        return serde.decode(record.value, reader_schema_name)
    except DecodeError as exc:
        return dead_letter(record, dlq_topic, exc)
