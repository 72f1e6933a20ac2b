"""Registry-less framing: Avro single-object encoding, the embedded default.

Frame (Avro specification, "Single-object encoding"): `C3 01`, the writer schema's 8-byte
CRC-64-AVRO fingerprint of its Parsing Canonical Form, little-endian, then the binary body.
The fingerprint is looked up in the local repository, which includes older `.vN.avsc` versions,
so records written before a schema upgrade still resolve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.errors import MalformedRecordError, UnknownSchemaError
from orchestrator.serialization.avro_model import AvroModel
from orchestrator.serialization.repository import SchemaEntry, SchemaRepository
from orchestrator.serialization.serde import (
    DEFAULT_MAX_RECORD_BYTES,
    AvroSerde,
    DecodedRecord,
    FramedSerde,
    WriterSchema,
)

MAGIC = b"\xc3\x01"
HEADER_BYTES = 10


def single_object_header(entry: SchemaEntry) -> bytes:
    """`C3 01` + the schema's 8-byte fingerprint: the first 10 bytes of each record."""
    return MAGIC + entry.fingerprint


class SingleObjectSerde(FramedSerde, AvroSerde):
    """Single-object framing against a local SchemaRepository; no server involved."""

    def __init__(self, repo: SchemaRepository, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        super().__init__(repo, max_record_bytes)
        self._headers: dict[str, tuple[dict[str, Any], bytes]] = {}
        self._writers: dict[bytes, WriterSchema] = {}

    def encode(self, schema_name: str, value: Mapping[str, Any] | AvroModel) -> bytes:
        """Single-object encode `value` under schema `schema_name`."""
        cached = self._headers.get(schema_name)
        if cached is None:
            entry = self.repo.entry(schema_name)
            cached = self._headers[schema_name] = (entry.parsed, single_object_header(entry))
        return self._body(schema_name, cached[0], value, cached[1])

    def decode(self, data: bytes, reader_schema_name: str | None = None) -> DecodedRecord:
        """Decode a single-object record, finding its writer schema by fingerprint."""
        self._check_size(data)
        if len(data) < HEADER_BYTES or data[:2] != MAGIC:
            hint = " (it looks Confluent-framed: check the configured framing)" if data[:1] == b"\x00" else ""
            raise MalformedRecordError(
                f"not an Avro single-object record: expected C3 01 and an 8-byte "
                f"fingerprint, got {bytes(data[:HEADER_BYTES]).hex(' ')}{hint}"
            )
        fp = bytes(data[2:HEADER_BYTES])
        writer = self._writers.get(fp)
        if writer is None:
            entry = self.repo.by_fingerprint(fp)
            if entry is None:
                raise UnknownSchemaError(
                    f"no local schema has fingerprint {fp.hex()} (CRC-64-AVRO, LE); "
                    f"add the writer's .avsc (or a .vN.avsc version) to the schemas dir"
                )
            writer = self._writers[fp] = WriterSchema(entry.full_name, entry.parsed, entry.canonical)
        return self._read(data, HEADER_BYTES, fp, writer, reader_schema_name)
