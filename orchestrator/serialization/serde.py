"""The serde interface and the framing-independent half of encoding and decoding.

A framing only decides how the writer schema is named in the first bytes (fingerprint or registry
id); writing the body, the size limit, mapping decoder failures to `DecodeError` types and
writer->reader resolution are shared here so both framings behave identically on bad input.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import fastavro
from fastavro.validation import validate

from orchestrator.errors import (
    EncodeError,
    IncompatibleSchemaError,
    MalformedRecordError,
    RecordTooLargeError,
    WrongRecordTypeError,
)
from orchestrator.serialization.avro_model import AvroModel
from orchestrator.serialization.compat import reader_incompatibilities
from orchestrator.serialization.repository import SchemaRepository

DEFAULT_MAX_RECORD_BYTES = 1_048_576
M = TypeVar("M", bound=AvroModel)


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    """A decoded value and the full name of the schema it is now shaped by (reader, else writer)."""

    schema_name: str
    value: dict[str, Any]


class AvroSerde(Protocol):
    """Turns records into framed Avro bytes and back; `decode` raises only `DecodeError` subtypes
    for bad bytes (plus `SchemaRegistryUnavailableError`, which is transient, for registries)."""

    def encode(self, schema_name: str, value: Mapping[str, Any] | AvroModel) -> bytes:
        """Framed Avro bytes of `value` under schema `schema_name`; `EncodeError` if it does not match."""

    def decode(self, data: bytes, reader_schema_name: str | None = None) -> DecodedRecord:
        """The value of framed bytes, resolved to `reader_schema_name` if given; `DecodeError` if bad."""


@dataclass(frozen=True)
class WriterSchema:
    """A writer schema as found from the frame: its name and fastavro-parsed form."""

    name: str
    parsed: dict[str, Any]
    canonical: str


class FramedSerde:
    """Shared body encoding/decoding; subclasses add the frame (header) logic."""

    def __init__(self, repo: SchemaRepository, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self.repo = repo
        self.max_record_bytes = max_record_bytes
        # (writer key, reader name) -> reader schema to resolve to, or None when identical
        self._resolutions: dict[tuple[object, str], dict[str, Any] | None] = {}
        self._rejections: dict[tuple[object, str], tuple[type[WrongRecordTypeError], str]] = {}

    def _body(
        self, schema_name: str, parsed: dict[str, Any], value: Mapping[str, Any] | AvroModel, header: bytes
    ) -> bytes:
        if parsed.get("type") not in ("record", "error"):
            raise EncodeError(f"{schema_name} is not a record schema; only records are messages")
        record = value.to_avro() if isinstance(value, AvroModel) else value
        out = io.BytesIO()
        out.write(header)
        try:
            fastavro.schemaless_writer(out, parsed, record)
        except Exception as exc:  # fastavro raises TypeError/ValueError/...; explain it precisely
            raise EncodeError(f"value does not match {schema_name}: {_explain(parsed, record, exc)}") from exc
        data = out.getvalue()
        if len(data) > self.max_record_bytes:
            raise EncodeError(
                f"{schema_name} record is {len(data)} bytes, over the "
                f"{self.max_record_bytes}-byte limit (max_record_bytes)"
            )
        return data

    def _check_size(self, data: bytes) -> None:
        if len(data) > self.max_record_bytes:
            raise RecordTooLargeError(
                f"record is {len(data)} bytes, over the {self.max_record_bytes}-byte limit (max_record_bytes)"
            )

    def _reader_for(self, writer_key: object, writer: WriterSchema, reader_name: str) -> dict[str, Any] | None:
        """Reader schema to resolve to (None: identical to the writer). Checked once per pair;
        a rejection is cached too, so a flood of mismatched records costs no repeated checks."""
        key = (writer_key, reader_name)
        if key in self._resolutions:
            return self._resolutions[key]
        rejected = self._rejections.get(key)
        if rejected is not None:
            raise rejected[0](rejected[1])
        entry = self.repo.entry(reader_name)
        parsed = entry.parsed
        resolved: dict[str, Any] | None = None
        if writer.canonical != entry.canonical:
            try:
                self._check_resolvable(writer, reader_name, parsed)
            except WrongRecordTypeError as exc:
                self._rejections[key] = (type(exc), str(exc))
                raise
            resolved = parsed
        self._resolutions[key] = resolved
        return resolved

    @staticmethod
    def _check_resolvable(writer: WriterSchema, reader_name: str, reader: dict[str, Any]) -> None:
        if writer.name != reader_name and writer.name not in set(reader.get("aliases", ())):
            raise WrongRecordTypeError(f"expected {reader_name}, got a {writer.name} record")
        problems = reader_incompatibilities(reader, writer.parsed)
        if problems:
            raise IncompatibleSchemaError(
                f"{writer.name} was written with a schema {reader_name} cannot read: "
                + "; ".join(str(p) for p in problems)
            )

    def _read(
        self, data: bytes, offset: int, writer_key: object, writer: WriterSchema, reader_name: str | None
    ) -> DecodedRecord:
        if writer.parsed.get("type") not in ("record", "error"):
            raise WrongRecordTypeError(f"{writer.name} is not a record schema; only records are messages")
        reader = None if reader_name is None else self._reader_for(writer_key, writer, reader_name)
        stream = io.BytesIO(data[offset:])
        try:
            value = fastavro.schemaless_reader(stream, writer.parsed, reader)
        except Exception as exc:  # any decoder failure on bad bytes is the record's fault
            raise MalformedRecordError(
                f"cannot decode a {writer.name} body: {type(exc).__name__}: {str(exc)[:200]}"
            ) from exc
        trailing = len(data) - offset - stream.tell()
        if trailing:
            raise MalformedRecordError(f"{trailing} trailing bytes after a {writer.name} record")
        return DecodedRecord(reader_name or writer.name, cast(dict[str, Any], value))


def _explain(parsed: dict[str, Any], record: Any, exc: Exception) -> str:
    try:
        validate(record, parsed, raise_errors=True)
    except Exception as detail:
        reasons = getattr(detail, "errors", None)
        return "; ".join(map(str, reasons)) if reasons else " ".join(str(detail).split())
    return f"{type(exc).__name__}: {exc}"


def encode_model(serde: AvroSerde, model: AvroModel) -> bytes:
    """Encode a typed model under its own schema name."""
    return serde.encode(model.avro_schema_name, model)


def decode_model(serde: AvroSerde, data: bytes, model: type[M]) -> M:
    """Decode `data` resolved to `model`'s schema and validate it into the model."""
    return model.from_avro(serde.decode(data, model.avro_schema_name).value)
