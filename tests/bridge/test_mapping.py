"""The Kafka-free half of the bridge: mapping files, expressions, matching, DLQ rules, check, outbound.

No broker: `make unit` runs these. Hypothesis feeds the processor arbitrary bytes and arbitrary
JSON: whatever arrives, the outcome is inbox records or exactly one DLQ record, never an exception.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from examples.orders.models.payments import ChargePayment
from orchestrator.bridge import (
    ConnectorConfig,
    InboxRecordKind,
    MappingConfigError,
    MissingFieldError,
    Template,
    load_connector_file,
    parse_connector_config,
)
from orchestrator.bridge.check import MappingChecker
from orchestrator.bridge.cli import check_config
from orchestrator.bridge.events import decode_event
from orchestrator.bridge.expressions import Expression
from orchestrator.bridge.matching import Matcher, SignalEffect, StartEffect
from orchestrator.bridge.outbound import NativeCommandRouter
from orchestrator.bridge.processor import ConnectorStats, EventProcessor
from orchestrator.engine.state_records import Header, StepRecord, StepStatus
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.transport.records import InboundRecord, make_headers
from orchestrator.workflow import RetryPolicy, WorkflowStatus

ROOT = Path(__file__).resolve().parents[2]
REPO = SchemaRepository()
SERDE = SingleObjectSerde(REPO)
ORDER_INPUT = {
    "order_id": "value.orderId",
    "customer_id": "value.customer",
    "sku": "value.sku",
    "quantity": "value.qty",
    "amount_cents": "value.cents",
    "currency": "'EUR'",
}


def cfg(**trigger: Any) -> ConnectorConfig:
    base = {
        "name": "t",
        "topics": ["orders"],
        "correlation": "order-{value.orderId}",
        "action": "start",
        "workflow_type": "wf",
        "input_schema": "sagabridge.demo.orders.OrderPlaced",
        "input": ORDER_INPUT,
    }
    return parse_connector_config(
        {"domain": "d", "source": [{"topic": "orders", "event_type": "value.type"}], "trigger": [base | trigger]}
    )


def record(
    value: Any, *, topic: str = "orders", offset: int = 0, headers: dict[str, str] | None = None, **named: str
) -> InboundRecord:
    """A source record; headers by keyword (`ce_id=...`), or in `headers` for names that are not identifiers."""
    raw = value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
    return InboundRecord(topic, 0, offset, b"k", raw, make_headers({**named, **(headers or {})}))


def order(**extra: Any) -> dict[str, Any]:
    return {"type": "OrderPlaced", "orderId": "o1", "customer": "c", "sku": "s", "qty": 1, "cents": 5, **extra}


# --- expressions and templates ---------------------------------------------------------------


def test_templates_mix_text_and_expressions_with_escapes_and_quotes() -> None:
    ctx = {"value": {"id": 7, "name": "a}b"}, "headers": {"ce_id": "x"}}
    assert Template("order-{value.id}").render(ctx, "t") == "order-7"
    assert Template("{{{value.id}}}").render(ctx, "t") == "{7}"
    assert Template("{value.name}-{headers.ce_id}").render(ctx, "t") == "a}b-x"
    assert Template("headers.ce_id").render(ctx, "t") == "x"  # no braces: one expression
    assert Template("{join('-', ['a', 'b'])}").render(ctx, "t") == "a-b"
    with pytest.raises(MissingFieldError) as missing:
        Template("order-{value.orderId}").render(ctx, "correlation")
    assert missing.value.field_path == "value.orderId"


@pytest.mark.parametrize("bad", ["order-{value.", "a}b", "{ }", "value.[", "value.a ==="])
def test_bad_expressions_fail_at_load_naming_the_setting(bad: str) -> None:
    with pytest.raises(MappingConfigError) as err:
        cfg(correlation=bad)
    assert "trigger[t].correlation" in str(err.value)


def test_field_paths_of_expressions() -> None:
    assert Expression("value.item.sku").field_paths() == {("value", "item", "sku")}
    assert Expression("value.lines[0].qty").field_paths() == {("value", "lines", "[]", "qty")}
    assert Expression("value.lines[*].sku").field_paths() == {("value", "lines"), ("value", "lines", "[]", "sku")}
    assert Expression("value.a || headers.b").field_paths() == {("value", "a"), ("headers", "b")}
    assert Expression("to_string(value.n)").field_paths() == {("value", "n")}
    assert Expression("'EUR'").field_paths() == set()


# --- the mapping model ---------------------------------------------------------------------------


def test_actions_and_policies_decide_the_inbox_record() -> None:
    sig = {"signal": "paid", "action": "signal"}
    assert cfg().triggers[0].kind is InboxRecordKind.START
    assert cfg(on_existing="signal", signal="s").triggers[0].kind is InboxRecordKind.SIGNAL_WITH_START
    assert cfg(**sig).triggers[0].kind is InboxRecordKind.SIGNAL
    assert cfg(**sig, on_missing="start").triggers[0].kind is InboxRecordKind.SIGNAL_WITH_START
    assert cfg(action="signal-with-start", signal="s").triggers[0].kind is InboxRecordKind.SIGNAL_WITH_START


@pytest.mark.parametrize(
    ("trigger", "problem"),
    [
        ({"action": "signal"}, "needs signal"),
        ({"action": "start", "on_missing": "buffer"}, "on_missing can only be 'start'"),
        ({"action": "signal", "signal": "s", "on_existing": "ignore"}, "on_existing can only be 'signal'"),
        ({"workflow_type": None}, "needs workflow_type"),
        ({"buffer_ttl": "1m"}, "buffer_ttl only applies"),
        ({"action": "signal", "signal": "s", "on_missing": "buffer", "buffer_ttl": "soon"}, "duration"),
        ({"topics": ["elsewhere"]}, "not declared under [[source]]"),
        ({"payload": {"a": "value.a"}, "on_existing": "signal", "signal": "s"}, "needs payload_schema"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_inconsistent_triggers_are_refused_with_the_reason(trigger: dict[str, Any], problem: str) -> None:
    with pytest.raises(MappingConfigError) as err:
        cfg(**trigger)
    assert problem in str(err.value)


def test_the_same_objects_from_python_and_a_toml_file(tmp_path: Path) -> None:
    from orchestrator.bridge import FieldMap, SourceTopic, Trigger, TriggerAction

    trigger = Trigger(
        name="t",
        topics=("orders",),
        correlation=Template("order-{value.orderId}"),
        action=TriggerAction.START,
        workflow_type="wf",
        input_schema="sagabridge.demo.orders.OrderPlaced",
        input=FieldMap.build(ORDER_INPUT, "input"),
    )
    source = SourceTopic(topic="orders", event_type=Expression("value.type"))
    built = ConnectorConfig(domain="d", sources=(source,), triggers=(trigger,))
    assert built.model_dump(by_alias=True) == cfg().model_dump(by_alias=True)
    path = tmp_path / "d.toml"
    path.write_text('domain = "d"\nschemas_dir = "avro"\n[[source]]\ntopic = "t"\n')
    (tmp_path / "avro").mkdir()
    assert load_connector_file(path).schemas_dir == ((tmp_path / "avro").resolve(),)


# --- decoding and matching -----------------------------------------------------------------------


def test_cloudevents_binary_and_structured_modes() -> None:
    source = cfg().sources[0].model_copy(update={"event_type": None})
    binary = decode_event(record({"orderId": "o1"}, ce_type="shop.OrderPlaced", ce_id="e1"), source, None)
    assert (binary.event_type, binary.cloudevent["id"]) == ("shop.OrderPlaced", "e1")
    assert binary.matches_type("OrderPlaced")
    envelope = {"specversion": "1.0", "id": "e2", "type": "OrderPlaced", "source": "/shop", "data": {"orderId": "o2"}}
    structured = decode_event(record(envelope, headers={"content-type": "application/cloudevents+json"}), source, None)
    assert structured.value == {"orderId": "o2"} and structured.context["ce"]["source"] == "/shop"


def test_matching_by_type_and_when_and_the_default_message_id() -> None:
    config = cfg(event="OrderPlaced", when="value.cents > `3`")
    matcher = Matcher(config, REPO)
    source = config.sources[0]
    (effect,) = matcher.match(decode_event(record(order(), offset=41), source, None))
    assert isinstance(effect, StartEffect) and effect.message_id == "orders:0:41"
    assert effect.input["currency"] == "EUR" and effect.workflow_id == "order-o1"
    assert matcher.match(decode_event(record(order(cents=2)), source, None)) == []
    assert matcher.match(decode_event(record(order(type="OrderShipped")), source, None)) == []
    assert matcher.correlate(decode_event(record(order()), source, None)) == [("t", "order-o1")]


def test_signal_buffer_ttl_travels_in_the_effect() -> None:
    config = cfg(action="signal", signal="paid", on_missing="buffer", buffer_ttl="90s", input=None)
    (effect,) = Matcher(config, REPO).match(decode_event(record(order()), config.sources[0], None))
    assert isinstance(effect, SignalEffect) and effect.buffer_ttl_ms == 90_000


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda c: (
                st.lists(c, max_size=3)
                | st.dictionaries(st.sampled_from(["type", "orderId", "qty", "sku", "x"]), c, max_size=5)
            ),
            max_leaves=12,
        ),
    )
)
def test_any_input_is_mapped_or_dead_lettered_never_raised(value: Any) -> None:
    processor = EventProcessor(cfg(event="OrderPlaced"), REPO, SERDE, "app.inbox", "app.dlq")
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    stats = ConnectorStats()
    out = processor.process(InboundRecord("orders", 0, 1, b"k", raw), stats)
    assert len(out) <= 1
    if out and out[0].topic == "app.dlq":
        assert out[0].value == raw and out[0].header("sb-dlq-reason")
        assert stats.dead_lettered == 1
    else:
        assert stats.matched + stats.filtered == 1


# --- connectors check ---------------------------------------------------------------------------


def check(config: ConnectorConfig, workflow_types: list[str] | None = None) -> tuple[list[str], list[str]]:
    report = MappingChecker(REPO, workflow_types).check(config)
    return report.errors, report.notes


def test_check_proves_mappings_against_the_schemas() -> None:
    typed = {
        "domain": "d",
        "source": [
            {"topic": "orders", "format": "avro-single-object", "schemas": ["sagabridge.demo.orders.OrderPlaced"]}
        ],
    }
    good = {
        "name": "ok",
        "topics": ["orders"],
        "event": "OrderPlaced",
        "correlation": "o-{value.order_id}",
        "action": "start",
        "workflow_type": "wf",
        "input_schema": "sagabridge.demo.orders.OrderPlaced",
        "input": "value",
    }
    assert check(parse_connector_config({**typed, "trigger": [good]}), ["wf"]) == ([], [])
    bad = good | {
        "correlation": "o-{value.orderId}",  # the writer schema spells it order_id
        "when": "vaule.x",  # a typo in the root
        "input": {"order_id": "value.order_id", "colour": "'red'"},  # unknown target, required fields missing
    }
    errors, _ = check(parse_connector_config({**typed, "trigger": [bad]}), ["other"])
    text = "\n".join(errors)
    assert "field path 'value.orderId' is absent from the writer schema sagabridge.demo.orders.OrderPlaced" in text
    assert "'vaule.x' reads 'vaule'" in text
    assert "has no field 'colour'" in text
    assert "required field 'sku' of sagabridge.demo.orders.OrderPlaced is not mapped" in text
    assert "workflow type 'wf' is not registered" in text


def test_check_notes_what_it_cannot_prove() -> None:
    errors, notes = check(cfg())
    assert errors == []
    assert notes and "orders declares no schemas" in notes[0] and "value.orderId" in notes[0]


def test_the_shipped_mapping_files_pass_check() -> None:
    files = sorted((ROOT / "connectors").glob("*.toml"))
    assert files
    for path in files:
        report = check_config(load_connector_file(path), workflow_types=["order-fulfilment"])
        assert report.errors == [] and report.notes == [], (path, report.errors, report.notes)
        assert report.checked >= 1


# --- native outbound ---------------------------------------------------------------------------


def step_for(command: Any, service: str, *, attempt: int = 1, command_id: str = "wf/1") -> StepRecord:
    """The engine's record of an open step sending `command` (what the router is handed)."""
    return StepRecord(
        seq=int(command_id.rsplit("/", 1)[1]),
        service=service,
        command_type=command.avro_schema_name,
        command_id=command_id,
        attempt=attempt,
        status=StepStatus.IN_FLIGHT,
        first_scheduled_ms=0,
        attempt_started_ms=0,
        payload=SERDE.encode(command.avro_schema_name, command),
        policy=RetryPolicy(),
        start_to_close_ms=None,
        schedule_to_close_ms=None,
        compensation=False,
    )


