"""Registry-less single-object framing: exact frame, round trips, and every bad-input kind."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.errors import (
    EncodeError,
    MalformedRecordError,
    RecordTooLargeError,
    SchemaNotFoundError,
    UnknownSchemaError,
    WrongRecordTypeError,
)
from orchestrator.serialization import DecodedRecord, SingleObjectSerde, make_serde
from tests.serialization.helpers import CHARGE, CHARGE_VALUE, RECORDS, REPO
from tests.serialization.strategies import values


@pytest.fixture(scope="module")
def serde() -> SingleObjectSerde:
    return SingleObjectSerde(REPO)


def test_frame_is_c301_then_little_endian_fingerprint_then_body(serde: SingleObjectSerde) -> None:
    data = serde.encode(CHARGE, CHARGE_VALUE)
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == REPO.entry(CHARGE).fingerprint
    assert data[10:12] == b"\x06o"  # zig-zag length 3, then "o-1"


def test_make_serde_defaults_to_single_object() -> None:
    assert isinstance(make_serde("single-object", REPO), SingleObjectSerde)


@pytest.mark.parametrize("name", RECORDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_schema_round_trips(serde: SingleObjectSerde, name: str, data: st.DataObject) -> None:
    value = data.draw(values(REPO.schema(name)))
    encoded = serde.encode(name, value)
    assert serde.decode(encoded) == DecodedRecord(name, value)
    assert serde.decode(encoded, name) == DecodedRecord(name, value)


def test_decode_errors_carry_their_dlq_reason(serde: SingleObjectSerde) -> None:
    good = serde.encode(CHARGE, CHARGE_VALUE)
    cases: list[tuple[bytes, type[Exception], str]] = [
        (b"", MalformedRecordError, "malformed"),
        (b"\x00\x00\x00\x00\x01garbage", MalformedRecordError, "malformed"),
        (good[:-2], MalformedRecordError, "malformed"),
        (good + b"\x00", MalformedRecordError, "malformed"),
        (b"\xc3\x01" + bytes(8) + good[10:], UnknownSchemaError, "unknown-schema"),
        (good[:10] + b"\xff" * 40, MalformedRecordError, "malformed"),
    ]
    for data, error, reason in cases:
        with pytest.raises(error) as caught:
            serde.decode(data)
        assert caught.value.reason == reason  # type: ignore[attr-defined]


def test_wrong_record_type_for_the_expected_reader(serde: SingleObjectSerde) -> None:
    data = serde.encode(CHARGE, CHARGE_VALUE)
    with pytest.raises(WrongRecordTypeError, match=r"expected sagabridge\.demo\.orders\.OrderPlaced") as caught:
        serde.decode(data, "sagabridge.demo.orders.OrderPlaced")
    assert caught.value.reason == "wrong-record-type"


def test_oversized_records_are_rejected_before_parsing() -> None:
    small = SingleObjectSerde(REPO, max_record_bytes=64)
    big = SingleObjectSerde(REPO).encode(CHARGE, {**CHARGE_VALUE, "order_id": "x" * 100})
    with pytest.raises(RecordTooLargeError) as caught:
        small.decode(big)
    assert caught.value.reason == "too-large"
    with pytest.raises(EncodeError, match="over the 64-byte limit"):
        small.encode(CHARGE, {**CHARGE_VALUE, "order_id": "x" * 100})


def test_encode_names_the_bad_field_and_unknown_schemas(serde: SingleObjectSerde) -> None:
    with pytest.raises(EncodeError, match="amount_cents"):
        serde.encode(CHARGE, {**CHARGE_VALUE, "amount_cents": "lots"})
    with pytest.raises(EncodeError, match="currency"):
        serde.encode(CHARGE, {k: v for k, v in CHARGE_VALUE.items() if k != "currency"})
    with pytest.raises(SchemaNotFoundError):
        serde.encode("nope.Nope", {})
    with pytest.raises(EncodeError, match="not a record"):
        serde.encode("sagabridge.control.OperatorActionType", {})


def test_reader_name_unknown_locally_is_a_programming_error(serde: SingleObjectSerde) -> None:
    with pytest.raises(SchemaNotFoundError):
        serde.decode(serde.encode(CHARGE, CHARGE_VALUE), "nope.Nope")
