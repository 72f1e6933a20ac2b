"""Saga compensation and cancellation."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from orchestrator.errors import CompensationFailedError, WorkflowCancelledError, error_type_name
from orchestrator.workflow import WorkflowContext, WorkflowRegistry, workflow
from orchestrator.workflow.activation import CancelTimer, CompleteWorkflow, ErrorInfo, FailWorkflow, ScheduleStep
from tests.workflow.driver import Driver
from tests.workflow.models import Charge, Charged, Order, Refund, Release, Reserve, Reserved, Ship

reg = WorkflowRegistry()


@workflow("order-saga", registry=reg)
async def order_saga(ctx: WorkflowContext, order: Order) -> dict[str, Any]:
    async with ctx.saga() as saga:
        stock = await ctx.call("inventory", Reserve(order_id=order.order_id), result=Reserved)
        saga.add_compensation("inventory", Release(reservation_id=stock.reservation_id))
        paid = await ctx.call("payments", Charge(order_id=order.order_id, amount=order.amount), result=Charged)
        saga.add_compensation("payments", Refund(payment_id=paid.payment_id))
        await ctx.sleep(timedelta(minutes=1))
        await ctx.call("shipping", Ship(order_id=order.order_id))
    return {"ok": True}


def _comp(cmd: object) -> tuple[str, str, bool]:
    assert isinstance(cmd, ScheduleStep)
    return cmd.service, cmd.command_type, cmd.compensation


def _run_to_shipping(d: Driver) -> None:
    d.start(Order(order_id="o1").to_avro())
    d.complete(0, {"reservation_id": "r1"})
    d.complete(1, {"payment_id": "p1"})
    d.fire(2)


def test_failure_compensates_in_reverse_order_then_ends_compensated() -> None:
    d = Driver(order_saga)
    _run_to_shipping(d)
    [refund] = d.fail(3, "NoCarrier")
    assert _comp(refund) == ("payments", "test.workflow.Refund", True)
    assert refund.payload == {"payment_id": "p1"}  # type: ignore[union-attr]
    [release] = d.complete(4, {})
    assert _comp(release) == ("inventory", "test.workflow.Release", True)
    [end] = d.complete(5, {})
    assert isinstance(end, FailWorkflow) and end.status == "compensated"
    assert end.error.error_type == "StepFailed" and "NoCarrier" in end.error.message


def test_failure_before_any_compensation_is_registered_ends_failed() -> None:
    d = Driver(order_saga)
    d.start(Order(order_id="o1").to_avro())
    [end] = d.fail(0, "OutOfStock")
    assert isinstance(end, FailWorkflow) and end.status == "failed"


def test_cancel_interrupts_the_wait_and_compensations_still_run() -> None:
    d = Driver(order_saga)
    d.start(Order(order_id="o1").to_avro())
    d.complete(0, {"reservation_id": "r1"})
    d.complete(1, {"payment_id": "p1"})
    cmds = d.cancel("customer changed mind")
    assert cmds[0] == CancelTimer(2)  # the pending sleep is cancelled, its timer removed
    assert [_comp(c) for c in cmds[1:]] == [("payments", "test.workflow.Refund", True)]
    assert d.cancel("again") == []  # compensation steps are not interrupted by cancellation
    [release] = d.complete(3, {})
    assert _comp(release)[0] == "inventory"
    [end] = d.complete(4, {})
    assert end == FailWorkflow(ErrorInfo("WorkflowCancelled", "customer changed mind"), "cancelled")


def test_cancel_during_a_step_without_saga_waits_for_the_step() -> None:
    """The step in flight is not interrupted: a failure ends the run cancelled; a success is the
    code's to use (without a saga there is nothing to undo, and no wait left to cancel)."""
    r = WorkflowRegistry()

    @workflow("plain", registry=r)
    async def plain(ctx: WorkflowContext) -> None:
        await ctx.call("svc", {}, command_type="t.X")

    d = Driver(plain)
    d.start()
    assert d.cancel("stop") == []
    assert d.instance.snapshot()["cancel_held"] == {"steps": [0], "children": []}
    assert d.fail(0, "Refused") == [FailWorkflow(ErrorInfo("WorkflowCancelled", "stop"), "cancelled")]

    late = Driver(plain)
    late.start()
    late.cancel("stop")
    assert late.complete(0, {}) == [CompleteWorkflow(None, None)]


