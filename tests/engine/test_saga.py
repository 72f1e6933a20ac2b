"""Step semantics: happy path, retries with durable backoff, final failure + compensation,
timeouts, late and duplicate replies."""

from __future__ import annotations

from typing import Any

from orchestrator.models.demo.inventory import StockReleased, StockReserved
from orchestrator.models.demo.payments import PaymentCharged, PaymentRefunded
from orchestrator.models.demo.shipping import ShipmentCreated
from tests.engine.harness import EVENTS, INBOX, Harness
from tests.engine.workflows import ORDER

RESERVED = StockReserved(reservation_id="r-1", order_id="o-1")
CHARGED = PaymentCharged(payment_id="p-1", order_id="o-1", amount_cents=1999)
SHIPPED = ShipmentCreated(shipment_id="s-1", order_id="o-1")


def only(records: list[Any]) -> Any:
    assert len(records) == 1, records
    return records[0]


def test_three_step_saga_happy_path(h: Harness) -> None:
    out = h.start("o-1", "order", ORDER, trace={"traceparent": "00-aa-bb-01"})
    assert h.event_names(out) == ["WorkflowStarted", "StepScheduled"]
    cmd = only(h.commands(out, "inventory"))
    assert cmd.key == b"o-1"
    assert cmd.header("sb-workflow-id") == "o-1"
    assert cmd.header("sb-command-id").startswith("o-1/")
    assert cmd.header("sb-attempt") == "1"
    assert cmd.header("sb-reply-to") == INBOX
    assert cmd.header("sb-command-type") == "sagabridge.demo.inventory.ReserveStock"
    assert cmd.header("traceparent") == "00-aa-bb-01"
    expected = {"order_id": "o-1", "sku": "sku-1", "quantity": 2}
    assert h.decode(cmd) == ("sagabridge.demo.inventory.ReserveStock", expected)
    assert h.header("o-1").status == "running"

    out = h.reply_ok(cmd, RESERVED)
    pay = only(h.commands(out, "payments"))
    assert h.event_names(out) == ["StepCompleted", "StepScheduled"]
    out = h.reply_ok(pay, CHARGED)
    ship = only(h.commands(out, "shipping"))
    out = h.reply_ok(ship, SHIPPED)
    assert h.commands(out) == []
    done = only(h.events(out, "WorkflowCompleted"))
    assert done["result_schema"] == "sagabridge.demo.orders.OrderFulfilment"
    result = h.serde.decode(done["result"]).value
    assert (result["reservation_id"], result["payment_id"], result["shipment_id"]) == ("r-1", "p-1", "s-1")
    header = h.header("o-1")
    assert header.status == "completed" and header.closed_at_ms == h.now
    kinds = h.kinds("o-1")
    assert kinds[0] == "started" and kinds[-1] == "completed"
    assert kinds.count("step_scheduled") == 3 and kinds.count("step_completed") == 3
    assert [e.seq for e in h.history("o-1")] == list(range(len(kinds)))
    assert not any(key.startswith(b"s/") for key in h.keys_of("o-1"))
    assert h.timer_keys() == []
    assert any(key.startswith(b"r/") for key in h.keys_of("o-1"))
    assert all(r.topic != EVENTS or r.key == b"o-1" for r in h.produced)


def test_transient_failures_retry_with_backoff_then_succeed(h: Harness) -> None:
    cmd = only(h.commands(h.start("o-1", "order", ORDER), "inventory"))
    out = h.reply_fail(cmd, "Unavailable")
    retry = only(h.events(out, "StepRetrying"))
    assert retry["retry_at_ms"] == h.now + 1_000 and retry["attempt"] == 1
    assert retry["error"]["error_type"] == "Unavailable"
    assert h.commands(out) == []
    assert h.engine.next_due_ms(h.txn) == h.now + 1_000
    assert h.commands(h.advance(999)) == []
    second = only(h.commands(h.advance(1), "inventory"))
    assert second.header("sb-command-id") == cmd.header("sb-command-id")
    assert second.header("sb-attempt") == "2"
    assert second.value == cmd.value

    out = h.reply_fail(second, "Unavailable")
    assert only(h.events(out, "StepRetrying"))["retry_at_ms"] == h.now + 2_000
    assert h.commands(h.advance(1_999)) == []
    third = only(h.commands(h.advance(1), "inventory"))
    assert third.header("sb-attempt") == "3"
    out = h.reply_ok(third, RESERVED)
    assert only(h.commands(out, "payments"))
    completed = [e for e in h.history("o-1") if e.kind == "step_completed"]
    assert completed[0].data["attempt"] == 3
    assert "step_failed" not in h.kinds("o-1")


