"""Small builders shared by the serialization tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.serialization import SchemaRepository

# The built-in schemas, parsed once for every serialization test module.
REPO = SchemaRepository()
RECORDS = [n for n in REPO.names() if REPO.schema(n)["type"] == "record"]
CHARGE = "sagabridge.demo.payments.ChargePayment"
CHARGE_VALUE = {"order_id": "o-1", "customer_id": "c-1", "amount_cents": 1999, "currency": "EUR"}

ORDER_V1: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "namespace": "evo",
    "fields": [{"name": "id", "type": "string"}, {"name": "qty", "type": "int"}],
}
ORDER_V2: dict[str, Any] = {  # compatible both ways: only fields with defaults added
    "type": "record",
    "name": "Order",
    "namespace": "evo",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "qty", "type": "int"},
        {"name": "note", "type": "string", "default": ""},
        {"name": "coupon", "type": ["null", "string"], "default": None},
    ],
}
ORDER_V3_BROKEN: dict[str, Any] = {  # qty changed type, new field without default
    "type": "record",
    "name": "Order",
    "namespace": "evo",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "qty", "type": "string"},
        {"name": "owner", "type": "string"},
    ],
}


def schema_dir(root: Path, current: dict[str, Any], **versions: dict[str, Any]) -> Path:
    """A schemas dir with `current` as Name.avsc and `v1=...` etc. as Name.v1.avsc."""
    root.mkdir(parents=True, exist_ok=True)
    folder = root / current["namespace"]
    folder.mkdir(exist_ok=True)
    (folder / f"{current['name']}.avsc").write_text(json.dumps(current))
    for label, schema in versions.items():
        (folder / f"{schema['name']}.{label}.avsc").write_text(json.dumps(schema))
    return root
