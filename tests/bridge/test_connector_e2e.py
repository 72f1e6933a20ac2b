"""The bridge end to end on the real broker: connector runtime + orchestrator + real topics.

Each test declares the mapping a team would write, produces the events its services publish
(their field names, JSON or Avro, CloudEvents headers) and checks what reached the workflows.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from examples.orders.models.orders import OrderPlaced
from orchestrator.bridge.embedded import command_router
from orchestrator.bridge.processor import H_DLQ_FIELD_PATH, H_DLQ_TRIGGER
from orchestrator.errors import CommitOutcomeUnknownError, TransactionTimeoutError
from orchestrator.serialization import ConfluentSerde, SchemaRepository, SingleObjectSerde
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.records import InboundRecord
from tests.bridge.apps import registry
from tests.bridge.harness import ConnectorThread, config, dlq_records, json_event, produce
from tests.integration.harness import App, EventLog, OrchestratorThread, read_committed, serde
from tests.metrics.points import memory_provider, total

ORDER_INPUT = {
    "order_id": "value.orderId",
    "customer_id": "value.customer.id",
    "sku": "value.lines[0].sku",
    "quantity": "value.lines[0].qty",
    "amount_cents": "value.total.cents",
    "currency": "value.total.currency || 'EUR'",
}


def order_placed(order_id: str, customer: str = "c-1", sku: str = "sku-1", **extra: Any) -> dict[str, Any]:
    return {
        "type": "OrderPlaced",
        "orderId": order_id,
        "customer": {"id": customer},
        "lines": [{"sku": sku, "qty": 2}],
        "total": {"cents": 1250, "currency": "EUR"},
        **extra,
    }


def orders_source(topic: str, **extra: Any) -> dict[str, Any]:
    return {"topic": topic, "format": "json", "event_type": "value.type", **extra}


def start_trigger(topic: str, workflow_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "order-placed",
        "topics": [topic],
        "event": "OrderPlaced",
        "correlation": "order-{value.orderId}",
        "action": "start",
        "workflow_type": workflow_type,
        "input_schema": OrderPlaced.avro_schema_name,
        "input": ORDER_INPUT,
        **extra,
    }


def topic(admin: KafkaAdmin, app: App, name: str, partitions: int = 2) -> str:
    full = f"{app.name}.{name}"
    admin.create(full, partitions, 1, {})
    return full


def started(events: EventLog) -> Counter[str]:
    return Counter(d.value["workflow_id"] for _r, d in events.records if d.schema_name.endswith(".WorkflowStarted"))


def published(events: EventLog, channel: str) -> dict[str, dict[str, Any]]:
    return {
        d.value["order_id"]: d.value
        for _r, d in events.records
        if d.schema_name.endswith("CustomerNotified") and d.value["channel"] == channel
    }


def test_start_trigger_maps_json_events_and_repeated_cloudevents_change_nothing(
    app: App, kafka_admin: KafkaAdmin, events: EventLog
) -> None:
    orders = topic(kafka_admin, app, "orders.events")
    cfg = config(
        {
            "domain": "orders",
            "source": [orders_source(orders)],
            "trigger": [start_trigger(orders, "order-started", message_id="headers.ce_id")],
        }
    )
    produce(
        app.bootstrap,
        orders,
        [
            json_event("o1", order_placed("o1"), ce_id="e-1", ce_type="shop.OrderPlaced", ce_source="orders"),
            json_event("o2", order_placed("o2", sku="sku-2"), ce_id="e-2"),
            json_event("o1", order_placed("o1"), ce_id="e-1"),  # the service published it twice
            json_event("o3", {"type": "OrderShipped", "orderId": "o3"}),  # not a trigger's: filtered
        ],
    )
    orch = OrchestratorThread(app.settings(), registry).start()
    conn = ConnectorThread(app.settings(), cfg).start()
    try:
        assert events.wait_for(["order-o1", "order-o2"], timeout_s=60) == {
            "order-o1": "completed",
            "order-o2": "completed",
        }
        conn.wait_for(4)
    finally:
        conn.stop()
        orch.stop()
    events.poll(1.0)
    assert started(events) == Counter({"order-o1": 1, "order-o2": 1})
    assert published(events, "test")["o2"]["message"] == "sku-2"  # the mapped input reached the workflow
    stats = conn.runtime.stats
    assert (stats.events, stats.matched, stats.filtered, stats.dead_lettered) == (4, 3, 1, 0)
    inbox = read_committed(app.bootstrap, f"{app.name}.inbox")
    assert sorted(r.header("sb-message-id") or "" for r in inbox) == ["e-1", "e-1", "e-2"]
    assert {r.header("sb-trigger") for r in inbox} == {"order-placed"}


def test_early_signal_is_buffered_until_the_start_and_an_expired_one_is_dead_lettered(
    app: App, kafka_admin: KafkaAdmin, events: EventLog
) -> None:
    orders = topic(kafka_admin, app, "orders.events", partitions=1)
    payments = topic(kafka_admin, app, "payments.events", partitions=1)
    cfg = config(
        {
            "domain": "orders",
            "source": [orders_source(orders), {"topic": payments, "event_type": "value.kind"}],
            "trigger": [
                start_trigger(orders, "await-payment"),
                {
                    "name": "payment-received",
                    "topics": [payments],
                    "event": "PaymentReceived",
                    "correlation": "order-{value.order}",
                    "action": "signal",
                    "signal": "paid",
                    "payload_schema": "sagabridge.demo.notifications.CustomerNotified",
                    "payload": {
                        "order_id": "value.order",
                        "customer_id": "value.payer",
                        "channel": "'card'",
                        "message": "join(' ', ['paid', to_string(value.amount)])",
                    },
                    "message_id": "headers.ce_id",
                    "on_missing": "buffer",
                    "buffer_ttl": "1h",
                },
                {
                    "name": "payment-received-short",
                    "topics": [payments],
                    "event": "PaymentReceivedShort",
                    "correlation": "order-{value.order}",
                    "action": "signal",
                    "signal": "paid",
                    "on_missing": "buffer",
                    "buffer_ttl": "1s",
                },
            ],
        }
    )
    conn = ConnectorThread(app.settings(), cfg).start()
    orch = OrchestratorThread(app.settings(), registry).start()
    try:
        # The payment event comes first: choreography gives no ordering across topics.
        produce(
            app.bootstrap,
            payments,
            [json_event("o1", {"kind": "PaymentReceived", "order": "o1", "payer": "ann", "amount": 1250}, ce_id="p-1")],
        )
        produce(app.bootstrap, payments, [json_event("o9", {"kind": "PaymentReceivedShort", "order": "o9"})])
        conn.wait_for(2)
        deadline = time.monotonic() + 60
        expired: list[InboundRecord] = []
        while not expired and time.monotonic() < deadline:
            expired = [r for r in dlq_records(app) if r.header("sb-dlq-reason") == "buffer-ttl-expired"]
        produce(app.bootstrap, orders, [json_event("o1", order_placed("o1"))])
        assert events.wait_for(["order-o1"], timeout_s=60) == {"order-o1": "completed"}
    finally:
        conn.stop()
        orch.stop()
    paid = published(events, "paid")["o1"]
    assert (paid["customer_id"], paid["message"]) == ("ann", "paid 1250")
    (dead,) = expired
    assert dead.key == b"order-o9"
    assert serde.decode(dead.value or b"").value["workflow_id"] == "order-o9"  # the original SignalWorkflow
    assert dead.header("sb-source-topic") == payments  # the connector's provenance headers travel along
    assert "1000 ms" in (dead.header("sb-dlq-error") or "")


def test_signal_with_start_starts_once_and_signals(app: App, kafka_admin: KafkaAdmin, events: EventLog) -> None:
    payments = topic(kafka_admin, app, "payments.events")
    cfg = config(
        {
            "domain": "payments",
            "source": [orders_source(payments)],
            "trigger": [
                {
                    "name": "paid-order",
                    "topics": [payments],
                    "event": "OrderPaid",
                    "correlation": "order-{value.orderId}",
                    "action": "signal-with-start",
                    "workflow_type": "await-payment",
                    "input_schema": OrderPlaced.avro_schema_name,
                    "input": ORDER_INPUT,
                    "signal": "paid",
                    "payload_schema": "sagabridge.demo.notifications.CustomerNotified",
                    "payload": {
                        "order_id": "value.orderId",
                        "customer_id": "value.customer.id",
                        "channel": "'sws'",
                        "message": "'paid by signal-with-start'",
                    },
                }
            ],
        }
    )
    paid = {**order_placed("o5"), "type": "OrderPaid"}
    produce(app.bootstrap, payments, [json_event("o5", paid), json_event("o5", paid)])
    orch = OrchestratorThread(app.settings(), registry).start()
    conn = ConnectorThread(app.settings(), cfg).start()
    try:
        assert events.wait_for(["order-o5"], timeout_s=60) == {"order-o5": "completed"}
        conn.wait_for(2)
    finally:
        conn.stop()
        orch.stop()
    events.poll(1.0)
    assert started(events) == Counter({"order-o5": 1})
    assert published(events, "paid")["o5"]["message"] == "paid by signal-with-start"


@pytest.mark.parametrize("framing", ["avro-single-object", "avro-confluent"])
def test_avro_sources_in_both_framings(
    app: App, kafka_admin: KafkaAdmin, events: EventLog, framing: str, schema_registry_url: str
) -> None:
    orders = topic(kafka_admin, app, f"orders.{framing}")
    repo = SchemaRepository()
    writer = SingleObjectSerde(repo) if framing == "avro-single-object" else ConfluentSerde(repo, schema_registry_url)
    cfg = config(
        {
            "domain": "orders",
            "source": [{"topic": orders, "format": framing, "schemas": [OrderPlaced.avro_schema_name]}],
            "trigger": [
                {
                    "name": "placed",
                    "topics": [orders],
                    "event": "OrderPlaced",  # matched by the Avro record name
                    "correlation": "avro-{value.order_id}",
                    "action": "start",
                    "workflow_type": "order-started",
                    "input_schema": OrderPlaced.avro_schema_name,
                    "input": "value",
                }
            ],
        }
    )
    order = OrderPlaced(order_id="a1", customer_id="c", sku="avro-sku", quantity=1, amount_cents=5, currency="EUR")
    produce(app.bootstrap, orders, [("a1", writer.encode(order.avro_schema_name, order), {})])
    settings = app.settings(schema_registry_url=schema_registry_url)
    orch = OrchestratorThread(app.settings(), registry).start()
    conn = ConnectorThread(settings, cfg).start()
    try:
        assert events.wait_for(["avro-a1"], timeout_s=60) == {"avro-a1": "completed"}
    finally:
        conn.stop()
        orch.stop()
    assert published(events, "test")["a1"]["message"] == "avro-sku"


def test_every_bad_input_goes_to_the_dlq_with_its_reason_and_the_partition_keeps_moving(
    app: App, kafka_admin: KafkaAdmin, events: EventLog
) -> None:
    strict = topic(kafka_admin, app, "orders.strict", partitions=1)
    lax = topic(kafka_admin, app, "orders.lax", partitions=1)
    dlq = topic(kafka_admin, app, "bridge.dlq", partitions=1)
    cfg = config(
        {
            "domain": "orders",
            "dlq_topic": dlq,
            "source": [orders_source(strict, require_match=True), orders_source(lax)],
            "trigger": [start_trigger(strict, "order-started"), start_trigger(lax, "order-started") | {"name": "lax"}],
        }
    )
    no_sku = order_placed("bad2")
    del no_sku["lines"][0]["sku"]
    produce(
        app.bootstrap,
        strict,
        [
            json_event("g1", order_placed("g1")),
            ("x", b"\x00garbage{", {}),  # undecodable
            json_event("bad2", no_sku),  # a mapped field is missing
            json_event("u", {"type": "OrderAudited", "orderId": "u"}),  # matches nothing on a require_match topic
            json_event("bad4", order_placed("bad4") | {"total": {"cents": "twelve"}}),  # does not fit the schema
            ("t", None, {}),  # a tombstone
            json_event("g2", order_placed("g2")),
        ],
    )
    produce(app.bootstrap, lax, [json_event("u2", {"type": "OrderAudited"}), json_event("g3", order_placed("g3"))])
    provider, reader = memory_provider()
    orch = OrchestratorThread(app.settings(), registry).start()
    conn = ConnectorThread(app.settings(), cfg, meter_provider=provider).start()
    try:
        assert events.wait_for(["order-g1", "order-g2", "order-g3"], timeout_s=60)
        conn.wait_for(9)
    finally:
        conn.stop()
        orch.stop()
    dead = {r.key: r for r in dlq_records(app, dlq)}
    assert {k: r.header("sb-dlq-reason") for k, r in dead.items()} == {
        b"x": "malformed",
        b"bad2": "missing-field",
        b"u": "unmatched",
        b"bad4": "invalid-field",
        b"t": "malformed",
    }
    assert dead[b"bad2"].header(H_DLQ_FIELD_PATH) == "value.lines[0].sku"
    assert dead[b"bad2"].header(H_DLQ_TRIGGER) == "order-placed"
    assert dead[b"x"].value == b"\x00garbage{"  # original bytes untouched
    assert all(r.header("sb-dlq-source-topic") == strict for r in dead.values())
    stats = conn.runtime.stats
    assert (stats.dead_lettered, stats.filtered, stats.matched) == (5, 1, 3)
    assert stats.by_reason == {"malformed": 2, "missing-field": 1, "unmatched": 1, "invalid-field": 1}
    # The connector's metrics are the committed counts: the DLQ topic's records by reason, and
    # every event once by outcome.
    domain = {"sagabridge.connector.domain": "orders"}
    for reason, n in Counter(r.header("sb-dlq-reason") for r in dead.values()).items():
        assert total(reader, "sagabridge.connector.dead_lettered", {**domain, "sagabridge.dlq.reason": reason}) == n
    outcomes = {"matched": 3, "filtered": 1, "dead_lettered": 5, "routed": 0}
    for outcome, n in outcomes.items():
        assert total(reader, "sagabridge.connector.events", {**domain, "sagabridge.connector.outcome": outcome}) == n
    assert total(reader, "sagabridge.connector.effects", domain) == 3 == stats.effects
    committed = total(reader, "sagabridge.connector.transactions", {"sagabridge.checkpoint.outcome": "committed"})
    assert committed == conn.runtime.commits >= 1


class NativeServices:
    """Inventory and payments as a team wrote them: JSON on their own topics, no SagaBridge.

    Inventory loses the first request of every order (a crash before it acted) so the workflow's
    attempt timeout has to retry it; payments declines customer 'mallory'.
    """

    def __init__(self, bootstrap: str, requests: dict[str, str], replies: dict[str, str]) -> None:
        from confluent_kafka import Consumer, Producer

        self.requests = requests
        self.replies = replies
        self.seen: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.reserved: set[str] = set()
        self.dropped: set[str] = set()
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"native-{time.time_ns()}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
        self.consumer.subscribe(list(requests.values()))
        self.producer = Producer({"bootstrap.servers": bootstrap})

    def poll(self) -> None:
        msg = self.consumer.poll(0.1)
        if msg is None or msg.error() is not None:
            return
        body = json.loads(msg.value() or b"{}")
        raw = msg.headers() or []
        pairs = raw.items() if isinstance(raw, dict) else raw
        headers = {k: v.decode() if isinstance(v, bytes) else (v or "") for k, v in pairs}
        self.seen.append((msg.topic() or "", body, headers))
        order = body["order"]
        if msg.topic() == self.requests["inventory"]:
            if body["op"] == "reserve":
                if order not in self.dropped:
                    self.dropped.add(order)
                    return
                if order not in self.reserved:  # idempotent on its business key
                    self.reserved.add(order)
                self._emit("inventory", {"event": "StockReserved", "order": order, "hold": f"H-{order}"})
            else:
                self.reserved.discard(order)
                self._emit("inventory", {"event": "StockReleased", "order": order, "hold": body["hold"]})
        elif body["payer"] == "mallory":
            self._emit("payments", {"event": "PaymentDeclined", "order": order, "why": "card refused"})
        else:
            self._emit(
                "payments", {"event": "PaymentCharged", "order": order, "charge": f"C-{order}", "cents": body["cents"]}
            )

    def _emit(self, service: str, event: dict[str, Any]) -> None:
        self.producer.produce(self.replies[service], key=event["order"].encode(), value=json.dumps(event).encode())
        self.producer.flush(10)


def native_config(topics: dict[str, str], orders: str) -> dict[str, Any]:
    inv_req, inv_ev, pay_req, pay_ev = (topics[k] for k in ("inv_req", "inv_ev", "pay_req", "pay_ev"))
    return {
        "domain": "orders",
        "source": [
            orders_source(orders),
            {"topic": inv_ev, "event_type": "value.event"},
            {"topic": pay_ev, "event_type": "value.event"},
        ],
        "trigger": [start_trigger(orders, "native-saga")],
        "participant": [
            {
                "service": "inventory",
                "command": [
                    {
                        "type": "sagabridge.demo.inventory.ReserveStock",
                        "topic": inv_req,
                        "key": "command.order_id",
                        "value": {
                            "op": "'reserve'",
                            "order": "command.order_id",
                            "item": "command.sku",
                            "count": "command.quantity",
                        },
                        "headers": {"idempotency-key": "command_id"},
                        "cloudevents_type": "inventory.ReserveRequested",
                    },
                    {
                        "type": "sagabridge.demo.inventory.ReleaseStock",
                        "topic": inv_req,
                        "key": "command.order_id",
                        "value": {"op": "'release'", "order": "command.order_id", "hold": "command.reservation_id"},
                    },
                ],
                "outcome": [
                    {
                        "name": "reserved",
                        "topics": [inv_ev],
                        "event": "StockReserved",
                        "correlation": "order-{value.order}",
                        "command_type": "sagabridge.demo.inventory.ReserveStock",
                        "status": "success",
                        "result_schema": "sagabridge.demo.inventory.StockReserved",
                        "result": {"reservation_id": "value.hold", "order_id": "value.order"},
                    },
                    {
                        "name": "released",
                        "topics": [inv_ev],
                        "event": "StockReleased",
                        "correlation": "order-{value.order}",
                        "command_type": "sagabridge.demo.inventory.ReleaseStock",
                        "status": "success",
                    },
                ],
            },
            {
                "service": "payments",
                "command": [
                    {
                        "type": "sagabridge.demo.payments.ChargePayment",
                        "topic": pay_req,
                        "key": "command.order_id",
                        "value": {
                            "order": "command.order_id",
                            "payer": "command.customer_id",
                            "cents": "command.amount_cents",
                        },
                    },
                ],
                "outcome": [
                    {
                        "name": "charged",
                        "topics": [pay_ev],
                        "event": "PaymentCharged",
                        "correlation": "order-{value.order}",
                        "status": "success",
                        "result_schema": "sagabridge.demo.payments.PaymentCharged",
                        "result": {
                            "payment_id": "value.charge",
                            "order_id": "value.order",
                            "amount_cents": "value.cents",
                        },
                    },
                    {
                        "name": "declined",
                        "topics": [pay_ev],
                        "event": "PaymentDeclined",
                        "correlation": "order-{value.order}",
                        "status": "failure",
                        "error_type": "'PaymentDeclined'",
                        "error_message": "value.why",
                        "retryable": False,
                    },
                ],
            },
        ],
    }


def test_native_participants_with_retry_and_compensation(app: App, kafka_admin: KafkaAdmin, events: EventLog) -> None:
    orders = topic(kafka_admin, app, "orders.events")
    topics = {
        k: topic(kafka_admin, app, n)
        for k, n in (
            ("inv_req", "inventory.requests"),
            ("inv_ev", "inventory.events"),
            ("pay_req", "payments.requests"),
            ("pay_ev", "payments.events"),
        )
    }
    cfg = config(native_config(topics, orders))
    settings = app.settings()
    services = NativeServices(
        app.bootstrap,
        {"inventory": topics["inv_req"], "payments": topics["pay_req"]},
        {"inventory": topics["inv_ev"], "payments": topics["pay_ev"]},
    )
    router = command_router(settings, [cfg], serde)
    orch = OrchestratorThread(settings, registry, command_router=router).start()
    conn = ConnectorThread(settings, cfg).start()
    produce(
        app.bootstrap,
        orders,
        [json_event("n1", order_placed("n1")), json_event("n2", order_placed("n2", customer="mallory"))],
    )
    try:
        deadline = time.monotonic() + 90
        outcomes: dict[str, str] = {}
        while time.monotonic() < deadline and len(outcomes) < 2:
            services.poll()
            events.poll(0.05)
            outcomes = events.outcomes()
    finally:
        conn.stop()
        orch.stop()
        services.consumer.close()
    assert outcomes == {"order-n1": "completed", "order-n2": "compensated"}
    reserves = [(b, hd) for t, b, hd in services.seen if b.get("op") == "reserve" and b["order"] == "n1"]
    assert len(reserves) == 2  # the first was lost, the attempt timeout resent it
    assert reserves[0][0] == {"op": "reserve", "order": "n1", "item": "sku-1", "count": 2}  # their field names
    keys = {hd["idempotency-key"] for _b, hd in reserves}
    assert keys == {"order-n1/0"}  # one business idempotency key across retries
    assert [hd["sb-attempt"] for _b, hd in reserves] == ["1", "2"]
    assert reserves[0][1]["ce_type"] == "inventory.ReserveRequested" and reserves[0][1]["ce_id"] == "order-n1/0/1"
    releases = [b for _t, b, _h in services.seen if b.get("op") == "release"]
    assert releases == [{"op": "release", "order": "n2", "hold": "H-n2"}]  # the decline compensated
    failed = [d.value for _r, d in events.records if d.schema_name.endswith(".StepRetrying")]
    assert {f["error"]["error_type"] for f in failed} == {"AttemptTimeout"}


def test_a_connector_refuses_to_start_when_its_topics_do_not_exist(app: App) -> None:
    from orchestrator.bridge.runtime import ConnectorRuntime
    from orchestrator.errors import ConfigurationError

    missing = f"{app.name}.no-such-topic"
    cfg = config({"domain": "orders", "source": [orders_source(missing)], "trigger": [start_trigger(missing, "x")]})
    with pytest.raises(ConfigurationError) as err:
        ConnectorRuntime(app.settings(), cfg, inbox_serde=serde).run()
    assert missing in str(err.value) and "orchestrator topics apply" in str(err.value)


@pytest.mark.parametrize(
    ("stage", "error"),
    [
        ("before_commit", TransactionTimeoutError("send_offsets_to_transaction still blocked (injected)")),
        ("after_commit", CommitOutcomeUnknownError("commit_transaction timed out (injected; it did commit)")),
    ],
    ids=["not-committed", "committed-but-unknown"],
)
def test_a_commit_past_its_deadline_recovers_in_process_and_each_event_reaches_the_inbox_once(
    app: App, kafka_admin: KafkaAdmin, stage: str, error: Exception
) -> None:
    """What the producer raises when a checkpoint's deadline expires, injected at the two points it
    can: the connector fences its producer, reads the committed offsets back and rewinds, so the
    uncommitted batch is replayed once and the committed one is counted, not replayed."""
    fired: list[str] = []

    def hook(at: str) -> None:
        if at == stage and not fired:
            fired.append(at)
            raise error

    orders = topic(kafka_admin, app, "orders.events")
    cfg = config(
        {
            "domain": "orders",
            "source": [orders_source(orders)],
            "trigger": [start_trigger(orders, "order-started", message_id="headers.ce_id")],
        }
    )
    produce(app.bootstrap, orders, [json_event(f"o{i}", order_placed(f"o{i}"), ce_id=f"e-{i}") for i in range(20)])
    conn = ConnectorThread(app.settings(), cfg, fault_hook=hook).start()
    try:
        conn.wait_for(20)
    finally:
        conn.stop()
    assert fired == [stage]
    assert conn.runtime.producer_recoveries == 1
    assert (conn.runtime.stats.events, conn.runtime.stats.effects) == (20, 20)  # counted once, either way
    inbox = read_committed(app.bootstrap, f"{app.name}.inbox")
    assert Counter(r.header("sb-message-id") for r in inbox) == Counter({f"e-{i}": 1 for i in range(20)})
