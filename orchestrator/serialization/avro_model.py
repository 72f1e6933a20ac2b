"""Typed models: pydantic classes that mirror Avro records, and the name -> model registry.

Concrete models are generated from the `.avsc` files (`orchestrator schemas codegen`), so they are
plain source that mypy and IDEs understand; this module holds what every model shares. A model
registers itself under its `avro_schema_name` when its class is created, so `model_for` knows every
model whose module has been imported (the built-in ones are imported on first use).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

# Avro int/long are 32/64-bit signed; the bounds make a model reject what another language can't read.
AvroInt = Annotated[int, Field(ge=INT_MIN, le=INT_MAX)]
AvroLong = Annotated[int, Field(ge=LONG_MIN, le=LONG_MAX)]

BUILTIN_MODELS_PACKAGE = "orchestrator.models"

_registry: dict[str, type[AvroModel]] = {}
_lock = threading.Lock()
_builtins_loaded = False


class AvroModel(BaseModel):
    """Base of typed models. Immutable (values that travel in messages should not change under
    you) and strict about unknown fields (a typo is an error, not a silently dropped field)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, use_attribute_docstrings=True)

    avro_schema_name: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "avro_schema_name" in cls.__dict__:
            register_model(cls)

    def to_avro(self) -> dict[str, Any]:
        """The value as the plain dict fastavro writes (Avro field names, nested records as dicts)."""
        return self.model_dump(by_alias=True)

    @classmethod
    def from_avro(cls, value: Mapping[str, Any]) -> Self:
        """Build the model from a decoded Avro value (validated: ranges, required fields)."""
        return cls.model_validate(value)


def register_model(model: type[AvroModel]) -> None:
    """Make `model_for(model.avro_schema_name)` return `model` (the last registration wins, so a
    reloaded or user-overridden model replaces the previous one)."""
    with _lock:
        _registry[model.avro_schema_name] = model


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    try:
        importlib.import_module(BUILTIN_MODELS_PACKAGE)
    except ModuleNotFoundError as exc:  # models not generated yet: only explicitly imported ones exist
        if exc.name != BUILTIN_MODELS_PACKAGE:
            raise


def untyped_model(schema_name: str) -> type[AvroModel]:
    """A model for a record that has no generated class (a user's schema folder without codegen).

    Its fields pass through unvalidated; the serde checks the value against the schema when it
    encodes it. Not registered for `model_for`: a generated model always wins.
    """
    namespace = {"__module__": __name__, "model_config": ConfigDict(frozen=True, extra="allow")}
    model: type[AvroModel] = type(f"Untyped[{schema_name}]", (_UntypedModel,), namespace)
    model.avro_schema_name = schema_name
    return model


class _UntypedModel(AvroModel):
    model_config = ConfigDict(frozen=True, extra="allow")


def model_for(schema_name: str) -> type[AvroModel] | None:
    """The typed model registered for an Avro full name, or None (then use plain dicts)."""
    _load_builtins()
    return _registry.get(schema_name)
