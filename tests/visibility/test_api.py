"""The HTTP API: tokens (401/403 change nothing), filters, pagination, detail, actions via the inbox.

The store is filled from the real engine's events; actions go to a real inbox topic on the
session's broker, read back to prove what was (and was not) sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from fastapi.testclient import TestClient
from pydantic import SecretStr

from examples.orders.models.orders import OrderPlaced
from orchestrator.client import WorkflowClient
from orchestrator.testing import WorkflowEnvironment
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.kafka_clients import new_consumer
from orchestrator.visibility.actions import OperatorActions
from orchestrator.visibility.api import ApiContext, create_app
from orchestrator.visibility.auth import TokenAuth
from orchestrator.visibility.detail import DetailBuilder
from orchestrator.visibility.queries import WorkflowQueries
from orchestrator.visibility.store import VisibilityStore
from tests.engine.test_saga import CHARGED, RESERVED, SHIPPED, only
from tests.engine.workflows import ORDER
from tests.visibility.feed import EventsTopic, idle_ingest, sync

READ = "read-token-0123456789abcdef"
OPERATE = "operate-token-0123456789abcdef"
TAGGED = OrderPlaced(order_id="t-1", customer_id="c-42", sku="s", quantity=1, amount_cents=1999, currency="EUR")


def auth(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


class Inbox:
    """The real inbox topic of the API's app, read back from the beginning."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic

    def records(self, serde: Any, expect: int = 0) -> list[dict[str, Any]]:
        consumer = new_consumer(self.bootstrap, uuid.uuid4().hex)
        try:
            _low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=10, cached=False)
            if high == 0:
                return []
            consumer.assign([TopicPartition(self.topic, 0, 0)])
            out: list[dict[str, Any]] = []
            while len(out) < max(expect, 1):
                msgs = consumer.consume(100, 5)
                if not msgs:
                    break
                for m in msgs:
                    decoded = serde.decode(m.value())
                    out.append({"_type": decoded.schema_name, **decoded.value})
            return out
        finally:
            consumer.close()


@pytest.fixture
def filled(tmp_path: Path, h: WorkflowEnvironment) -> Iterator[VisibilityStore]:
    """o-1 parked on its first step, t-1 waiting for a signal, o-2 completed."""
    store = VisibilityStore(f"sqlite:///{tmp_path / 'api.sqlite3'}")
    store.create()
    topic = EventsTopic(h)
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    for _ in range(3):
        h.reply_failure(cmd, "Unavailable")
        cmd = only(h.advance(10_000).commands())
    h.reply_failure(cmd, "Unavailable")
    h.now_ms += 1_000
    h.start("tagged", TAGGED, id="t-1")
    h.now_ms += 1_000
    reserve = only(h.start("order", ORDER, id="o-2").output.commands())
    pay = only(h.reply(reserve, RESERVED).commands("payments"))
    ship = only(h.reply(pay, CHARGED).commands("shipping"))
    h.reply(ship, SHIPPED)
    sync(store, topic)
    yield store
    store.close()


@pytest.fixture
def inbox(kafka_admin: KafkaAdmin, kafka_bootstrap: str) -> Inbox:
    app = f"api-{uuid.uuid4().hex[:10]}"
    kafka_admin.create(f"{app}.inbox", 1, 1, {})
    return Inbox(kafka_bootstrap, f"{app}.inbox")


@pytest.fixture
def api(filled: VisibilityStore, inbox: Inbox, h: WorkflowEnvironment) -> Iterator[TestClient]:
    client = WorkflowClient(inbox.bootstrap, inbox.topic.removesuffix(".inbox"), h.serde, send_timeout_s=20)
    queries = WorkflowQueries(filled)
    ctx = ApiContext(
        queries=queries,
        actions=OperatorActions(client, queries),
        auth=TokenAuth({"reader": SecretStr(READ)}, {"alice": SecretStr(OPERATE)}),
        details=DetailBuilder(h.serde, "http://jaeger.example:16686"),
        ingest_status=lambda: idle_ingest(filled.description, filled.backend),
    )
    with TestClient(create_app(ctx)) as test_client:
        yield test_client
    client.close()


