"""Payload conversion between typed models and the plain Avro dicts history stores.

Structural on purpose: anything with ``avro_schema_name``, ``to_avro()`` and ``from_avro()``
(``orchestrator.serialization.AvroModel``) works, without the runtime importing serialization
(and through it, Kafka clients).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, Self, TypeGuard, TypeVar, runtime_checkable

from orchestrator.errors import WorkflowAuthoringError


@runtime_checkable
class AvroRecord(Protocol):
    """What the runtime needs from a model (``AvroModel`` satisfies it)."""

    avro_schema_name: ClassVar[str]

    def to_avro(self) -> dict[str, Any]: ...

    @classmethod
    def from_avro(cls, value: Mapping[str, Any]) -> Self: ...


R = TypeVar("R", bound=AvroRecord)

Payload = AvroRecord | Mapping[str, Any]
Decoder = Callable[[Any], Any]


# Whether instances of a type are AvroRecords, per type: `isinstance` against a runtime-checkable
# Protocol walks the protocol's members on every call (typing's __instancecheck__), and every
# command payload and result passes here; the answer depends only on the type.
_RECORD_TYPES: dict[type, bool] = {}


def is_record(value: object) -> TypeGuard[AvroRecord]:
    """`isinstance(value, AvroRecord)`, answered once per type."""
    tp = type(value)
    known = _RECORD_TYPES.get(tp)
    if known is None:
        known = _RECORD_TYPES[tp] = isinstance(value, AvroRecord)
    return known


def is_model_type(tp: object) -> bool:
    """True for a model class (not an instance)."""
    return isinstance(tp, type) and hasattr(tp, "from_avro") and hasattr(tp, "avro_schema_name")


def encode(value: Payload, schema: str | None, what: str) -> tuple[str, dict[str, Any]]:
    """(schema name, avro dict) of a model, or of a plain dict whose schema is given explicitly."""
    if is_record(value):
        return schema or value.avro_schema_name, value.to_avro()
    if isinstance(value, Mapping):
        if not schema:
            raise WorkflowAuthoringError(
                f"{what} is a plain dict, so its Avro record name is unknown",
                f"pass a model instance, or name the record explicitly ({what} schema/command_type=...)",
            )
        return schema, dict(value)
    raise WorkflowAuthoringError(
        f"{what} must be an AvroModel or a dict, got {type(value).__name__}",
        "build the value with a model generated from schemas/",
    )


def decoder(model: type[Any] | None) -> Decoder:
    """A function turning a recorded avro dict (or None) into ``model`` (or leaving it a dict)."""
    if model is None:
        return _identity
    if not is_model_type(model):
        raise WorkflowAuthoringError(
            f"result/payload type {model!r} is not an AvroModel class",
            "pass a model class generated from schemas/, or None for plain dicts",
        )

    def decode(value: Any) -> Any:
        return None if value is None else model.from_avro(value)

    return decode


def _identity(value: Any) -> Any:
    return value


def to_json(value: Any) -> Any:
    """JSON form of a query result (models become their Avro dicts)."""
    if is_record(value):
        return value.to_avro()
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return value
