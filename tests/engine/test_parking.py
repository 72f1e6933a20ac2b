"""Exhausted retries and failed compensations park the run; operators decide."""

from __future__ import annotations

from typing import Any

from orchestrator.models.demo.inventory import StockReleased, StockReserved
from orchestrator.models.demo.payments import PaymentRefunded
from orchestrator.transport.records import OutboundRecord
from tests.engine.harness import DLQ, Harness
from tests.engine.test_saga import CHARGED, RESERVED, only
from tests.engine.workflows import ORDER


def exhaust(h: Harness, cmd: OutboundRecord) -> list[OutboundRecord]:
    """Fail all 4 allowed attempts of a step; returns the output of the last failure."""
    for _ in range(3):
        h.reply_fail(cmd, "Unavailable")
        cmd = only(h.commands(h.advance(10_000)))
    return h.reply_fail(cmd, "Unavailable")


def parked_on_reserve(h: Harness) -> OutboundRecord:
    cmd = only(h.commands(h.start("o-1", "order", ORDER)))
    out = exhaust(h, cmd)
    parked = only(h.events(out, "WorkflowParked"))
    assert "retries exhausted" in parked["reason"]
    assert parked["error"]["error_type"] == "Unavailable"
    header = h.header("o-1")
    assert header.status == "parked" and header.parked_reason is not None
    assert h.commands(h.advance(3_600_000)) == []  # parked: no more retries, no timeouts
    return cmd


def test_operator_retry_resends_with_a_fresh_budget(h: Harness) -> None:
    cmd = parked_on_reserve(h)
    out = h.operator("o-1", "RETRY")
    assert "OperatorActionApplied" in h.event_names(out)
    resent = only(h.commands(out))
    assert resent.header("sb-command-id") == cmd.header("sb-command-id")
    assert resent.header("sb-attempt") == "5"  # attempt numbers keep growing for the participant
    assert h.header("o-1").status == "running"
    h.reply_fail(resent, "Unavailable")  # counts as attempt 1 of the new budget: retried, not parked
    again = only(h.commands(h.advance(1_000)))
    assert again.header("sb-attempt") == "6"
    assert only(h.commands(h.reply_ok(again, RESERVED), "payments"))


def test_operator_skip_completes_the_step_with_the_given_result(h: Harness) -> None:
    parked_on_reserve(h)
    out = h.operator("o-1", "SKIP", result=StockReserved(reservation_id="manual", order_id="o-1"))
    pay = only(h.commands(out, "payments"))
    assert h.header("o-1").status == "running"
    completed = [e for e in h.history("o-1") if e.kind == "step_completed"]
    assert completed[0].data["result"]["reservation_id"] == "manual"
    assert pay is not None


def test_operator_compensate_fails_the_step_so_the_saga_compensates(h: Harness) -> None:
    cmd = only(h.commands(h.start("o-1", "order", ORDER)))
    pay = only(h.commands(h.reply_ok(cmd, RESERVED)))
    exhaust(h, pay)
    assert h.header("o-1").status == "parked"
    out = h.operator("o-1", "COMPENSATE")
    release = only(h.commands(out))
    assert h.decode(release)[0] == "sagabridge.demo.inventory.ReleaseStock"
    out = h.reply_ok(release, StockReleased(reservation_id="r-1"))
    assert h.header("o-1").status == "compensated"


def test_operator_cancel_on_a_parked_run_cancels_it(h: Harness) -> None:
    parked_on_reserve(h)
    out = h.operator("o-1", "CANCEL")
    assert h.header("o-1").status == "cancelled"
    assert "WorkflowCancelled" in h.event_names(out)
    assert h.commands(out) == []


def test_failed_compensation_parks_then_operator_retries_it(h: Harness) -> None:
    cmd = only(h.commands(h.start("o-1", "order", ORDER)))
    pay = only(h.commands(h.reply_ok(cmd, RESERVED)))
    ship = only(h.commands(h.reply_ok(pay, CHARGED)))
    refund = only(h.commands(h.reply_fail(ship, "AddressInvalid", retryable=False)))
    out = h.reply_fail(refund, "LedgerClosed", retryable=False)
    parked = only(h.events(out, "WorkflowParked"))
    assert parked["reason"].startswith("compensation failed")
    assert h.header("o-1").status == "parked"
    assert h.commands(out) == []  # never silently continues with the next compensation
    resent = only(h.commands(h.operator("o-1", "RETRY")))
    release = only(h.commands(h.reply_ok(resent, PaymentRefunded(payment_id="p-1", refund_id="rf"))))
    h.reply_ok(release, StockReleased(reservation_id="r-1"))
    assert h.header("o-1").status == "compensated"


def test_operator_action_on_a_running_workflow_is_dead_lettered(h: Harness) -> None:
    h.start("o-1", "order", ORDER)
    before = h.history("o-1")
    out = h.operator("o-1", "RETRY")
    dlq: Any = only(out)
    assert dlq.topic == DLQ and dlq.header("sb-dlq-reason") == "invalid-record"
    assert h.history("o-1") == before
    assert h.operator("ghost", "SKIP")[0].topic == DLQ