def test_reads_need_a_read_or_operate_token(api: TestClient) -> None:
    for token in (None, "not-a-token", READ[:-1]):
        response = api.get("/api/v1/workflows", headers=auth(token))
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"] == "Bearer"
    assert api.get("/api/v1/workflows/o-1").status_code == 401
    assert api.get("/api/v1/counts").status_code == 401
    assert api.get("/api/v1/workflows", headers=auth(READ)).status_code == 200
    assert api.get("/api/v1/workflows", headers=auth(OPERATE)).status_code == 200
    spec = api.get("/api/v1/openapi.json").json()  # the contract itself is public
    assert "/api/v1/workflows/{workflow_id}/retry" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_actions_without_an_operate_token_change_nothing(api: TestClient, inbox: Inbox, h: WorkflowEnvironment) -> None:
    actions = [
        ("retry", {"reason": "x"}),
        ("skip", {"result_schema": "sagabridge.demo.inventory.StockReserved", "result": {}}),
        ("compensate", {}),
        ("cancel", {"reason": "x"}),
        ("signal", {"name": "approve"}),
    ]
    for action, body in actions:
        for token, status in ((None, 401), ("bogus-token-0123456789", 401), (READ, 403)):
            response = api.post(f"/api/v1/workflows/o-1/{action}", json=body, headers=auth(token))
            assert response.status_code == status, (action, token, response.text)
    assert inbox.records(h.serde) == []  # nothing reached the inbox
    after = api.get("/api/v1/workflows/o-1", headers=auth(READ)).json()
    assert after["workflow"]["status"] == "parked" and after["operator_actions"] == []


def test_retry_goes_through_the_inbox_with_the_callers_identity(
    api: TestClient, inbox: Inbox, h: WorkflowEnvironment
) -> None:
    response = api.post("/api/v1/workflows/o-1/retry", json={"reason": "inventory is back"}, headers=auth(OPERATE))
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert (accepted["action"], accepted["requested_by"], accepted["inbox_topic"]) == ("RETRY", "alice", inbox.topic)
    (sent,) = inbox.records(h.serde, expect=1)
    assert sent["_type"] == "sagabridge.control.OperatorAction"
    assert (sent["workflow_id"], sent["action"], sent["operator"], sent["reason"]) == (
        "o-1",
        "RETRY",
        "alice",
        "inventory is back",
    )
    # the engine applies it like any inbox record and records who acted
    value = h.serde.encode(sent["_type"], {k: v for k, v in sent.items() if k != "_type"})
    out = h.send(h.records.record("o-1", value))
    assert out.event_names() == ["OperatorActionApplied", "StepScheduled", "WorkflowResumed"]
    applied = only(out.events("OperatorActionApplied"))
    assert applied["operator"] == "alice"


def test_signal_and_skip_carry_decoded_json_records(api: TestClient, inbox: Inbox, h: WorkflowEnvironment) -> None:
    signal = {
        "name": "approve",
        "payload_schema": "sagabridge.demo.notifications.CustomerNotified",
        "payload": {"order_id": "t-1", "customer_id": "bob", "channel": "ui", "message": "ok"},
    }
    assert api.post("/api/v1/workflows/t-1/signal", json=signal, headers=auth(OPERATE)).status_code == 202
    skip = {
        "result_schema": "sagabridge.demo.inventory.StockReserved",
        "result": {"reservation_id": "m", "order_id": "o"},
    }
    assert api.post("/api/v1/workflows/o-1/skip", json=skip, headers=auth(OPERATE)).status_code == 202
    sent_signal, sent_skip = inbox.records(h.serde, expect=2)
    assert sent_signal["sent_by"] == "alice" and sent_signal["name"] == "approve"
    assert h.serde.decode(sent_signal["payload"]).value["customer_id"] == "bob"
    assert sent_skip["action"] == "SKIP" and sent_skip["seq"] == 0
    assert h.serde.decode(sent_skip["result"]).value == {"reservation_id": "m", "order_id": "o"}


def test_actions_the_state_rules_out_are_refused_and_not_sent(
    api: TestClient, inbox: Inbox, h: WorkflowEnvironment
) -> None:
    headers = auth(OPERATE)
    assert api.post("/api/v1/workflows/t-1/retry", json={}, headers=headers).status_code == 409  # running
    assert api.post("/api/v1/workflows/o-2/cancel", json={}, headers=headers).status_code == 409  # completed
    assert api.post("/api/v1/workflows/o-1/retry", json={"seq": 7}, headers=headers).status_code == 409
    assert api.post("/api/v1/workflows/nope/retry", json={}, headers=headers).status_code == 404
    bad = {"result_schema": "sagabridge.demo.inventory.StockReserved", "result": {"reservation_id": 5}}
    assert api.post("/api/v1/workflows/o-1/skip", json=bad, headers=headers).status_code == 422
    half = {"name": "approve", "payload": {"x": 1}}
    assert api.post("/api/v1/workflows/t-1/signal", json=half, headers=headers).status_code == 422
    assert inbox.records(h.serde) == []


