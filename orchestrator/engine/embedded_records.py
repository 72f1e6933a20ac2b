"""Records embedded as bytes in control records (a start's input, a signal's payload, a result).

Both decoders of the inbox (`inbound.py`, `correlation_inbound.py`) read them the same way: the
schema name comes from the record itself, so a name no local schema defines is bad input
(dead-lettered as unknown-schema), not a lookup error of our own code.
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import SchemaNotFoundError, UnknownSchemaError
from orchestrator.serialization import AvroSerde


def embedded(serde: AvroSerde, schema: str | None, data: bytes | None, field: str) -> dict[str, Any] | None:
    """An optional embedded record (None when either part is absent); `field` names the schema field."""
    return None if schema is None or data is None else named(serde, schema, data, field)


def named(serde: AvroSerde, schema: str, data: bytes, field: str) -> dict[str, Any]:
    """Decode an embedded record resolved to the schema the control record declares for it."""
    try:
        return serde.decode(data, schema).value
    except SchemaNotFoundError as exc:
        raise UnknownSchemaError(
            f"{field} names {schema!r}, which no local schema defines; add its .avsc to the schemas dir"
        ) from exc