def test_permanent_failure_compensates_in_reverse(h: Harness) -> None:
    cmd = only(h.commands(h.start("o-1", "order", ORDER)))
    pay = only(h.commands(h.reply_ok(cmd, RESERVED)))
    ship = only(h.commands(h.reply_ok(pay, CHARGED)))
    out = h.reply_fail(ship, "AddressInvalid", retryable=False)
    assert "StepFailed" in h.event_names(out)
    assert "Compensating" in h.event_names(out)
    refund = only(h.commands(out))
    assert refund.topic == "payments.commands"
    assert h.decode(refund)[0] == "sagabridge.demo.payments.RefundPayment"
    out = h.reply_ok(refund, PaymentRefunded(payment_id="p-1", refund_id="rf-1"))
    release = only(h.commands(out))
    assert h.decode(release) == ("sagabridge.demo.inventory.ReleaseStock", {"reservation_id": "r-1", "order_id": "o-1"})
    out = h.reply_ok(release, StockReleased(reservation_id="r-1"))
    assert h.event_names(out)[-1] == "WorkflowCompensated"
    assert h.header("o-1").status == "compensated"
    failed = [e for e in h.history("o-1") if e.kind == "step_failed"]
    assert failed[0].data["error"]["error_type"] == "AddressInvalid"


def test_non_retryable_error_type_from_policy_fails_at_once(h: Harness) -> None:
    cmd = only(h.commands(h.start("o-1", "order", ORDER)))
    pay = only(h.commands(h.reply_ok(cmd, RESERVED)))
    out = h.reply_fail(pay, "PaymentDeclined", retryable=True)  # policy overrides the participant
    assert h.events(out, "StepRetrying") == []
    assert h.decode(only(h.commands(out)))[0] == "sagabridge.demo.inventory.ReleaseStock"


def test_attempt_timeout_retries_and_late_replies_change_nothing(h: Harness) -> None:
    cmd = only(h.commands(h.start("o-1", "order", ORDER)))
    assert h.commands(h.advance(29_999)) == []
    out = h.advance(1)  # start_to_close 30 s elapsed
    retry = only(h.events(out, "StepRetrying"))
    assert retry["error"]["error_type"] == "AttemptTimeout"
    second = only(h.commands(h.advance(1_000)))
    assert second.header("sb-attempt") == "2"

    late = h.reply_fail(cmd, "Unavailable", attempt=1)  # a failure for an attempt no longer waited for
    assert h.event_names(late) == ["ReplyIgnored"]
    assert only(h.events(late))["why"] == "late"
    assert h.header("o-1").status == "running"

    # The first success settles the step, whichever attempt it answers.
    out = h.reply_ok(cmd, RESERVED, attempt=1)
    assert only(h.commands(out, "payments"))
    dup = h.reply_ok(second, RESERVED)
    assert only(h.events(dup))["why"] == "duplicate"
    assert h.commands(dup) == []
    history_len = len(h.history("o-1"))
    h.reply_fail(second, "Unavailable")
    assert len(h.history("o-1")) == history_len
    # the stale attempt-timeout entry of attempt 2 fires harmlessly
    assert h.commands(h.advance(60_000)) == []


def test_overall_timeout_fails_the_step_finally(h: Harness) -> None:
    out = h.start("t-1", "timed", ORDER)
    sent = len(h.commands(out))
    for _ in range(30):
        out = h.advance(1_000)
        sent += len(h.commands(out))
        if h.events(out, "StepFailed"):
            break
    failed = only(h.events(out, "StepFailed"))
    assert failed["error"]["error_type"] == "StepTimeout"
    assert h.now - 1_700_000_000_000 == 20_000  # schedule_to_close
    assert sent == 3  # attempts at 0 s, 7 s and 14 s (5 s attempt timeout + 2 s backoff)
    assert h.header("t-1").status == "failed"
    assert only(h.events(out, "WorkflowFailed"))
    assert h.timer_keys() == []


def test_unknown_steps_and_workflows_are_ignored(h: Harness) -> None:
    cmd = only(h.commands(h.start("o-1", "order", ORDER)))
    headers = {"sb-workflow-id": "o-1", "sb-command-id": "o-1/999", "sb-attempt": "1", "sb-reply-status": "success"}
    out = h.feed(h.record("o-1", None, headers))
    assert only(h.events(out))["why"] == "unknown-step"
    headers = {"sb-workflow-id": "nope", "sb-command-id": "nope/1", "sb-attempt": "1", "sb-reply-status": "success"}
    assert h.feed(h.record("nope", None, headers)) == []
    assert h.engine.stats.replies_ignored == 2
    assert cmd is not None


def test_duplicate_start_is_a_no_op(h: Harness) -> None:
    h.start("o-1", "order", ORDER)
    before = h.history("o-1")
    assert h.start("o-1", "order", ORDER) == []
    assert h.history("o-1") == before
    assert h.engine.stats.duplicate_starts == 1