@workflow("ship-saga", registry=reg)
async def ship_saga(ctx: WorkflowContext, order: Order) -> dict[str, Any]:
    async with ctx.saga() as saga:
        stock = await ctx.call("inventory", Reserve(order_id=order.order_id), result=Reserved)
        saga.add_compensation("inventory", Release(reservation_id=stock.reservation_id))
        shipment = await ctx.call("shipping", Ship(order_id=order.order_id))
        saga.add_compensation("shipping", {"shipment": (shipment or {})["id"]}, command_type="t.CancelShipment")
    return {"ok": True}


def test_a_step_in_flight_at_cancel_that_succeeds_is_compensated_first() -> None:
    """Issue 14: CreateShipment succeeded after a cancel and was never compensated. The saga waits
    for the step, registers its undo, and the cancellation compensates it with the rest."""
    d = Driver(ship_saga)
    d.start(Order(order_id="o1").to_avro())
    d.complete(0, {"reservation_id": "r1"})
    assert d.cancel("customer changed mind") == []  # shipping (seq 1) is in flight: nothing yet
    cancel_ship, *rest = d.complete(1, {"id": "s-9"})
    assert rest == []
    assert _comp(cancel_ship) == ("shipping", "t.CancelShipment", True)
    assert cancel_ship.payload == {"shipment": "s-9"}  # type: ignore[union-attr]
    [release] = d.complete(2, {})
    assert _comp(release) == ("inventory", "test.workflow.Release", True)
    [end] = d.complete(3, {})
    assert end == FailWorkflow(ErrorInfo("WorkflowCancelled", "customer changed mind"), "cancelled")
    inst, cmds = d.replay()
    assert cmds == [] and inst.snapshot() == d.instance.snapshot()


def test_a_step_in_flight_at_cancel_that_fails_raises_the_cancellation() -> None:
    d = Driver(ship_saga)
    d.start(Order(order_id="o1").to_avro())
    d.complete(0, {"reservation_id": "r1"})
    d.cancel("stop")
    [release] = d.fail(1, "WorkflowCancelled")  # the participant declined it: nothing to undo
    assert _comp(release) == ("inventory", "test.workflow.Release", True)
    [end] = d.complete(2, {})
    assert end == FailWorkflow(ErrorInfo("WorkflowCancelled", "stop"), "cancelled")


@workflow("ship-while-waiting", registry=reg)
async def ship_while_waiting(ctx: WorkflowContext) -> None:
    async with ctx.saga() as saga:

        async def ship() -> None:
            shipment = await ctx.call("shipping", {}, command_type="t.Ship")
            saga.add_compensation("shipping", {"shipment": (shipment or {})["id"]}, command_type="t.CancelShipment")

        shipping = asyncio.ensure_future(ship())
        await ctx.wait_signal("paid", timeout=timedelta(hours=1))
        await shipping


def test_other_waits_are_interrupted_only_once_the_steps_in_flight_settled() -> None:
    d = Driver(ship_while_waiting)
    d.start()
    assert set(d.timers) == {0} and set(d.steps) == {1}
    assert d.cancel("stop") == []  # the signal wait keeps waiting while shipping is in flight
    cmds = d.complete(1, {"id": "s-1"})
    assert cmds[0] == CancelTimer(0)  # now the wait is interrupted...
    assert [_comp(c) for c in cmds[1:]] == [("shipping", "t.CancelShipment", True)]  # ...and shipping undone
    d.complete(2, {})
    assert d.outcome == FailWorkflow(ErrorInfo("WorkflowCancelled", "stop"), "cancelled")


