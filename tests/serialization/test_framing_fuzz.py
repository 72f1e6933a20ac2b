"""Fuzzing both framings' decoders: bad bytes raise a DecodeError (a DLQ reason), nothing else.

Every consuming loop decodes through `decode_or_dead_letter`, which dead-letters DecodeError and
nothing else; any other exception from `decode` would escape the loop. So, for arbitrary bytes
and for damaged valid encodings (a flipped or truncated body, another record's writer schema in
the frame), with and without a reader schema: `decode` either raises a DecodeError or returns a
value that is valid for the schema it names (it re-encodes). No broker needed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.errors import DecodeError
from orchestrator.serialization import AvroSerde, DecodedRecord
from orchestrator.transport.dlq import decode_or_dead_letter
from orchestrator.transport.records import InboundRecord, OutboundRecord
from tests.serialization.helpers import CHARGE, RECORDS, REPO
from tests.serialization.mutations import FRAMINGS, FUZZ, encoded_records, frame_header, fuzz_serde, header_size

READERS = st.one_of(st.none(), st.sampled_from([CHARGE, *RECORDS]))


@pytest.fixture(params=FRAMINGS)
def serde(request: pytest.FixtureRequest) -> Iterator[AvroSerde]:
    yield fuzz_serde(request.param, REPO)


@pytest.fixture
def encoded(serde: AvroSerde) -> st.SearchStrategy[bytes]:
    """Valid encodings of every record schema in this framing (built once per test, not per example)."""
    return encoded_records(serde, REPO)


def check_decode(serde: AvroSerde, data: bytes, reader: str | None) -> None:
    try:
        decoded = serde.decode(data, reader)
    except DecodeError as exc:
        assert exc.reason  # the sb-dlq-reason it will carry
        return
    assert reader is None or decoded.schema_name == reader
    serde.encode(decoded.schema_name, decoded.value)  # a value its schema accepts, not half a record
    record = InboundRecord("in", 0, 7, b"k", data)
    assert decode_or_dead_letter(serde, record, "dlq", reader) == decoded


@FUZZ
@given(data=st.binary(max_size=128), reader=READERS)
def test_arbitrary_bytes_raise_only_decode_errors(serde: AvroSerde, data: bytes, reader: str | None) -> None:
    check_decode(serde, data, reader)


@FUZZ
@given(data=st.data(), reader=READERS)
def test_damaged_encodings_decode_to_a_valid_value_or_a_decode_error(
    serde: AvroSerde, encoded: st.SearchStrategy[bytes], data: st.DataObject, reader: str | None
) -> None:
    good = data.draw(encoded)
    size = header_size(serde)
    damage = data.draw(st.sampled_from(["flip", "truncate", "extend", "reframe"]))
    at = data.draw(st.integers(0, len(good) - 1))
    if damage == "flip":
        bad = good[:at] + bytes([good[at] ^ data.draw(st.integers(1, 255))]) + good[at + 1 :]
    elif damage == "truncate":
        bad = good[:at]
    elif damage == "extend":
        bad = good + data.draw(st.binary(min_size=1, max_size=16))
    else:  # the same body read with another record's writer schema
        bad = frame_header(serde, data.draw(st.sampled_from(RECORDS))) + good[size:]
    check_decode(serde, bad, reader)


@pytest.mark.parametrize("value", [None, b"", b"\x00", b"\xc3\x01"])
def test_empty_and_tombstone_records_go_to_the_dlq(serde: AvroSerde, value: bytes | None) -> None:
    out = decode_or_dead_letter(serde, InboundRecord("in", 0, 1, None, value), "dlq")
    assert isinstance(out, OutboundRecord) and not isinstance(out, DecodedRecord)
    assert out.header("sb-dlq-reason") == "malformed" and out.value == value
