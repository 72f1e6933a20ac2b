"""Confluent Schema Registry framing: magic byte 0, 4-byte big-endian schema id, Avro body.

Registry calls go through `confluent_kafka.schema_registry.SchemaRegistryClient`; the frame and
the body are ours (fastavro) so both framings share one decode path and one set of error types.
Subjects follow the RecordNameStrategy (subject = the record's full name): one topic such as the
inbox carries many record types, which the default TopicNameStrategy cannot express.

Caching: name -> (id, header) for encoding after the first registration or lookup; id -> parsed
writer schema for decoding; unknown ids are remembered for a short time so a burst of garbage
does not become a burst of HTTP calls. Registry outages raise `SchemaRegistryUnavailableError`,
never a `DecodeError`: the record is fine, the loop must retry rather than dead-letter it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from fastavro.schema import to_parsing_canonical_form

from orchestrator.errors import (
    MalformedRecordError,
    SchemaCompatibilityError,
    SchemaNotRegisteredError,
    SchemaRegistryUnavailableError,
    UnknownSchemaError,
    WrongRecordTypeError,
)
from orchestrator.serialization.avro_model import AvroModel
from orchestrator.serialization.repository import SchemaRepository
from orchestrator.serialization.serde import (
    DEFAULT_MAX_RECORD_BYTES,
    AvroSerde,
    DecodedRecord,
    FramedSerde,
    WriterSchema,
)

MAGIC = b"\x00"
HEADER_BYTES = 5
UNKNOWN_ID_TTL_S = 30.0
_NOT_FOUND = 404


def registry_client(registry_url: str) -> SchemaRegistryClient:
    """A Schema Registry client for `registry_url`."""
    return SchemaRegistryClient({"url": registry_url})


def avro_schema(definition: Mapping[str, Any]) -> Schema:
    """A registry `Schema` of a standalone Avro definition."""
    return Schema(json.dumps(definition), "AVRO")


def fetch_writer(client: SchemaRegistryClient, schema: Schema) -> Any:
    """Parse a registry schema, resolving `references` (subject/version) recursively first."""
    named: dict[str, Any] = {}

    def load(current: Schema, seen: set[tuple[str, int]]) -> Any:
        for ref in current.references or ():
            if ref.subject is None or ref.version is None:
                raise UnknownSchemaError(f"schema reference {ref.name!r} has no subject/version")
            key = (ref.subject, ref.version)
            if key not in seen:
                seen.add(key)
                load(client.get_version(ref.subject, ref.version).schema, seen)
        return fastavro.parse_schema(json.loads(current.schema_str or "null"), named_schemas=named)

    return load(schema, set())


class ConfluentSerde(FramedSerde, AvroSerde):
    """Confluent wire format. `auto_register=False` only looks schemas up (production setting when
    `orchestrator schemas register` runs at deploy time) and fails if one is missing."""

    def __init__(
        self,
        repo: SchemaRepository,
        registry_url: str,
        auto_register: bool = True,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        *,
        client: SchemaRegistryClient | None = None,
    ) -> None:
        super().__init__(repo, max_record_bytes)
        self.registry_url = registry_url
        self.auto_register = auto_register
        self.client = client or registry_client(registry_url)
        self._ids: dict[str, tuple[dict[str, Any], bytes]] = {}
        self._writers: dict[int, WriterSchema] = {}
        self._unknown: dict[int, float] = {}
        self._lock = threading.Lock()

    def encode(self, schema_name: str, value: Mapping[str, Any] | AvroModel) -> bytes:
        """Frame `value` with the registry id of `schema_name` (registered or looked up once)."""
        parsed, header = self._ids.get(schema_name) or self._register(schema_name)
        return self._body(schema_name, parsed, value, header)

    def schema_id(self, schema_name: str) -> int:
        """The registry id the current local version of `schema_name` is written with."""
        header = (self._ids.get(schema_name) or self._register(schema_name))[1]
        return int.from_bytes(header[1:], "big")

    def _register(self, schema_name: str) -> tuple[dict[str, Any], bytes]:
        entry = self.repo.entry(schema_name)
        header = MAGIC + self._schema_id(schema_name, entry.definition).to_bytes(4, "big")
        self._ids[schema_name] = (entry.parsed, header)
        return entry.parsed, header

    def _schema_id(self, subject: str, definition: Mapping[str, Any]) -> int:
        schema = avro_schema(definition)
        try:
            if self.auto_register:
                found: int | None = self.client.register_schema(subject, schema)
            else:
                found = self.client.lookup_schema(subject, schema).schema_id
        except SchemaRegistryError as exc:
            if exc.http_status_code == _NOT_FOUND:
                raise SchemaNotRegisteredError(
                    f"{subject}: this schema version is not registered and auto-registration is off. "
                    f"Fix: run `orchestrator schemas register` before deploying."
                ) from exc
            if exc.http_status_code == 409:
                raise SchemaCompatibilityError(f"{subject}: the registry rejected the schema: {exc}") from exc
            raise SchemaRegistryUnavailableError(f"{subject}: registry error: {exc}") from exc
        except Exception as exc:  # httpx transport errors, timeouts
            raise SchemaRegistryUnavailableError(f"schema registry {self.registry_url} unreachable: {exc}") from exc
        if found is None:
            raise SchemaNotRegisteredError(f"{subject}: the registry returned no id for this schema")
        return int(found)

    def decode(self, data: bytes, reader_schema_name: str | None = None) -> DecodedRecord:
        """Decode a Confluent-framed record, resolved to `reader_schema_name` if given."""
        self._check_size(data)
        if len(data) < HEADER_BYTES or data[:1] != MAGIC:
            hint = " (it looks single-object encoded: check the configured framing)" if data[:2] == b"\xc3\x01" else ""
            raise MalformedRecordError(
                f"not a Confluent-framed record: expected magic byte 00 and a 4-byte "
                f"schema id, got {bytes(data[:HEADER_BYTES]).hex(' ')}{hint}"
            )
        schema_id = int.from_bytes(data[1:HEADER_BYTES], "big")
        writer = self._writers.get(schema_id) or self._fetch(schema_id)
        return self._read(data, HEADER_BYTES, schema_id, writer, reader_schema_name)

    def _fetch(self, schema_id: int) -> WriterSchema:
        with self._lock:
            if schema_id in self._writers:
                return self._writers[schema_id]
            expires = self._unknown.get(schema_id)
            if expires is not None and expires > time.monotonic():
                raise UnknownSchemaError(f"schema id {schema_id} is not in the registry")
            try:
                schema = self.client.get_schema(schema_id)
            except SchemaRegistryError as exc:
                if exc.http_status_code == _NOT_FOUND:
                    self._unknown[schema_id] = time.monotonic() + UNKNOWN_ID_TTL_S
                    raise UnknownSchemaError(f"schema id {schema_id} is not in the registry") from exc
                raise SchemaRegistryUnavailableError(f"registry error fetching id {schema_id}: {exc}") from exc
            except Exception as exc:
                raise SchemaRegistryUnavailableError(
                    f"schema registry {self.registry_url} unreachable fetching id {schema_id}: {exc}"
                ) from exc
            if (schema.schema_type or "AVRO") != "AVRO":
                raise UnknownSchemaError(f"schema id {schema_id} is a {schema.schema_type} schema, not Avro")
            try:
                parsed = fetch_writer(self.client, schema)
            except SchemaRegistryError as exc:
                raise SchemaRegistryUnavailableError(f"cannot resolve references of id {schema_id}: {exc}") from exc
            except Exception as exc:
                raise UnknownSchemaError(f"schema id {schema_id} is not a valid Avro schema: {exc}") from exc
            if not isinstance(parsed, dict) or parsed.get("type") not in ("record", "error"):
                raise WrongRecordTypeError(f"schema id {schema_id} is not a record schema")
            writer = WriterSchema(str(parsed["name"]), parsed, to_parsing_canonical_form(parsed))
            self._writers[schema_id] = writer
            return writer
