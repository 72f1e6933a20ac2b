"""JSON for history event data.

History ``data`` holds Avro values (decoded records) next to plain JSON. Avro values may carry
bytes, decimals, datetimes and UUIDs (logical types), which JSON cannot represent, so these are
written as one-key tagged objects and restored on read. The engine feeds live activations the
round-tripped value, so a live run and its later replay see exactly the same data.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

_BYTES = "__sb_bytes__"
_DECIMAL = "__sb_decimal__"
_DATETIME = "__sb_datetime__"
_DATE = "__sb_date__"
_TIME = "__sb_time__"
_UUID = "__sb_uuid__"


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {_BYTES: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Decimal):
        return {_DECIMAL: str(value)}
    if isinstance(value, dt.datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, dt.date):
        return {_DATE: value.isoformat()}
    if isinstance(value, dt.time):
        return {_TIME: value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {_UUID: str(value)}
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"value of type {type(value).__name__} cannot be stored in workflow history")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((key, raw),) = obj.items()
        if key == _BYTES:
            return base64.b64decode(raw)
        if key == _DECIMAL:
            return Decimal(raw)
        if key == _DATETIME:
            return dt.datetime.fromisoformat(raw)
        if key == _DATE:
            return dt.date.fromisoformat(raw)
        if key == _TIME:
            return dt.time.fromisoformat(raw)
        if key == _UUID:
            return uuid.UUID(raw)
    return obj


def dumps(data: dict[str, Any]) -> bytes:
    """Compact, key-sorted UTF-8 JSON (sorted so equal data always gives equal bytes)."""
    return json.dumps(data, default=_default, sort_keys=True, separators=(",", ":")).encode("utf-8")


# Exactly these types come back from loads(dumps(value)) as they went in (bool and None included).
_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})


def is_plain(value: Any) -> bool:
    """True when `loads(dumps(value))` would give back an equal value of the very same types: exact
    str/int/float/bool/None, lists and str-keyed dicts of them. A caller may then skip the parse (a
    tuple, a subclass like an enum, bytes or a non-str key is not plain: JSON would change it)."""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return True
    if kind is dict:
        return all(type(k) is str and is_plain(v) for k, v in value.items())
    if kind is list:
        return all(is_plain(v) for v in value)
    return False


def loads(raw: bytes) -> dict[str, Any]:
    value = json.loads(raw.decode("utf-8"), object_hook=_hook)
    if not isinstance(value, dict):
        raise ValueError("history event data must be a JSON object")
    return value


def plain_json(value: Any) -> str:
    """JSON text for values leaving the engine as strings (query results)."""
    return json.dumps(value, default=_default, sort_keys=True)