def test_outbound_mapping_builds_the_services_own_record() -> None:
    participant = parse_connector_config(
        {
            "domain": "d",
            "participant": [
                {
                    "service": "payments",
                    "command": [
                        {
                            "type": ChargePayment.avro_schema_name,
                            "topic": "payments.requests",
                            "key": "{command.order_id}",
                            "value": {
                                "orderRef": "command.order_id",
                                "money": {"cents": "command.amount_cents", "cur": "command.currency"},
                            },
                            "headers": {"Idempotency-Key": "{command_id}", "x-who": "missing.field"},
                        }
                    ],
                }
            ],
        }
    ).participants
    router = NativeCommandRouter(participant, SERDE, REPO)
    cmd = ChargePayment(order_id="o1", customer_id="c", amount_cents=5, currency="EUR")
    step = step_for(cmd, "payments", attempt=2, command_id="wf-1/3")
    header = Header("wf-1", "t", WorkflowStatus.RUNNING, 0, 0, 0)
    with pytest.raises(MissingFieldError) as err:
        router.route(header, step, "app.inbox", [])
    assert err.value.field_path == "missing.field"
    fixed = participant[0].commands[0].model_copy(update={"headers": {"Idempotency-Key": Template("{command_id}")}})
    router = NativeCommandRouter([participant[0].model_copy(update={"commands": (fixed,)})], SERDE, REPO)
    out = router.route(header, step, "app.inbox", [("traceparent", "00-abc")])
    assert out is not None and out.topic == "payments.requests" and out.key == b"o1"
    assert json.loads(out.value or b"") == {"orderRef": "o1", "money": {"cents": 5, "cur": "EUR"}}
    assert out.header("Idempotency-Key") == "wf-1/3" and out.header("sb-attempt") == "2"
    assert out.header("traceparent") == "00-abc"
    assert router.route(header, replace(step, service="inventory"), "app.inbox", []) is None  # not native


