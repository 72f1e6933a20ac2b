"""Pure pieces: key layout, the per-record write overlay, history JSON."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.engine import jsonvalue, keys
from orchestrator.engine.overlay import OverlayTxn
from orchestrator.testing.memory_store import MemoryStore
from orchestrator.workflow import WorkflowStatus


def test_ids_with_separators_never_share_a_prefix() -> None:
    a_start, a_end = keys.history_range("a")
    nested = keys.history_key("a/b", 1)
    assert not (a_start <= nested < a_end)
    assert a_start <= keys.history_key("a", 10**9) < a_end
    assert keys.parse_timer_key(keys.timer_key(5, "a/b%c", 7)) == keys.TimerKey(5, "a/b%c", 7)
    assert keys.parse_retention_key(keys.retention_key(9, "x/y")) == keys.RetentionKey(9, "x/y")


@given(st.lists(st.integers(min_value=0, max_value=10**14), min_size=2, max_size=20))
def test_timer_keys_sort_by_due_time(dues: list[int]) -> None:
    ordered = sorted(keys.timer_key(d, "wf", 1) for d in dues)
    assert [keys.parse_timer_key(x).due_ms for x in ordered] == sorted(dues)
    start, end = keys.timers_due_range(dues[0])
    assert all((start <= keys.timer_key(d, "w", 0) < end) == (d <= dues[0]) for d in dues)


ops = st.lists(
    st.tuples(
        st.sampled_from(["put", "delete"]), st.sampled_from([b"a", b"b", b"c", b"d", b"e"]), st.binary(max_size=3)
    ),
    max_size=30,
)


@given(base=ops, mine=ops, flush=st.booleans())
def test_overlay_is_a_read_your_writes_buffer(base: list, mine: list, flush: bool) -> None:  # type: ignore[type-arg]
    under = MemoryStore().begin()
    for op, key, value in base:
        under.put(key, value) if op == "put" else under.delete(key)
    model = dict(under.scan(b"", b"\xff"))
    overlay = OverlayTxn(under)
    for op, key, value in mine:
        if op == "put":
            overlay.put(key, value)
            model[key] = value
        else:
            overlay.delete(key)
            model.pop(key, None)
    assert list(overlay.scan(b"b", b"e")) == sorted((kk, v) for kk, v in model.items() if b"b" <= kk < b"e")
    assert all(overlay.get(kk) == model.get(kk) for kk in (b"a", b"b", b"c", b"d", b"e"))
    if flush:
        overlay.flush()
        assert dict(under.scan(b"", b"\xff")) == model


def test_history_json_round_trips_avro_values() -> None:
    data = {
        "b": b"\x00\xff",
        "d": Decimal("1.25"),
        "t": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "day": dt.date(2024, 1, 2),
        "u": uuid.UUID(int=7),
        "n": [1, {"x": None}],
        "s": "plain",
    }
    assert jsonvalue.loads(jsonvalue.dumps(data)) == data


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=4),
    st.binary(max_size=2),
    st.sampled_from([WorkflowStatus.RUNNING, Decimal("1.5")]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner),
        st.dictionaries(st.text(max_size=3), inner, max_size=3),
        st.dictionaries(st.integers(0, 3), inner, max_size=2),  # JSON turns the keys into str
    ),
    max_leaves=8,
)


def _typed(value: object) -> object:
    """`value` with every type spelled out, so 1 == 1.0 == True cannot pass for one another."""
    if isinstance(value, dict):
        return ("dict", sorted((repr(k), _typed(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_typed(v) for v in value])
    return (type(value).__name__, repr(value))


@given(st.dictionaries(st.text(max_size=3), _values, max_size=4))
def test_plain_history_data_is_exactly_what_the_json_round_trip_gives(data: dict[str, object]) -> None:
    """WorkflowStore.append skips the parse of plain data: that must never change what the code sees."""
    round_tripped = jsonvalue.loads(jsonvalue.dumps(data))
    if jsonvalue.is_plain(data):
        assert _typed(round_tripped) == _typed(data)


def test_values_json_would_change_are_not_plain() -> None:
    for value in ({"t": (1,)}, {"k": {1: "x"}}, {"s": WorkflowStatus.RUNNING}, {"b": b""}, {"d": Decimal(1)}):
        assert not jsonvalue.is_plain(value), value
    assert jsonvalue.is_plain({"a": [1, 2.5, None, True, {"b": "c"}]})
