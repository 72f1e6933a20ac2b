"""Step semantics: happy path, retries with durable backoff, final failure + compensation,
timeouts, late and duplicate replies."""

from __future__ import annotations

from typing import Any

from examples.orders.models.inventory import StockReleased, StockReserved
from examples.orders.models.payments import PaymentCharged, PaymentRefunded
from examples.orders.models.shipping import ShipmentCreated
from orchestrator.testing import WorkflowEnvironment
from tests.engine.workflows import EVENTS, INBOX, ORDER

RESERVED = StockReserved(reservation_id="r-1", order_id="o-1")
CHARGED = PaymentCharged(payment_id="p-1", order_id="o-1", amount_cents=1999)
SHIPPED = ShipmentCreated(shipment_id="s-1", order_id="o-1")


def only(records: list[Any]) -> Any:
    assert len(records) == 1, records
    return records[0]


def test_three_step_saga_happy_path(h: WorkflowEnvironment) -> None:
    out = h.start("order", ORDER, id="o-1", trace_context={"traceparent": "00-aa-bb-01"}).output
    assert out.event_names() == ["WorkflowStarted", "StepScheduled"]
    cmd = only(out.commands("inventory"))
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

    out = h.reply(cmd, RESERVED)
    pay = only(out.commands("payments"))
    assert out.event_names() == ["StepCompleted", "StepScheduled"]
    out = h.reply(pay, CHARGED)
    ship = only(out.commands("shipping"))
    out = h.reply(ship, SHIPPED)
    assert out.commands() == []
    done = only(out.events("WorkflowCompleted"))
    assert done["result_schema"] == "sagabridge.demo.orders.OrderFulfilment"
    result = h.serde.decode(done["result"]).value
    assert (result["reservation_id"], result["payment_id"], result["shipment_id"]) == ("r-1", "p-1", "s-1")
    header = h.header("o-1")
    assert header.status == "completed" and header.closed_at_ms == h.now_ms
    kinds = h.kinds("o-1")
    assert kinds[0] == "started" and kinds[-1] == "completed"
    assert kinds.count("step_scheduled") == 3 and kinds.count("step_completed") == 3
    assert [e.seq for e in h.history("o-1")] == list(range(len(kinds)))
    assert not any(key.startswith(b"s/") for key in h.keys_of("o-1"))
    assert h.timer_keys() == []
    assert any(key.startswith(b"r/") for key in h.keys_of("o-1"))
    assert all(r.topic != EVENTS or r.key == b"o-1" for r in h.produced)


def test_transient_failures_retry_with_backoff_then_succeed(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands("inventory"))
    out = h.reply_failure(cmd, "Unavailable")
    retry = only(out.events("StepRetrying"))
    assert retry["retry_at_ms"] == h.now_ms + 1_000 and retry["attempt"] == 1
    assert retry["error"]["error_type"] == "Unavailable"
    assert out.commands() == []
    assert h.engine.next_due_ms(h.txn) == h.now_ms + 1_000
    assert h.advance(999).commands() == []
    second = only(h.advance(1).commands("inventory"))
    assert second.header("sb-command-id") == cmd.header("sb-command-id")
    assert second.header("sb-attempt") == "2"
    assert second.value == cmd.value

    out = h.reply_failure(second, "Unavailable")
    assert only(out.events("StepRetrying"))["retry_at_ms"] == h.now_ms + 2_000
    assert h.advance(1_999).commands() == []
    third = only(h.advance(1).commands("inventory"))
    assert third.header("sb-attempt") == "3"
    out = h.reply(third, RESERVED)
    assert only(out.commands("payments"))
    completed = [e for e in h.history("o-1") if e.kind == "step_completed"]
    assert completed[0].data["attempt"] == 3
    assert "step_failed" not in h.kinds("o-1")


