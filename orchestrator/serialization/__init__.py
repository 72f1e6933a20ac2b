"""Avro serialization: local schema repository, two framings, typed models.

Framing is configuration: "single-object" (registry-less, the default; the writer schema is named
by its CRC-64-AVRO fingerprint and resolved in the local `schemas/`) or "confluent" (Schema
Registry wire format). Both share the same decode errors, so the DLQ logic does not care which.

The Schema Registry framing is imported lazily (`make_serde("confluent", ...)` or the first use of
`ConfluentSerde`): its client pulls in `confluent_kafka`, which the engine core and the workflow
layer must not load (the import-linter contract in pyproject.toml and tests/test_layering.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from orchestrator.errors import ConfigurationError
from orchestrator.serialization.avro_model import AvroInt, AvroLong, AvroModel, model_for, register_model, untyped_model
from orchestrator.serialization.compat import CompatibilityLevel, Incompatibility, reader_incompatibilities
from orchestrator.serialization.repository import SchemaEntry, SchemaRepository
from orchestrator.serialization.serde import (
    DEFAULT_MAX_RECORD_BYTES,
    AvroSerde,
    DecodedRecord,
    decode_model,
    encode_model,
)
from orchestrator.serialization.single_object import SingleObjectSerde

if TYPE_CHECKING:
    from orchestrator.serialization.confluent import ConfluentSerde

Framing = Literal["single-object", "confluent"]
FRAMINGS: tuple[Framing, ...] = ("single-object", "confluent")


def make_serde(
    framing: Framing,
    repo: SchemaRepository,
    registry_url: str | None = None,
    auto_register: bool = True,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> AvroSerde:
    """The serde for a configured framing; a confluent framing without a registry URL is a
    configuration error, reported before anything is consumed."""
    if framing == "single-object":
        return SingleObjectSerde(repo, max_record_bytes)
    if framing == "confluent":
        if not registry_url:
            raise ConfigurationError(
                "schema_registry_url",
                "framing 'confluent' needs a schema registry",
                "set SAGABRIDGE_SCHEMA_REGISTRY_URL (or --registry-url), or use framing 'single-object'",
            )
        from orchestrator.serialization.confluent import ConfluentSerde

        return ConfluentSerde(repo, registry_url, auto_register, max_record_bytes)
    raise ConfigurationError("framing", f"unknown framing {framing!r}", f"use one of {', '.join(FRAMINGS)}")


def __getattr__(name: str) -> Any:
    """`orchestrator.serialization.ConfluentSerde`, imported on first use (see the module doc)."""
    if name == "ConfluentSerde":
        from orchestrator.serialization.confluent import ConfluentSerde

        return ConfluentSerde
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "FRAMINGS",
    "AvroInt",
    "AvroLong",
    "AvroModel",
    "AvroSerde",
    "CompatibilityLevel",
    "ConfluentSerde",
    "DecodedRecord",
    "Framing",
    "Incompatibility",
    "SchemaEntry",
    "SchemaRepository",
    "SingleObjectSerde",
    "decode_model",
    "encode_model",
    "make_serde",
    "model_for",
    "reader_incompatibilities",
    "register_model",
    "untyped_model",
]
