"""Hypothesis strategies for hostile Kafka records: arbitrary bytes, and mutations of valid ones.

Arbitrary bytes mostly die at the frame check, so the fuzzers also start from *valid* records
(seeds) and mutate them the way real mistakes and attacks do: a field of the decoded record set
to an adversarial but schema-valid value (an unknown schema name, a foreign record in a bytes
field, an id with separators, extreme numbers), the frame's writer schema swapped for another
(type confusion), byte flips and truncation, protocol headers dropped, duplicated or garbled,
and keys that disagree with the body. `FUZZ` bounds the example count so `make test` and
`make unit` stay fast; `SAGABRIDGE_FUZZ_EXAMPLES=20000` runs a long campaign.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from orchestrator.serialization import FRAMINGS, AvroSerde, ConfluentSerde, Framing, SchemaRepository, SingleObjectSerde
from orchestrator.serialization.avro_model import INT_MAX, INT_MIN, LONG_MAX, LONG_MIN
from orchestrator.transport import header_names as h
from orchestrator.transport.records import InboundRecord
from tests.serialization.strategies import values

FUZZ_EXAMPLES = int(os.environ.get("SAGABRIDGE_FUZZ_EXAMPLES", "100"))
# The engine under test keeps its state across examples on purpose (garbage arrives at a live
# engine), hence the function-scoped fixtures; deadlines would only measure the shared machine.
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

__all__ = ["FRAMINGS", "FUZZ", "Mutator", "arbitrary_batches", "fuzz_serde", "interesting_text"]


def fuzz_serde(framing: Framing, repo: SchemaRepository) -> AvroSerde:
    """The serde of a framing, without a server: the Confluent framing talks to confluent_kafka's
    in-memory registry (`mock://`). The frame parsing and id lookups under test are ours; the real
    registry path is covered by tests/serialization/test_confluent.py."""
    if framing == "single-object":
        return SingleObjectSerde(repo)
    url = f"mock://fuzz-{id(repo)}"
    return ConfluentSerde(repo, url, client=SchemaRegistryClient.new_client({"url": url}))


PROTOCOL_HEADERS = (
    h.WORKFLOW_ID,
    h.COMMAND_ID,
    h.ATTEMPT,
    h.REPLY_TO,
    h.COMMAND_TYPE,
    h.REPLY_STATUS,
    h.ERROR_TYPE,
    h.ERROR_MESSAGE,
    h.RETRYABLE,
    h.TRACEPARENT,
    h.TRACESTATE,
)


def interesting_text(repo: SchemaRepository, ids: Sequence[str] = ()) -> st.SearchStrategy[str]:
    """Strings that mean something to a decoder: names, ids, numbers, separators, edge cases."""
    pool = [
        "",
        " ",
        "0",
        "1",
        "2",
        "-1",
        "+1",
        " 1",
        "1_0",
        "\u0663",  # ARABIC-INDIC DIGIT THREE: int() takes it
        "9" * 25,
        "1" + "0" * 4400,  # int() refuses more than 4,300 digits
        "1e3",
        "true",
        "false",
        "TRUE",
        "success",
        "failure",
        "SUCCESS",
        "RETRY",
        "SKIP",
        "COMPENSATE",
        "CANCEL",
        "retry",
        "completed",
        "failed",
        "compensated",
        "cancelled",
        "app.events",
        "app.inbox",
        "bad topic!",
        "x" * 300,
        "a/b",
        "%2F",
        "\x00",
        "\ud7ff",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "no.such.Schema",
        *repo.names(),
        *ids,
        *(f"{i}/{n}" for i in ids for n in ("1", "2", "0", "-1", "x", "")),
    ]
    return st.one_of(st.sampled_from(pool), st.text(max_size=24))


def frame_header(serde: AvroSerde, schema_name: str) -> bytes:
    """The bytes that name `schema_name` as the writer in this framing."""
    if isinstance(serde, SingleObjectSerde):
        return b"\xc3\x01" + serde.repo.entry(schema_name).fingerprint
    if isinstance(serde, ConfluentSerde):
        return b"\x00" + serde.schema_id(schema_name).to_bytes(4, "big")
    raise TypeError(f"no frame for {type(serde).__name__}")


def header_size(serde: AvroSerde) -> int:
    return 10 if isinstance(serde, SingleObjectSerde) else 5


def encoded_records(serde: AvroSerde, repo: SchemaRepository) -> st.SearchStrategy[bytes]:
    """A valid encoding of a random value of a random record schema (a stranger in a bytes field)."""
    records = [n for n in repo.names() if repo.schema(n)["type"] == "record"]
    return st.one_of(
        [values(repo.schema(n)).map(lambda v, name=n: serde.encode(name, v)) for n in records]  # type: ignore[misc]
    )


class Mutator:
    """Builds `records(seeds)`: each example is one seed with one to four mutations applied."""

    def __init__(self, serde: AvroSerde, repo: SchemaRepository, ids: Sequence[str] = ()) -> None:
        self.serde = serde
        self.repo = repo
        self.text = interesting_text(repo, ids)
        self.raw = st.one_of(self.text.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=24))
        self.embedded = st.one_of(st.binary(max_size=48), encoded_records(serde, repo))
        self.records_names = [n for n in repo.names() if repo.schema(n)["type"] == "record"]
        self._fields: dict[str, list[tuple[str, st.SearchStrategy[Any]]]] = {}
        # mostly the protocol's own names, now and then any other
        self.header_names = st.sampled_from([*PROTOCOL_HEADERS, "x-other"]).flatmap(
            lambda n: st.text(max_size=12) if n == "x-other" else st.just(n)
        )

    # -- the strategy ----------------------------------------------------------------------------
    def records(self, seeds: Sequence[InboundRecord]) -> st.SearchStrategy[InboundRecord]:
        # One composite for everything: building strategies per draw (nested composites) makes
        # Hypothesis re-read this file's source each time, which costs more than the test.
        @st.composite
        def mutated(draw: st.DrawFn) -> InboundRecord:
            record = draw(st.sampled_from(list(seeds)))
            for _ in range(draw(st.integers(1, 4))):
                record = self._mutate(draw, record)
            return record

        return mutated()

    def _mutate(self, draw: st.DrawFn, record: InboundRecord) -> InboundRecord:
        # Headers twice: most of the protocol lives there, and most header bugs need a specific one.
        kinds = ["headers", "headers", "key"]
        kinds += ["field", "bytes", "reframe", "tombstone"] if record.value is not None else []
        kind = draw(st.sampled_from(kinds))
        if kind == "headers":
            return self._headers(draw, record)
        if kind == "key":
            return replace(record, key=draw(st.one_of(st.none(), self.raw)))
        if kind == "field":
            return self._field(draw, record)
        if kind == "bytes":
            return self._bytes(draw, record)
        if kind == "reframe":
            return self._reframe(draw, record)
        return replace(record, value=None)

    # -- value: a schema-valid but adversarial field ---------------------------------------------
    def _field(self, draw: st.DrawFn, record: InboundRecord) -> InboundRecord:
        assert record.value is not None
        try:
            decoded = self.serde.decode(record.value)
        except Exception:  # an earlier mutation broke it: mutate the bytes instead
            return self._bytes(draw, record)
        name, strategy = draw(st.sampled_from(self._field_strategies(decoded.schema_name)))
        value = {**decoded.value, name: draw(strategy)}
        return replace(record, value=self.serde.encode(decoded.schema_name, value))

    def _field_strategies(self, schema_name: str) -> list[tuple[str, st.SearchStrategy[Any]]]:
        """(field, adversarial value strategy) per field; built once per schema (building is slow)."""
        cached = self._fields.get(schema_name)
        if cached is None:
            schema = self.repo.schema(schema_name)
            named = schema.get("__named_schemas", {})
            cached = [(f["name"], self._adversarial(f["type"], named)) for f in schema["fields"]]
            self._fields[schema_name] = cached
        return cached

    def _adversarial(self, avro_type: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
        if isinstance(avro_type, list):
            return st.one_of([self._adversarial(branch, named) for branch in avro_type])
        if isinstance(avro_type, str) and avro_type in named:
            return self._adversarial(named[avro_type], named)
        kind = avro_type if isinstance(avro_type, str) else avro_type["type"]
        if kind == "string":
            return self.text
        if kind == "bytes":
            return self.embedded
        if kind == "long":
            return st.one_of(st.sampled_from([0, -1, 1, 2, LONG_MIN, LONG_MAX]), st.integers(LONG_MIN, LONG_MAX))
        if kind == "int":
            return st.one_of(st.sampled_from([0, -1, 1, INT_MIN, INT_MAX]), st.integers(INT_MIN, INT_MAX))
        if kind == "map":
            return st.dictionaries(self.text, self._adversarial(avro_type["values"], named), max_size=3)
        return values(avro_type, named)

    # -- value: bytes and frames ------------------------------------------------------------------
    def _bytes(self, draw: st.DrawFn, record: InboundRecord) -> InboundRecord:
        data = record.value or b""
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "append", "replace"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            value = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif kind == "truncate":
            value = data[:at]
        elif kind == "insert":
            value = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        elif kind == "append":
            value = data + draw(st.binary(min_size=1, max_size=8))
        else:
            value = draw(st.binary(max_size=64))
        return replace(record, value=value)

    def _reframe(self, draw: st.DrawFn, record: InboundRecord) -> InboundRecord:
        """Same body, another writer schema: the reader walks the bytes with the wrong map."""
        name = draw(st.sampled_from(self.records_names))
        return replace(record, value=frame_header(self.serde, name) + (record.value or b"")[header_size(self.serde) :])

    # -- headers ----------------------------------------------------------------------------------
    def _headers(self, draw: st.DrawFn, record: InboundRecord) -> InboundRecord:
        headers = list(record.headers)
        kind = draw(st.sampled_from(["drop", "set", "add", "clear"] if headers else ["add"]))
        if kind == "drop":
            del headers[draw(st.integers(0, len(headers) - 1))]
        elif kind == "clear":
            headers.clear()
        else:
            name = draw(self.header_names)
            if kind == "set":
                headers = [(n, v) for n, v in headers if n != name]
            headers.append((name, draw(self.raw)))
        return replace(record, headers=tuple(headers))


def arbitrary_batches(
    topic: str, repo: SchemaRepository, ids: Sequence[str] = ()
) -> st.SearchStrategy[list[InboundRecord]]:
    """1-3 structureless records in a row: one bad record must not poison the next either."""
    return st.lists(_arbitrary_records(topic, interesting_text(repo, ids)), min_size=1, max_size=3)


def _arbitrary_records(topic: str, text: st.SearchStrategy[str]) -> st.SearchStrategy[InboundRecord]:
    """Records with no structure at all: random key, value and headers (protocol names included)."""
    header = st.tuples(
        st.one_of(st.sampled_from(PROTOCOL_HEADERS), st.text(max_size=12)),
        st.one_of(st.binary(max_size=24), text.map(lambda t: t.encode("utf-8", "surrogatepass"))),
    )
    return st.builds(
        InboundRecord,
        topic=st.just(topic),
        partition=st.just(0),
        offset=st.integers(0, 2**40),
        key=st.one_of(st.none(), st.binary(max_size=24)),
        value=st.one_of(st.none(), st.binary(max_size=96)),
        headers=st.lists(header, max_size=5).map(tuple),
    )