def test_list_filters_pages_and_counts(api: TestClient) -> None:
    def ids(**params: Any) -> list[str]:
        response = api.get("/api/v1/workflows", params=params, headers=auth(READ))
        assert response.status_code == 200, response.text
        return [w["workflow_id"] for w in response.json()["workflows"]]

    assert ids() == ["o-2", "t-1", "o-1"]
    assert ids(status="parked") == ["o-1"]
    assert ids(status=["parked", "completed"]) == ["o-2", "o-1"]
    assert ids(type="tagged") == ["t-1"]
    assert ids(attr="customer_id=c-42") == ["t-1"]
    assert ids(id_prefix="o-") == ["o-1", "o-2"]
    first = api.get("/api/v1/workflows", params={"limit": 2}, headers=auth(READ)).json()
    rest = api.get("/api/v1/workflows", params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth(READ))
    assert [w["workflow_id"] for w in rest.json()["workflows"]] == ["o-1"] and rest.json()["next_cursor"] is None
    t1 = api.get("/api/v1/workflows", params={"type": "tagged"}, headers=auth(READ)).json()["workflows"][0]
    assert ids(started_after=t1["started_at_ms"]) == ["o-2", "t-1"]
    assert ids(started_before="2000-01-01T00:00:00Z") == []
    counts = api.get("/api/v1/counts", headers=auth(READ)).json()
    assert counts == {"total": 3, "by_status": {"parked": 1, "running": 1, "completed": 1}, "source": "counters"}
    assert api.get("/api/v1/workflows", params={"cursor": "garbage"}, headers=auth(READ)).status_code == 422
    assert api.get("/api/v1/workflows", params={"attr": "no-equals"}, headers=auth(READ)).status_code == 422
    assert api.get("/api/v1/workflows", params={"status": "sleepy"}, headers=auth(READ)).status_code == 422


def test_detail_has_steps_attempts_payloads_and_the_row(api: TestClient) -> None:
    detail = api.get("/api/v1/workflows/o-1", headers=auth(READ)).json()
    w = detail["workflow"]
    assert w["status"] == "parked" and "retries exhausted" in w["parked_reason"]
    assert w["current_step"]["status"] == "parked" and w["error"]["error_type"] == "Unavailable"
    assert detail["input"]["value"]["order_id"] == "o-1"
    (step,) = detail["steps"]
    assert (step["service"], step["status"], len(step["attempts"])) == ("inventory", "parked", 4)
    assert [a["outcome"] for a in step["attempts"]] == ["failed", "failed", "failed", "parked"]
    assert all(a["duration_ms"] is not None for a in step["attempts"])
    assert step["command"]["value"] == {"order_id": "o-1", "sku": "sku-1", "quantity": 2}
    done = api.get("/api/v1/workflows/o-2", headers=auth(READ)).json()
    assert [s["status"] for s in done["steps"]] == ["completed"] * 3
    assert done["steps"][0]["result"]["value"]["reservation_id"] == "r-1"
    assert done["workflow"]["duration_ms"] == 0 and done["result"]["schema_name"].endswith("OrderFulfilment")
    tagged = api.get("/api/v1/workflows/t-1", headers=auth(READ)).json()["workflow"]
    assert tagged["awaited_signals"] == ["approve"] and tagged["timer_due_ms"] is not None
    assert tagged["search_attributes"] == {"customer_id": "c-42", "amount_cents": 1999, "vip": False}
    page = api.get("/api/v1/workflows/o-1", params={"timeline_limit": 3}, headers=auth(READ)).json()
    assert len(page["timeline"]) == 3 and page["timeline_next_position"] == 2
    more = api.get("/api/v1/workflows/o-1", params={"timeline_after": 2}, headers=auth(READ)).json()
    assert more["timeline"][0]["position"] == 3
    assert api.get("/api/v1/workflows/missing", headers=auth(READ)).status_code == 404


def test_me_names_the_token_and_its_role(api: TestClient) -> None:
    assert api.get("/api/v1/me").status_code == 401
    assert api.get("/api/v1/me", headers=auth("bogus-token-0123456789")).status_code == 401
    assert api.get("/api/v1/me", headers=auth(READ)).json() == {"name": "reader", "role": "read", "may_operate": False}
    assert api.get("/api/v1/me", headers=auth(OPERATE)).json() == {
        "name": "alice",
        "role": "operate",
        "may_operate": True,
    }


def test_workflow_types_lists_every_type_with_its_counts(api: TestClient) -> None:
    assert api.get("/api/v1/workflow-types").status_code == 401
    types = api.get("/api/v1/workflow-types", headers=auth(READ)).json()["types"]
    assert types == [
        {"workflow_type": "order", "total": 2, "by_status": {"parked": 1, "completed": 1}},
        {"workflow_type": "tagged", "total": 1, "by_status": {"running": 1}},
    ]
