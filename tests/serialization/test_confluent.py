"""Confluent wire format against the real registry: round trips, interop, evolution, failures."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient, record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.errors import (
    DecodeError,
    MalformedRecordError,
    RecordTooLargeError,
    SchemaNotRegisteredError,
    SchemaRegistryUnavailableError,
    UnknownSchemaError,
    WrongRecordTypeError,
)
from orchestrator.serialization import ConfluentSerde, DecodedRecord, SchemaRepository, make_serde
from tests.serialization.helpers import CHARGE, CHARGE_VALUE, ORDER_V1, ORDER_V2, RECORDS, REPO, schema_dir
from tests.serialization.strategies import values


@pytest.fixture(scope="module")
def serde(schema_registry_url: str) -> ConfluentSerde:
    return ConfluentSerde(REPO, schema_registry_url)


def namespaced(
    tmp_path: Path, unique_name: Callable[[str], str], current: dict[str, Any], **versions: dict[str, Any]
) -> tuple[SchemaRepository, str]:
    """A private copy of the evo.Order schemas in a unique namespace (subjects are global)."""
    namespace = unique_name("evo").replace("-", "_")

    def move(schema: dict[str, Any]) -> dict[str, Any]:
        return {**copy.deepcopy(schema), "namespace": namespace}

    root = schema_dir(tmp_path, move(current), **{k: move(v) for k, v in versions.items()})
    return SchemaRepository(root, include_builtin=False), f"{namespace}.Order"


def test_frame_is_zero_then_big_endian_registry_id(serde: ConfluentSerde, schema_registry_url: str) -> None:
    data = serde.encode(CHARGE, CHARGE_VALUE)
    schema_id = int.from_bytes(data[1:5], "big")
    assert data[0] == 0 and schema_id == serde.schema_id(CHARGE)
    fetched = SchemaRegistryClient({"url": schema_registry_url}).get_schema(schema_id)
    assert json.loads(fetched.schema_str or "{}")["name"] == CHARGE


@pytest.mark.parametrize("name", RECORDS)
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_schema_round_trips_through_the_registry(
    serde: ConfluentSerde, schema_registry_url: str, name: str, data: st.DataObject
) -> None:
    value = data.draw(values(REPO.schema(name)))
    encoded = serde.encode(name, value)
    assert serde.decode(encoded, name) == DecodedRecord(name, value)
    fresh = ConfluentSerde(REPO, schema_registry_url)  # no cache: the writer schema comes from the registry
    assert fresh.decode(encoded) == DecodedRecord(name, value)


def test_interoperates_with_confluent_kafka_avro_serializer(serde: ConfluentSerde, schema_registry_url: str) -> None:
    client = SchemaRegistryClient({"url": schema_registry_url})
    ctx = SerializationContext("any-topic", MessageField.VALUE)
    theirs = AvroSerializer(
        client, json.dumps(REPO.definition(CHARGE)), conf={"subject.name.strategy": record_subject_name_strategy}
    )(CHARGE_VALUE, ctx)
    assert theirs is not None
    assert serde.decode(theirs, CHARGE).value == CHARGE_VALUE
    assert AvroDeserializer(client)(serde.encode(CHARGE, CHARGE_VALUE), ctx) == CHARGE_VALUE


def test_v2_reader_reads_v1_records_and_v1_reader_reads_v2_records(
    tmp_path: Path, unique_name: Callable[[str], str], schema_registry_url: str
) -> None:
    v1_repo, name = namespaced(tmp_path / "v1", unique_name, ORDER_V1)
    v2_repo, _ = namespaced(tmp_path / "v2", lambda _: name.rpartition(".")[0], ORDER_V2)
    old = ConfluentSerde(v1_repo, schema_registry_url)
    new = ConfluentSerde(v2_repo, schema_registry_url)
    from_old = old.encode(name, {"id": "a", "qty": 1})
    from_new = new.encode(name, {"id": "b", "qty": 2, "note": "n", "coupon": None})
    assert from_old[1:5] != from_new[1:5]
    assert new.decode(from_old, name).value == {"id": "a", "qty": 1, "note": "", "coupon": None}
    assert old.decode(from_new, name).value == {"id": "b", "qty": 2}  # no local v2 file needed


def test_without_auto_registration_unregistered_schemas_fail_on_encode(
    tmp_path: Path, unique_name: Callable[[str], str], schema_registry_url: str
) -> None:
    repo, name = namespaced(tmp_path, unique_name, ORDER_V1)
    strict = make_serde("confluent", repo, schema_registry_url, auto_register=False)
    with pytest.raises(SchemaNotRegisteredError, match="orchestrator schemas register"):
        strict.encode(name, {"id": "a", "qty": 1})
    ConfluentSerde(repo, schema_registry_url).encode(name, {"id": "a", "qty": 1})  # registers
    data = make_serde("confluent", repo, schema_registry_url, auto_register=False).encode(name, {"id": "a", "qty": 1})
    assert strict.decode(data).value == {"id": "a", "qty": 1}


def test_bad_inputs_raise_decode_errors_with_reasons(serde: ConfluentSerde) -> None:
    good = serde.encode(CHARGE, CHARGE_VALUE)
    unknown_id = b"\x00" + (2**31 - 7).to_bytes(4, "big") + good[5:]
    for data, error in [
        (b"\x00\x00", MalformedRecordError),
        (b"\xc3\x01" + good, MalformedRecordError),
        (good[:-1], MalformedRecordError),
        (unknown_id, UnknownSchemaError),
        (unknown_id, UnknownSchemaError),
    ]:  # second time from the negative cache
        with pytest.raises(error):
            serde.decode(data)
    with pytest.raises(WrongRecordTypeError) as caught:
        serde.decode(good, "sagabridge.demo.orders.OrderPlaced")
    assert caught.value.reason == "wrong-record-type"
    with pytest.raises(RecordTooLargeError):
        ConfluentSerde(REPO, serde.registry_url, max_record_bytes=8, client=serde.client).decode(good)


def test_registry_outage_is_transient_not_a_decode_error(serde: ConfluentSerde) -> None:
    down = ConfluentSerde(
        REPO,
        "http://127.0.0.1:9",
        client=SchemaRegistryClient({"url": "http://127.0.0.1:9", "max.retries": 0, "timeout": 2}),
    )
    data = serde.encode(CHARGE, CHARGE_VALUE)
    with pytest.raises(SchemaRegistryUnavailableError) as caught:
        down.decode(data)
    assert not isinstance(caught.value, DecodeError)
    with pytest.raises(SchemaRegistryUnavailableError):
        down.encode(CHARGE, CHARGE_VALUE)