def test_permanent_failure_compensates_in_reverse(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    pay = only(h.reply(cmd, RESERVED).commands())
    ship = only(h.reply(pay, CHARGED).commands())
    out = h.reply_failure(ship, "AddressInvalid", retryable=False)
    assert "StepFailed" in out.event_names()
    assert "Compensating" in out.event_names()
    refund = only(out.commands())
    assert refund.topic == "payments.commands"
    assert h.decode(refund)[0] == "sagabridge.demo.payments.RefundPayment"
    out = h.reply(refund, PaymentRefunded(payment_id="p-1", refund_id="rf-1"))
    release = only(out.commands())
    assert h.decode(release) == ("sagabridge.demo.inventory.ReleaseStock", {"reservation_id": "r-1", "order_id": "o-1"})
    out = h.reply(release, StockReleased(reservation_id="r-1"))
    assert out.event_names()[-1] == "WorkflowCompensated"
    assert h.header("o-1").status == "compensated"
    failed = [e for e in h.history("o-1") if e.kind == "step_failed"]
    assert failed[0].data["error"]["error_type"] == "AddressInvalid"


def test_non_retryable_error_type_from_policy_fails_at_once(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    pay = only(h.reply(cmd, RESERVED).commands())
    out = h.reply_failure(pay, "PaymentDeclined", retryable=True)  # policy overrides the participant
    assert out.events("StepRetrying") == []
    assert h.decode(only(out.commands()))[0] == "sagabridge.demo.inventory.ReleaseStock"


def test_attempt_timeout_retries_and_late_replies_change_nothing(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    assert h.advance(29_999).commands() == []
    out = h.advance(1)  # start_to_close 30 s elapsed
    retry = only(out.events("StepRetrying"))
    assert retry["error"]["error_type"] == "AttemptTimeout"
    second = only(h.advance(1_000).commands())
    assert second.header("sb-attempt") == "2"

    late = h.reply_failure(cmd, "Unavailable", attempt=1)  # a failure for an attempt no longer waited for
    assert late.event_names() == ["ReplyIgnored"]
    assert only(late.events())["why"] == "late"
    assert h.header("o-1").status == "running"

    # The first success settles the step, whichever attempt it answers.
    out = h.reply(cmd, RESERVED, attempt=1)
    assert only(out.commands("payments"))
    dup = h.reply(second, RESERVED)
    assert only(dup.events())["why"] == "duplicate"
    assert dup.commands() == []
    history_len = len(h.history("o-1"))
    h.reply_failure(second, "Unavailable")
    assert len(h.history("o-1")) == history_len
    # the stale attempt-timeout entry of attempt 2 fires harmlessly
    assert h.advance(60_000).commands() == []


def test_overall_timeout_fails_the_step_finally(h: WorkflowEnvironment) -> None:
    out = h.start("timed", ORDER, id="t-1").output
    sent = len(out.commands())
    for _ in range(30):
        out = h.advance(1_000)
        sent += len(out.commands())
        if out.events("StepFailed"):
            break
    failed = only(out.events("StepFailed"))
    assert failed["error"]["error_type"] == "StepTimeout"
    assert h.now_ms - 1_700_000_000_000 == 20_000  # schedule_to_close
    assert sent == 3  # attempts at 0 s, 7 s and 14 s (5 s attempt timeout + 2 s backoff)
    assert h.header("t-1").status == "failed"
    assert only(out.events("WorkflowFailed"))
    assert h.timer_keys() == []


def test_unknown_steps_and_workflows_are_ignored(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    headers = {"sb-workflow-id": "o-1", "sb-command-id": "o-1/999", "sb-attempt": "1", "sb-reply-status": "success"}
    out = h.send(h.records.record("o-1", None, headers))
    assert only(out.events())["why"] == "unknown-step"
    headers = {"sb-workflow-id": "nope", "sb-command-id": "nope/1", "sb-attempt": "1", "sb-reply-status": "success"}
    assert h.send(h.records.record("nope", None, headers)) == []
    assert h.engine.stats.replies_ignored == 2
    assert cmd is not None


def test_duplicate_start_is_a_no_op(h: WorkflowEnvironment) -> None:
    h.start("order", ORDER, id="o-1")
    before = h.history("o-1")
    assert h.start("order", ORDER, id="o-1").output == []
    assert h.history("o-1") == before
    assert h.engine.stats.duplicate_starts == 1


def test_a_permanent_failure_settles_the_step_whichever_attempt_it_answers(h: WorkflowEnvironment) -> None:
    """Issue 14: a participant back from an outage answers attempt 1 and replays that stored
    outcome for attempt 2 (echoing either attempt). A decline must settle the step, and a refused
    compensation must park the run, instead of both being ignored as late forever."""
    reserve = only(h.start("outage", ORDER, id="x-1").output.commands())
    charge = only(h.reply(reserve, RESERVED).commands())
    h.advance(30_000)  # attempt 1 unanswered: retried
    second = only(h.advance(1_000).commands())
    assert second.header("sb-attempt") == "2"
    out = h.reply_failure(charge, "PaymentDeclined", retryable=False, attempt=1)
    assert "StepFailed" in out.event_names() and out.events("ReplyIgnored") == []
    failed = only(out.events("StepFailed"))
    assert failed["error"]["error_type"] == "PaymentDeclined"
    release = only(out.commands())
    assert h.decode(release)[0] == "sagabridge.demo.inventory.ReleaseStock"
    replayed = h.reply_failure(charge, "PaymentDeclined", retryable=False, attempt=2)
    assert only(replayed.events())["why"] == "late"  # settled: the replay of attempt 2 changes nothing

    h.advance(30_000)  # the release is unanswered too
    assert only(h.advance(1_000).commands()).header("sb-attempt") == "2"
    out = h.reply_failure(release, "NothingToRelease", retryable=False, attempt=1)
    parked = only(out.events("WorkflowParked"))
    assert parked["reason"].startswith("compensation failed: NothingToRelease")
    assert h.header("x-1").status == "parked"
    again = h.reply_failure(release, "NothingToRelease", retryable=False, attempt=2)
    assert again.event_names() == ["ReplyIgnored"]  # already parked: nothing more to do
    assert h.advance(3_600_000).commands() == []  # and no retry loop
