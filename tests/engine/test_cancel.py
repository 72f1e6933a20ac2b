"""Cancelling a run leaves no effect uncompensated (issue 14).

The engine cannot take back a command; only the participant's reply says whether it ran. So a
cancel settles each forward step by what can be known: a step in flight waits for its reply (later
attempts carry `sb-cancel-requested: true`), a step whose last answer was a failure cannot have had
an effect, a step whose last attempt went unanswered is asked again at once.
"""

from __future__ import annotations

from examples.orders.models.inventory import StockReleased, StockReserved
from examples.orders.models.payments import PaymentRefunded
from examples.orders.models.shipping import ShipmentCancelled
from orchestrator.testing import WorkflowEnvironment
from orchestrator.transport.records import OutboundRecord
from tests.engine.test_parking import exhaust
from tests.engine.test_saga import CHARGED, RESERVED, SHIPPED, only
from tests.engine.workflows import INBOX, ORDER


def to_shipping(h: WorkflowEnvironment) -> OutboundRecord:
    """o-1 reserved and charged; returns the CreateShipment command in flight."""
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    pay = only(h.reply(cmd, RESERVED).commands())
    shipping: OutboundRecord = only(h.reply(pay, CHARGED).commands("shipping"))
    return shipping


def finish_compensations(h: WorkflowEnvironment, first: OutboundRecord) -> list[str]:
    """Answer each compensation as it comes; returns their command types in order."""
    results = {
        "sagabridge.demo.shipping.CancelShipment": ShipmentCancelled(shipment_id="s-1"),
        "sagabridge.demo.payments.RefundPayment": PaymentRefunded(payment_id="p-1", refund_id="rf"),
        "sagabridge.demo.inventory.ReleaseStock": StockReleased(reservation_id="r-1"),
    }
    seen: list[str] = []
    cmd: OutboundRecord | None = first
    while cmd is not None:
        kind = h.decode(cmd)[0]
        seen.append(kind.rsplit(".", 1)[1])
        assert cmd.header("sb-cancel-requested") is None  # compensations always run
        nxt = h.reply(cmd, results[kind]).commands()
        cmd = nxt[0] if nxt else None
    return seen


def test_a_shipment_that_succeeds_after_the_cancel_is_compensated(h: WorkflowEnvironment) -> None:
    """The reported case: CreateShipment in flight at the cancel, executed later."""
    ship = to_shipping(h)
    assert h.cancel("o-1").commands() == []
    assert h.header("o-1").status == "running"
    retry = h.advance(30_000)  # the attempt times out: asked again, flagged
    assert only(retry.events("StepRetrying"))["error"]["error_type"] == "AttemptTimeout"
    again = only(h.advance(1_000).commands())
    assert (again.header("sb-attempt"), again.header("sb-cancel-requested")) == ("2", "true")
    assert ship.header("sb-cancel-requested") is None
    out = h.reply(ship, SHIPPED, attempt=1)  # the participant had run attempt 1
    assert finish_compensations(h, only(out.commands())) == ["CancelShipment", "RefundPayment", "ReleaseStock"]
    assert h.header("o-1").status == "cancelled"
    dup = h.reply(again, SHIPPED)  # its stored outcome answering attempt 2
    assert only(dup.events("ReplyIgnored"))["why"] == "duplicate"


def test_a_step_the_participant_declines_after_the_cancel_needs_no_undo(h: WorkflowEnvironment) -> None:
    ship = to_shipping(h)
    h.cancel("o-1")
    h.advance(30_000)
    flagged = only(h.advance(1_000).commands())
    out = h.reply_failure(flagged, "WorkflowCancelled", retryable=False, message="not executed")
    assert only(out.events("StepFailed"))["error"]["error_type"] == "WorkflowCancelled"
    assert finish_compensations(h, only(out.commands())) == ["RefundPayment", "ReleaseStock"]
    assert h.header("o-1").status == "cancelled"
    assert ship is not None


def test_a_retryable_failure_after_the_cancel_settles_the_step(h: WorkflowEnvironment) -> None:
    """A failure answer to the attempt in flight means it was not done (nor, by the protocol's
    order, any earlier one): no retry, nothing to undo."""
    ship = to_shipping(h)
    h.cancel("o-1")
    out = h.reply_failure(ship, "Unavailable", retryable=True)
    assert out.events("StepRetrying") == []
    assert finish_compensations(h, only(out.commands())) == ["RefundPayment", "ReleaseStock"]


def test_a_step_waiting_to_retry_after_a_failure_answer_is_settled_at_once(h: WorkflowEnvironment) -> None:
    ship = to_shipping(h)
    h.reply_failure(ship, "Unavailable")  # answered "not done": waits 1 s for its retry
    out = h.cancel("o-1")
    failed = only(out.events("StepFailed"))
    assert failed["error"]["error_type"] == "WorkflowCancelled" and "Unavailable" in failed["error"]["message"]
    assert finish_compensations(h, only(out.commands())) == ["RefundPayment", "ReleaseStock"]
    assert h.advance(60_000).commands() == []


