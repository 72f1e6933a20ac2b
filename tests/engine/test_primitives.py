"""Signals, timers, parallel steps, child workflows, cancellation and queries through the engine."""

from __future__ import annotations

import json

from examples.orders.models.inventory import StockReleased, StockReserved
from examples.orders.models.notifications import CustomerNotified
from examples.orders.models.payments import PaymentCharged, PaymentRefunded
from orchestrator.testing import WorkflowEnvironment
from tests.engine.test_saga import RESERVED, only
from tests.engine.workflows import INBOX, ORDER

NOTE = CustomerNotified(order_id="o-1", customer_id="bob", channel="email", message="ok")


def test_signal_arrives_before_the_timeout(h: WorkflowEnvironment) -> None:
    h.start("approval", ORDER, id="a-1")
    assert len(h.timer_keys()) == 1
    out = h.signal("a-1", "approve", NOTE)
    done = only(out.events("WorkflowCompleted"))
    assert h.serde.decode(done["result"]).value["reservation_id"] == "approved-by-bob"
    assert h.timer_keys() == []  # the signal won: its timeout timer was cancelled
    kinds = h.kinds("a-1")
    assert "signal_received" in kinds and "timer_cancelled" in kinds
    assert h.advance(7_200_000) == []


def test_signal_timeout_fires_from_the_durable_timer(h: WorkflowEnvironment) -> None:
    h.start("approval", ORDER, id="a-1")
    assert h.engine.next_due_ms(h.txn) == h.now_ms + 3_600_000
    assert h.advance(3_599_999) == []
    out = h.advance(1)
    release = only(out.commands())
    out = h.reply(release, StockReleased(reservation_id="none"))
    result = h.serde.decode(only(out.events("WorkflowCompleted"))["result"]).value
    assert result["reservation_id"] == "timed-out"
    assert h.signal("a-1", "approve", NOTE) == []  # finished: dropped
    assert h.engine.stats.signals_dropped == 1


def test_parallel_steps_then_durable_sleep(h: WorkflowEnvironment) -> None:
    out = h.start("parallel", ORDER, id="p-1").output
    inv, pay = only(out.commands("inventory")), only(out.commands("payments"))
    assert inv.header("sb-command-id") != pay.header("sb-command-id")
    assert h.reply(pay, PaymentCharged(payment_id="p", order_id="o-1", amount_cents=1)).commands() == []
    out = h.reply(inv, RESERVED)
    assert out.commands() == [] and out.events("WorkflowCompleted") == []
    assert h.engine.next_due_ms(h.txn) == h.now_ms + 300_000
    assert h.advance(299_999) == []
    assert only(h.advance(1).events("WorkflowCompleted"))
    assert h.header("p-1").status == "completed"


def test_child_workflow_round_trip_through_the_inbox(h: WorkflowEnvironment) -> None:
    out = h.start("parent", ORDER, id="parent-1").output
    start = only([r for r in out if r.topic == INBOX])
    assert start.key == b"parent-1-child" and start.partition is None
    schema, value = h.decode(start)
    assert schema == "sagabridge.control.StartWorkflow"
    assert (value["parent_workflow_id"], value["workflow_type"]) == ("parent-1", "child")
    out = h.send(h.records.record(start.key, start.value))  # the child lands on (here) the same partition
    cmd = only(out.commands())
    out = h.reply(cmd, StockReserved(reservation_id="cr", order_id="o-1"))
    finished = only([r for r in out if r.topic == INBOX])
    assert finished.key == b"parent-1"
    assert h.decode(finished)[1]["status"] == "completed"
    out = h.send(h.records.record(finished.key, finished.value))
    result = h.serde.decode(only(out.events("WorkflowCompleted"))["result"]).value
    assert result["reservation_id"] == "via-child:cr"
    assert h.send(h.records.record(finished.key, finished.value)) == []  # duplicate: ignored
    assert "child_finished" in h.kinds("parent-1")


def test_cancel_waits_for_the_step_in_flight_then_compensates(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    pay = only(h.reply(cmd, RESERVED).commands())
    assert h.cancel("o-1").commands() == []  # the charge is in flight: its outcome decides
    assert h.cancel("o-1") == []  # second request: ignored
    out = h.reply(pay, PaymentCharged(payment_id="p", order_id="o-1", amount_cents=1))
    refund = only(out.commands())
    assert h.decode(refund)[0] == "sagabridge.demo.payments.RefundPayment"  # the late success is undone
    release = only(h.reply(refund, PaymentRefunded(payment_id="p", refund_id="rf")).commands())
    assert h.decode(release)[0] == "sagabridge.demo.inventory.ReleaseStock"
    out = h.reply(release, StockReleased(reservation_id="r-1"))
    assert "WorkflowCancelled" in out.event_names()
    assert h.header("o-1").status == "cancelled"
    late = h.reply(pay, PaymentCharged(payment_id="p", order_id="o-1", amount_cents=1))
    assert late.event_names() == ["ReplyIgnored"] and only(late.events())["why"] == "duplicate"
    assert h.cancel("o-1") == []


def test_query_answers_without_touching_history(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    h.reply(cmd, RESERVED)
    before = h.history("o-1")
    out = h.send(h.records.query("o-1", "status", query_id="q1", reply_topic="client.replies"))
    answer = only(out)
    assert answer.topic == "client.replies" and answer.key == b"o-1"
    schema, value = h.decode(answer)
    assert schema == "sagabridge.control.QueryResult" and value["ok"] is True
    assert json.loads(value["result_json"]) == {"stage": "charging"}
    assert h.history("o-1") == before
    _, missing = h.decode(only(h.send(h.records.query("o-1", "nope", query_id="q1", reply_topic="client.replies"))))
    assert missing["ok"] is False and missing["error"]
    _, unknown = h.decode(only(h.send(h.records.query("ghost", "status", query_id="q1", reply_topic="client.replies"))))
    assert unknown["ok"] is False


def test_service_topic_override(h: WorkflowEnvironment) -> None:
    out = h.start("billing", ORDER, id="b-1").output
    cmd = only([r for r in out if r.topic == "billing.in"])
    assert out.to_topic("billing.commands") == []
    out = h.reply(cmd, PaymentRefunded(payment_id="p", refund_id="r"))
    assert h.header("b-1").status == "completed" and out


def test_query_on_a_finished_evicted_run_replays_quietly(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    h.reply_failure(cmd, "Broken", retryable=False)  # fails at once, nothing to compensate
    assert h.header("o-1").status in ("failed", "compensated")
    h.engine.discard(["o-1"])
    before = h.history("o-1")
    out = h.send(h.records.query("o-1", "status", query_id="q1", reply_topic="client.replies"))
    _, value = h.decode(only(out))
    assert value["ok"] is True and json.loads(value["result_json"]) == {"stage": "reserving"}
    assert h.history("o-1") == before
