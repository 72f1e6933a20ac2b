"""The lifecycle events visibility needs: few, live only, and only when something changed."""

from __future__ import annotations

import pytest

from examples.orders.models.notifications import CustomerNotified
from examples.orders.models.orders import OrderPlaced
from orchestrator.engine.control import QUERY_RESULT_SCHEMA
from orchestrator.errors import QueryFailedError
from orchestrator.models.control import SignalWorkflow
from orchestrator.testing import WorkflowEnvironment
from tests.engine.test_parking import parked_on_reserve
from tests.engine.test_saga import CHARGED, RESERVED, SHIPPED, only
from tests.engine.workflows import ORDER

NOTE = CustomerNotified(order_id="o-1", customer_id="bob", channel="ui", message="ok")
TAGGED = OrderPlaced(order_id="t-1", customer_id="c-42", sku="s", quantity=1, amount_cents=5, currency="EUR")


def test_a_saga_of_steps_only_costs_no_extra_events(h: WorkflowEnvironment) -> None:
    out = h.start("order", ORDER, id="o-1").output
    assert out.event_names() == ["WorkflowStarted", "StepScheduled"]
    scheduled = only(out.events("StepScheduled"))
    assert h.serde.decode(scheduled["payload"]).value["order_id"] == "o-1"  # the command, for the timeline
    names = []
    for result in (RESERVED, CHARGED, SHIPPED):
        out = h.reply(only(out.commands()), result)
        names += out.event_names()
    assert names == [
        "StepCompleted",
        "StepScheduled",
        "StepCompleted",
        "StepScheduled",
        "StepCompleted",
        "WorkflowCompleted",
    ]


def test_retry_resends_without_the_payload_again(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    h.reply_failure(cmd, "Unavailable")
    scheduled = only(h.advance(1_000).events("StepScheduled"))
    assert scheduled["attempt"] == 2 and scheduled["payload"] is None


def test_waiting_is_announced_when_it_changes_and_not_again_on_replay(h: WorkflowEnvironment) -> None:
    out = h.start("approval", ORDER, id="a-1").output
    waiting = only(out.events("WorkflowWaiting"))
    assert waiting["signals"] == ["approve"] and waiting["timer_due_ms"] == h.now_ms + 3_600_000
    h.evict("a-1")  # rebuilt by replay on the next input: replay emits nothing
    produced = len(h.produced)
    with pytest.raises(QueryFailedError):
        h.query("a-1", "missing")
    answered = [h.decode(r)[0] for r in h.produced[produced:] if r.topic == h.topics.events]
    assert answered == [QUERY_RESULT_SCHEMA]  # the query's answer (queries are answered there); no lifecycle event
    out = h.signal("a-1", "approve", NOTE)
    assert out.event_names() == ["SignalReceived", "WorkflowCompleted"]  # closed: nothing to clear


def test_waiting_is_cleared_when_the_run_goes_on_to_a_step(h: WorkflowEnvironment) -> None:
    h.start("tagged", TAGGED, id="t-1")
    out = h.signal("t-1", "approve")
    assert out.event_names() == ["SignalReceived", "SearchAttributesSet", "StepScheduled", "WorkflowWaiting"]
    cleared = only(out.events("WorkflowWaiting"))
    assert cleared["signals"] == [] and cleared["timer_due_ms"] is None


def test_signal_records_its_sender(h: WorkflowEnvironment) -> None:
    h.start("approval", ORDER, id="a-1")
    payload = h.serde.encode(NOTE.avro_schema_name, NOTE.to_avro())
    signal = SignalWorkflow(
        workflow_id="a-1", name="approve", payload_schema=NOTE.avro_schema_name, payload=payload, sent_by="alice"
    )
    received = only(h.send(h.records.control("a-1", signal)).events("SignalReceived"))
    assert (received["name"], received["sent_by"], received["payload"]) == ("approve", "alice", payload)


def test_parking_says_the_status_and_resuming_is_announced(h: WorkflowEnvironment) -> None:
    parked_on_reserve(h)
    assert [e.value["status"] for e in h.events("o-1", "WorkflowParked")] == ["parked"]
    out = h.operator("o-1", "RETRY")
    assert out.event_names() == ["OperatorActionApplied", "StepScheduled", "WorkflowResumed"]
    assert only(out.events("WorkflowResumed"))["status"] == "running"


def test_cancel_is_announced_before_the_code_unwinds(h: WorkflowEnvironment) -> None:
    h.start("approval", ORDER, id="a-1")
    out = h.cancel("a-1", "changed my mind")
    names = out.event_names()
    assert names[0] == "CancelRequested" and names[-1] == "WorkflowCancelled"
    assert only(out.events("CancelRequested"))["reason"] == "changed my mind"


def test_search_attributes_are_emitted_live_only(h: WorkflowEnvironment) -> None:
    out = h.start("tagged", TAGGED, id="t-1").output
    attrs = only(out.events("SearchAttributesSet"))
    assert attrs["attributes"] == {"customer_id": "c-42", "amount_cents": 5, "vip": False}
    h.evict("t-1")
    later = only(h.signal("t-1", "approve").events("SearchAttributesSet"))  # the first is not re-emitted
    assert later["attributes"] == {"stage": "reserving", "vip": None}
    assert h.kinds("t-1").count("search_attributes_set") == 2
