"""Reader/writer schema resolution in the registry-less framing (v1 <-> v2, and what fails)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import IncompatibleSchemaError, UnknownSchemaError, WrongRecordTypeError
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.serialization.compat import reader_incompatibilities
from tests.serialization.helpers import ORDER_V1, ORDER_V2, ORDER_V3_BROKEN, schema_dir


def serde(root: Path) -> SingleObjectSerde:
    return SingleObjectSerde(SchemaRepository(root, include_builtin=False))


def test_reader_on_v2_reads_v1_records_filling_defaults(tmp_path: Path) -> None:
    old = serde(schema_dir(tmp_path / "old", ORDER_V1))
    new = serde(schema_dir(tmp_path / "new", ORDER_V2, v1=ORDER_V1))
    data = old.encode("evo.Order", {"id": "a", "qty": 2})
    decoded = new.decode(data, "evo.Order")
    assert decoded.value == {"id": "a", "qty": 2, "note": "", "coupon": None}
    assert new.decode(data).value == {"id": "a", "qty": 2}  # no reader: the writer's shape


def test_reader_on_v1_reads_v2_records_when_it_knows_the_v2_fingerprint(tmp_path: Path) -> None:
    new = serde(schema_dir(tmp_path / "new", ORDER_V2))
    old_unaware = serde(schema_dir(tmp_path / "old", ORDER_V1))
    old_aware = serde(schema_dir(tmp_path / "old2", ORDER_V1, v2=ORDER_V2))
    data = new.encode("evo.Order", {"id": "a", "qty": 2, "note": "hi", "coupon": "X"})
    assert old_aware.decode(data, "evo.Order").value == {"id": "a", "qty": 2}
    with pytest.raises(UnknownSchemaError):  # registry-less: an unknown writer cannot be resolved
        old_unaware.decode(data, "evo.Order")


def test_incompatible_writer_is_reported_with_reasons_not_garbage(tmp_path: Path) -> None:
    broken = serde(schema_dir(tmp_path / "b", ORDER_V3_BROKEN))
    reader = serde(schema_dir(tmp_path / "r", ORDER_V1, v3=ORDER_V3_BROKEN))
    data = broken.encode("evo.Order", {"id": "a", "qty": "2", "owner": "o"})
    with pytest.raises(IncompatibleSchemaError, match=r"evo.Order.qty: type changed from string to int") as caught:
        reader.decode(data, "evo.Order")
    assert caught.value.reason == "incompatible-schema"
    assert isinstance(caught.value, WrongRecordTypeError)


def test_renamed_record_resolves_through_an_alias(tmp_path: Path) -> None:
    renamed = {**ORDER_V2, "name": "Purchase", "aliases": ["Order"]}
    old = serde(schema_dir(tmp_path / "old", ORDER_V1))
    new = serde(schema_dir(tmp_path / "new", renamed, v1=ORDER_V1))
    data = old.encode("evo.Order", {"id": "a", "qty": 1})
    decoded = new.decode(data, "evo.Purchase")
    assert decoded.schema_name == "evo.Purchase"
    assert decoded.value["qty"] == 1


def test_promotion_int_to_long_and_field_alias(tmp_path: Path) -> None:
    v2 = {
        **ORDER_V1,
        "fields": [{"name": "id", "type": "string"}, {"name": "quantity", "type": "long", "aliases": ["qty"]}],
    }
    old = serde(schema_dir(tmp_path / "old", ORDER_V1))
    new = serde(schema_dir(tmp_path / "new", v2, v1=ORDER_V1))
    assert new.decode(old.encode("evo.Order", {"id": "a", "qty": 7}), "evo.Order").value == {"id": "a", "quantity": 7}


def test_compat_checker_rules(tmp_path: Path) -> None:
    repo = SchemaRepository(schema_dir(tmp_path, ORDER_V2, v1=ORDER_V1, v3=ORDER_V3_BROKEN), include_builtin=False)
    v1, v2, v3 = (e.parsed for e in sorted(repo.versions("evo.Order"), key=lambda e: e.version or 2))
    assert reader_incompatibilities(v2, v1) == []
    assert reader_incompatibilities(v1, v2) == []
    problems = [str(p) for p in reader_incompatibilities(v3, v1)]
    assert problems == [
        "evo.Order.qty: type changed from int to string (not a promotion)",
        "evo.Order.owner: field is missing in the writer schema and has no default",
    ]
    enum_w = {"type": "enum", "name": "E", "symbols": ["A", "B"]}
    enum_r = {"type": "enum", "name": "E", "symbols": ["A"]}
    assert reader_incompatibilities(enum_r, enum_w)[0].message.startswith("enum symbols ['B'] removed")
    assert reader_incompatibilities({**enum_r, "default": "A"}, enum_w) == []
    assert reader_incompatibilities(["null", "string"], "string") == []
    assert reader_incompatibilities("string", ["null", "string"])[0].message.startswith("type changed from null")
    assert reader_incompatibilities({"type": "array", "items": "long"}, {"type": "array", "items": "int"}) == []
