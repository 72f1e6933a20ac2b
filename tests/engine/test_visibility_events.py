"""The lifecycle events visibility needs: few, live only, and only when something changed."""

from __future__ import annotations

from orchestrator.models.demo.notifications import CustomerNotified
from orchestrator.models.demo.orders import OrderPlaced
from tests.engine.harness import Harness
from tests.engine.test_parking import parked_on_reserve
from tests.engine.test_saga import CHARGED, RESERVED, SHIPPED, only
from tests.engine.workflows import ORDER

NOTE = CustomerNotified(order_id="o-1", customer_id="bob", channel="ui", message="ok")


def test_a_saga_of_steps_only_costs_no_extra_events(h: Harness) -> None:
    out = h.start("o-1", "order", ORDER)
    assert h.event_names(out) == ["WorkflowStarted", "StepScheduled"]
    scheduled = only(h.events(out, "StepScheduled"))
    assert h.serde.decode(scheduled["payload"]).value["order_id"] == "o-1"  # the command, for the timeline
    names = []
    for reply in (RESERVED, CHARGED, SHIPPED):
        out = h.reply_ok(only(h.commands(out)), reply)
        names += h.event_names(out)
    assert names == [
        "StepCompleted",
        "StepScheduled",
        "StepCompleted",
        "StepScheduled",
        "StepCompleted",
        "WorkflowCompleted",
    ]


def test_retry_resends_without_the_payload_again(h: Harness) -> None:
    cmd = only(h.commands(h.start("o-1", "order", ORDER)))
    h.reply_fail(cmd, "Unavailable")
    out = h.advance(1_000)
    scheduled = only(h.events(out, "StepScheduled"))
    assert scheduled["attempt"] == 2 and scheduled["payload"] is None


def test_waiting_is_announced_when_it_changes_and_not_again_on_replay(h: Harness) -> None:
    out = h.start("a-1", "approval", ORDER)
    waiting = only(h.events(out, "WorkflowWaiting"))
    assert waiting["signals"] == ["approve"] and waiting["timer_due_ms"] == h.now + 3_600_000
    h.engine.cache.evict("a-1")  # rebuilt by replay on the next input: replay emits nothing
    out = h.query("a-1", "missing")
    assert h.events(out) == []
    out = h.signal("a-1", "approve", NOTE)
    assert h.event_names(out) == ["SignalReceived", "WorkflowCompleted"]  # closed: nothing to clear


def test_waiting_is_cleared_when_the_run_goes_on_to_a_step(h: Harness) -> None:
    order = OrderPlaced(order_id="t-1", customer_id="c-42", sku="s", quantity=1, amount_cents=5, currency="EUR")
    h.start("t-1", "tagged", order)
    out = h.signal("t-1", "approve")
    assert h.event_names(out) == ["SignalReceived", "SearchAttributesSet", "StepScheduled", "WorkflowWaiting"]
    cleared = only(h.events(out, "WorkflowWaiting"))
    assert cleared["signals"] == [] and cleared["timer_due_ms"] is None


def test_signal_records_its_sender(h: Harness) -> None:
    h.start("a-1", "approval", ORDER)
    payload = h.serde.encode(NOTE.avro_schema_name, NOTE.to_avro())
    out = h.control(
        "sagabridge.control.SignalWorkflow",
        {
            "workflow_id": "a-1",
            "name": "approve",
            "payload_schema": NOTE.avro_schema_name,
            "payload": payload,
            "sent_by": "alice",
        },
    )
    received = only(h.events(out, "SignalReceived"))
    assert (received["name"], received["sent_by"], received["payload"]) == ("approve", "alice", payload)


def test_parking_says_the_status_and_resuming_is_announced(h: Harness) -> None:
    parked_on_reserve(h)
    parked = [e for e in h.events(h.produced, "WorkflowParked")]
    assert parked[-1]["status"] == "parked"
    out = h.operator("o-1", "RETRY")
    assert h.event_names(out) == ["OperatorActionApplied", "StepScheduled", "WorkflowResumed"]
    assert only(h.events(out, "WorkflowResumed"))["status"] == "running"


def test_cancel_is_announced_before_the_code_unwinds(h: Harness) -> None:
    h.start("a-1", "approval", ORDER)
    out = h.cancel("a-1", "changed my mind")
    names = h.event_names(out)
    assert names[0] == "CancelRequested" and names[-1] == "WorkflowCancelled"
    assert only(h.events(out, "CancelRequested"))["reason"] == "changed my mind"


def test_search_attributes_are_emitted_live_only(h: Harness) -> None:
    order = OrderPlaced(order_id="t-1", customer_id="c-42", sku="s", quantity=1, amount_cents=5, currency="EUR")
    out = h.start("t-1", "tagged", order)
    attrs = only(h.events(out, "SearchAttributesSet"))
    assert attrs["attributes"] == {"customer_id": "c-42", "amount_cents": 5, "vip": False}
    h.engine.cache.evict("t-1")
    out = h.signal("t-1", "approve")
    later = only(h.events(out, "SearchAttributesSet"))  # only the new call; the first is not re-emitted
    assert later["attributes"] == {"stage": "reserving", "vip": None}
    assert [e.kind for e in h.history("t-1")].count("search_attributes_set") == 2