def test_a_cancel_recorded_before_the_rule_replays_as_it_ran() -> None:
    """Histories written before in-flight steps were settled interrupt everything at once."""
    d = Driver(ship_saga)
    d.start(Order(order_id="o1").to_avro())
    d.complete(0, {"reservation_id": "r1"})
    [release] = d.cancel("old", legacy=True)
    assert _comp(release) == ("inventory", "test.workflow.Release", True)
    d.complete(2, {})
    assert d.outcome == FailWorkflow(ErrorInfo("WorkflowCancelled", "old"), "cancelled")
    inst, cmds = d.replay()
    assert cmds == [] and inst.result == d.outcome


@workflow("bad-compensation", registry=reg)
async def bad_compensation(ctx: WorkflowContext) -> dict[str, Any]:
    try:
        async with ctx.saga() as saga:
            await ctx.call("inventory", Reserve(order_id="o"))
            saga.add_compensation("inventory", Release(reservation_id="r"))
            await ctx.call("payments", Charge(order_id="o", amount=1))
    except CompensationFailedError as exc:
        original = error_type_name(exc.original) if exc.original else None
        return {"service": exc.service, "error": exc.error.error_type, "original": original}
    return {}


def test_failed_compensation_raises_compensation_failed() -> None:
    d = Driver(bad_compensation)
    d.start()
    d.complete(0, {})
    d.fail(1, "Declined")
    d.fail(2, "ReleaseBroken")
    assert d.outcome == CompleteWorkflow(
        None, {"service": "inventory", "error": "ReleaseBroken", "original": "StepFailed"}
    )


@workflow("cleanup-after-cancel", registry=reg)
async def cleanup_after_cancel(ctx: WorkflowContext) -> dict[str, Any]:
    try:
        await ctx.wait_signal("never", timeout=timedelta(days=1))
    except WorkflowCancelledError as exc:
        notified = await ctx.call("notify", {"why": exc.reason}, command_type="t.Notify")
        return {"cancelled": ctx.cancel_requested, "notified": notified}
    return {}


def test_cancellation_is_delivered_once_then_cleanup_steps_run() -> None:
    d = Driver(cleanup_after_cancel)
    d.start()
    cmds = d.cancel("bye")
    assert cmds[0] == CancelTimer(0) and _comp(cmds[1]) == ("notify", "t.Notify", False)
    d.complete(1, {"sent": True})
    assert d.outcome == CompleteWorkflow(None, {"cancelled": True, "notified": {"sent": True}})


@workflow("parallel-compensation", registry=reg)
async def parallel_compensation(ctx: WorkflowContext) -> None:
    async with ctx.saga(parallel_compensation=True) as saga:
        for i in range(3):
            await ctx.call("svc", {"i": i}, command_type="t.Do")
            saga.add_compensation("svc", {"i": i}, command_type="t.Undo")
        await ctx.call("svc", {}, command_type="t.Fails")


def test_parallel_compensation_schedules_all_undos_at_once_newest_first() -> None:
    d = Driver(parallel_compensation)
    d.start()
    for seq in range(3):
        d.complete(seq, {})
    undos = d.fail(3)
    assert [c.payload for c in undos] == [{"i": 2}, {"i": 1}, {"i": 0}]  # type: ignore[union-attr]
    for seq in (5, 4, 6):
        d.complete(seq, {})
    assert isinstance(d.outcome, FailWorkflow) and d.outcome.status == "compensated"


def test_replay_of_a_cancelled_compensated_run_matches() -> None:
    d = Driver(order_saga)
    d.start(Order(order_id="o1").to_avro())
    d.complete(0, {"reservation_id": "r1"})
    d.complete(1, {"payment_id": "p1"})
    d.cancel("x")
    d.complete(3, {})
    d.complete(4, {})
    inst, cmds = d.replay()
    assert cmds == [] and inst.result == d.outcome and inst.snapshot() == d.instance.snapshot()
