"""Exhausted retries and failed compensations park the run; operators decide."""

from __future__ import annotations

from typing import Any

from examples.orders.models.inventory import StockReleased, StockReserved
from examples.orders.models.payments import PaymentRefunded
from orchestrator.testing import Output, WorkflowEnvironment
from orchestrator.transport.records import OutboundRecord
from tests.engine.test_saga import CHARGED, RESERVED, only
from tests.engine.workflows import DLQ, ORDER


def exhaust(h: WorkflowEnvironment, cmd: OutboundRecord) -> Output:
    """Fail all 4 allowed attempts of a step; returns the output of the last failure."""
    for _ in range(3):
        h.reply_failure(cmd, "Unavailable")
        cmd = only(h.advance(10_000).commands())
    return h.reply_failure(cmd, "Unavailable")


def parked_on_reserve(h: WorkflowEnvironment) -> OutboundRecord:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    out = exhaust(h, cmd)
    parked = only(out.events("WorkflowParked"))
    assert "retries exhausted" in parked["reason"]
    assert parked["error"]["error_type"] == "Unavailable"
    header = h.header("o-1")
    assert header.status == "parked" and header.parked_reason is not None
    assert h.advance(3_600_000).commands() == []  # parked: no more retries, no timeouts
    parked_cmd: OutboundRecord = cmd
    return parked_cmd


def test_operator_retry_resends_with_a_fresh_budget(h: WorkflowEnvironment) -> None:
    cmd = parked_on_reserve(h)
    out = h.operator("o-1", "RETRY")
    assert "OperatorActionApplied" in out.event_names()
    resent = only(out.commands())
    assert resent.header("sb-command-id") == cmd.header("sb-command-id")
    assert resent.header("sb-attempt") == "5"  # attempt numbers keep growing for the participant
    assert h.header("o-1").status == "running"
    h.reply_failure(resent, "Unavailable")  # counts as attempt 1 of the new budget: retried, not parked
    again = only(h.advance(1_000).commands())
    assert again.header("sb-attempt") == "6"
    assert only(h.reply(again, RESERVED).commands("payments"))


def test_operator_skip_completes_the_step_with_the_given_result(h: WorkflowEnvironment) -> None:
    parked_on_reserve(h)
    out = h.operator("o-1", "SKIP", result=StockReserved(reservation_id="manual", order_id="o-1"))
    pay = only(out.commands("payments"))
    assert h.header("o-1").status == "running"
    completed = [e for e in h.history("o-1") if e.kind == "step_completed"]
    assert completed[0].data["result"]["reservation_id"] == "manual"
    assert pay is not None


def test_operator_compensate_fails_the_step_so_the_saga_compensates(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    pay = only(h.reply(cmd, RESERVED).commands())
    exhaust(h, pay)
    assert h.header("o-1").status == "parked"
    out = h.operator("o-1", "COMPENSATE")
    release = only(out.commands())
    assert h.decode(release)[0] == "sagabridge.demo.inventory.ReleaseStock"
    out = h.reply(release, StockReleased(reservation_id="r-1"))
    assert h.header("o-1").status == "compensated"


def test_operator_cancel_on_a_parked_run_cancels_it(h: WorkflowEnvironment) -> None:
    parked_on_reserve(h)
    out = h.operator("o-1", "CANCEL")
    assert h.header("o-1").status == "cancelled"
    assert "WorkflowCancelled" in out.event_names()
    assert out.commands() == []


def test_failed_compensation_parks_then_operator_retries_it(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    pay = only(h.reply(cmd, RESERVED).commands())
    ship = only(h.reply(pay, CHARGED).commands())
    refund = only(h.reply_failure(ship, "AddressInvalid", retryable=False).commands())
    out = h.reply_failure(refund, "LedgerClosed", retryable=False)
    parked = only(out.events("WorkflowParked"))
    assert parked["reason"].startswith("compensation failed")
    assert h.header("o-1").status == "parked"
    assert out.commands() == []  # never silently continues with the next compensation
    resent = only(h.operator("o-1", "RETRY").commands())
    release = only(h.reply(resent, PaymentRefunded(payment_id="p-1", refund_id="rf")).commands())
    h.reply(release, StockReleased(reservation_id="r-1"))
    assert h.header("o-1").status == "compensated"


def test_operator_action_on_a_running_workflow_is_dead_lettered(h: WorkflowEnvironment) -> None:
    h.start("order", ORDER, id="o-1")
    before = h.history("o-1")
    out = h.operator("o-1", "RETRY")
    dlq: Any = only(out)
    assert dlq.topic == DLQ and dlq.header("sb-dlq-reason") == "invalid-record"
    assert h.history("o-1") == before
    assert h.operator("ghost", "SKIP")[0].topic == DLQ