def test_outbound_avro_single_object_uses_the_services_schema() -> None:
    participants = parse_connector_config(
        {
            "domain": "d",
            "participant": [
                {
                    "service": "inventory",
                    "command": [
                        {
                            "type": "sagabridge.demo.inventory.ReleaseStock",
                            "topic": "inventory.in",
                            "format": "avro-single-object",
                            "value_schema": "sagabridge.demo.inventory.StockReleased",  # any record of theirs
                            "value": {"reservation_id": "join('/', [command.order_id, command.reservation_id])"},
                        }
                    ],
                }
            ],
        }
    ).participants
    from examples.orders.models.inventory import ReleaseStock
    from orchestrator.bridge.mapping import ValueFormat

    router = NativeCommandRouter(participants, SERDE, REPO, {ValueFormat.AVRO_SINGLE_OBJECT: SERDE})
    cmd = ReleaseStock(reservation_id="r1", order_id="o1")
    step = step_for(cmd, "inventory")
    out = router.route(Header("wf", "t", WorkflowStatus.RUNNING, 0, 0, 0), step, "app.inbox", [])
    assert out is not None and out.value is not None
    decoded = SERDE.decode(out.value)
    assert (decoded.schema_name, decoded.value) == (
        "sagabridge.demo.inventory.StockReleased",
        {"reservation_id": "o1/r1"},
    )


def test_connectors_check_cli_exits_1_and_names_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from orchestrator.cli import main

    good = ROOT / "connectors" / "shop.toml"
    assert main(["connectors", "check", "--config", str(good)]) == 0
    broken = tmp_path / "shop.toml"
    text = good.read_text().replace('"value.item.sku"', '"value.item.code"')
    broken.write_text(text.replace('"../examples/', f'"{ROOT}/examples/'))  # its schemas_dir, from tmp_path
    assert main(["connectors", "check", "--config", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "field path 'value.item.code' is absent from the writer schema shop.orders.OrderPlaced" in out