def test_a_step_waiting_to_retry_after_a_timeout_is_asked_at_once(h: WorkflowEnvironment) -> None:
    to_shipping(h)
    h.advance(30_000)  # attempt 1 unanswered: a retry is due in 1 s
    out = h.cancel("o-1")
    asked = only(out.commands())
    assert (asked.header("sb-attempt"), asked.header("sb-cancel-requested")) == ("2", "true")
    out = h.reply(asked, SHIPPED)
    assert finish_compensations(h, only(out.commands())) == ["CancelShipment", "RefundPayment", "ReleaseStock"]


def test_a_parked_step_is_asked_again_with_a_fresh_budget(h: WorkflowEnvironment) -> None:
    to_shipping(h)
    out = h.advance(200_000)  # every attempt times out: parked after the 4th
    assert [c.header("sb-attempt") for c in out.commands()] == ["2", "3", "4"]
    assert only(out.events("WorkflowParked"))
    out = h.cancel("o-1")
    asked = only(out.commands())
    assert (asked.header("sb-attempt"), asked.header("sb-cancel-requested")) == ("5", "true")
    assert h.header("o-1").status == "running"
    out = h.reply_failure(asked, "WorkflowCancelled", retryable=False)
    assert finish_compensations(h, only(out.commands())) == ["RefundPayment", "ReleaseStock"]
    assert h.header("o-1").status == "cancelled"


def test_operator_cancel_gives_up_on_a_parked_step_and_a_late_success_is_reported(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    pay = only(h.reply(cmd, RESERVED).commands())
    exhaust(h, pay)
    assert h.header("o-1").status == "parked"
    out = h.operator("o-1", "CANCEL")
    assert only(out.events("StepFailed"))["error"]["error_type"] == "OperatorCancelled"
    assert finish_compensations(h, only(out.commands())) == ["ReleaseStock"]
    assert h.header("o-1").status == "cancelled"
    late = h.reply(pay, CHARGED)  # the charge did happen after all: nobody undoes it
    assert only(late.events("ReplyIgnored"))["why"] == "abandoned"
    assert h.engine.stats.abandoned_successes == 1


def test_a_success_for_a_step_that_timed_out_is_abandoned_not_duplicate(h: WorkflowEnvironment) -> None:
    out = h.start("timed", ORDER, id="t-1").output
    first = only(out.commands())
    for _ in range(30):
        if h.advance(1_000).events("StepFailed"):
            break
    assert h.header("t-1").status == "failed"
    late = h.reply(first, StockReserved(reservation_id="r", order_id="o-1"))
    assert only(late.events("ReplyIgnored"))["why"] == "abandoned"


def test_cancel_reaches_open_children_and_waits_for_them(h: WorkflowEnvironment) -> None:
    out = h.start("parent", ORDER, id="parent-1").output
    start = only([r for r in out if r.topic == INBOX])
    child_cmd = only(h.send(h.records.record(start.key, start.value)).commands())
    out = h.cancel("parent-1")
    (cancel,) = [r for r in out if r.topic == INBOX]
    assert cancel.key == b"parent-1-child"
    schema, value = h.decode(cancel)
    assert schema == "sagabridge.control.CancelWorkflow" and value["reason"].startswith("parent parent-1:")
    assert h.header("parent-1").status == "running"  # waits for the child
    out = h.send(h.records.record(cancel.key, cancel.value))  # the child: its reservation is in flight
    assert out.commands() == []
    out = h.reply_failure(child_cmd, "WorkflowCancelled", retryable=False)
    finished = only([r for r in out if r.topic == INBOX])
    assert h.decode(finished)[1]["status"] == "cancelled"
    out = h.send(h.records.record(finished.key, finished.value))
    assert "WorkflowCancelled" in out.event_names()
    assert h.header("parent-1").status == "cancelled"


def test_operator_cancel_is_the_escape_hatch_when_a_participant_never_answers(h: WorkflowEnvironment) -> None:
    """A client cancel waits for the shipment's answer; shipping never comes back. An operator
    forces it: the step is given up on, the rest is compensated, a later success is reported."""
    ship = to_shipping(h)
    h.cancel("o-1")
    out = h.advance(3_600_000)  # attempts 2-4 flagged, all unanswered: parked, still cancelling
    assert [c.header("sb-cancel-requested") for c in out.commands()] == ["true"] * 3
    assert h.header("o-1").status == "parked"
    out = h.operator("o-1", "CANCEL")
    assert only(out.events("StepFailed"))["error"]["error_type"] == "OperatorCancelled"
    assert finish_compensations(h, only(out.commands())) == ["RefundPayment", "ReleaseStock"]
    assert h.header("o-1").status == "cancelled"
    assert only(h.reply(ship, SHIPPED).events("ReplyIgnored"))["why"] == "abandoned"


def test_operator_cancel_gives_up_on_a_step_in_flight(h: WorkflowEnvironment) -> None:
    ship = to_shipping(h)
    out = h.operator("o-1", "CANCEL")  # running, nothing parked: a forced cancel all the same
    assert only(out.events("StepFailed"))["error"]["error_type"] == "OperatorCancelled"
    assert finish_compensations(h, only(out.commands())) == ["RefundPayment", "ReleaseStock"]
    assert h.header("o-1").status == "cancelled"
    assert ship is not None
