"""Typed models: generated classes match the schemas, round-trip, validate, self-register."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.orders.models.payments import ChargePayment
from orchestrator.models.control import OperatorAction, OperatorActionType
from orchestrator.serialization import SchemaRepository, SingleObjectSerde, decode_model, encode_model, model_for
from orchestrator.serialization.codegen import BUILTIN_MAPPING, PackageMapping, generate, write
from orchestrator.serialization.repository import BUILTIN_SCHEMAS_DIR
from tests.serialization.strategies import values

REPO = SchemaRepository(BUILTIN_SCHEMAS_DIR)
RECORDS = [n for n in REPO.names() if REPO.schema(n)["type"] == "record"]
MODELS_DIR = Path(__file__).resolve().parents[2] / "orchestrator" / "models"


def test_generated_models_are_up_to_date_with_the_schemas() -> None:
    stale = write(generate(REPO, [BUILTIN_MAPPING]), MODELS_DIR, check=True)
    assert stale == [], "run `orchestrator schemas codegen` and commit the result"


def test_every_record_has_a_registered_model_with_the_same_fields() -> None:
    for name in RECORDS:
        model = model_for(name)
        assert model is not None, name
        assert model.avro_schema_name == name
        avro_fields = [f["name"] for f in REPO.schema(name)["fields"]]
        assert [f.alias or n for n, f in model.model_fields.items()] == avro_fields
    assert model_for("no.such.Record") is None


@pytest.mark.parametrize("name", RECORDS)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_models_round_trip_values_and_bytes(name: str, data: st.DataObject) -> None:
    serde = SingleObjectSerde(REPO)
    model_cls = model_for(name)
    assert model_cls is not None
    value = data.draw(values(REPO.schema(name)))
    model = model_cls.from_avro(value)
    assert model.to_avro() == value
    encoded = encode_model(serde, model)
    assert encoded == serde.encode(name, value)
    assert decode_model(serde, encoded, model_cls) == model


def test_models_validate_ranges_unknown_fields_and_are_immutable() -> None:
    with pytest.raises(pydantic.ValidationError):
        ChargePayment(order_id="o", customer_id="c", amount_cents=2**63, currency="EUR")
    with pytest.raises(pydantic.ValidationError):
        ChargePayment.from_avro({"order_id": "o", "customer_id": "c", "amount_cents": 1, "currency": "EUR", "typo": 1})
    action = OperatorAction(workflow_id="w", action=OperatorActionType.SKIP, operator="op", reason="r")
    with pytest.raises(pydantic.ValidationError):
        action.reason = "changed"
    assert OperatorAction.from_avro({**action.to_avro(), "action": "RETRY"}).action is OperatorActionType.RETRY


EDGE = {
    "type": "record",
    "name": "Edge",
    "namespace": "acme.edge",
    "doc": "Tricky names and defaults.",
    "fields": [
        {"name": "from", "type": "string", "doc": "a Python keyword"},
        {"name": "json", "type": "int", "default": 3},
        {"name": "_id", "type": "long", "default": 0},
        {"name": "model_x", "type": "boolean", "default": True},
        {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "None"]}, "default": "RED"},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": ["a"]},
        {"name": "attrs", "type": {"type": "map", "values": "double"}, "default": {}},
        {"name": "blob", "type": "bytes", "default": "\u00ff\u0000"},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 2}},
        {"name": "next", "type": ["null", "Edge"], "default": None},
        {
            "name": "err",
            "type": "sagabridge.protocol.StepError",
            "default": {"error_type": "E", "message": "m", "retryable": False},
        },
        {"name": "when", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "either", "type": ["int", "string"]},
    ],
}


def test_codegen_handles_keywords_reserved_names_defaults_recursion_and_other_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schemas = tmp_path / "schemas" / "acme" / "edge"
    schemas.mkdir(parents=True)
    (schemas / "Edge.avsc").write_text(json.dumps(EDGE))
    repo = SchemaRepository(tmp_path / "schemas")
    out = tmp_path / "src" / "acmemodels"
    files = generate(repo, [PackageMapping("acme", "acmemodels"), BUILTIN_MAPPING])
    assert write(files, out) and write(files, out, check=True) == []
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    try:
        module = importlib.import_module("acmemodels.edge")
        edge_cls = module.Edge
        import datetime as dt

        when = dt.datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC)
        edge = edge_cls(from_="x", hash=b"ab", when=when, either="s")
        assert edge.json_ == 3 and edge.f_id == 0 and edge.model_x_ is True
        assert edge.color is module.Color.RED and module.Color.None_ == "None"
        assert edge.tags == ["a"] and edge.blob == b"\xff\x00" and edge.err.error_type == "E"
        avro = edge.to_avro()
        assert avro["from"] == "x" and avro["_id"] == 0 and "from_" not in avro
        serde = SingleObjectSerde(repo)
        nested = edge_cls(from_="outer", hash=b"cd", when=when, either=5, next=edge)
        assert decode_model(serde, encode_model(serde, nested), edge_cls) == nested
        assert model_for("acme.edge.Edge") is edge_cls
    finally:
        for name in [m for m in sys.modules if m.startswith("acmemodels")]:
            del sys.modules[name]
