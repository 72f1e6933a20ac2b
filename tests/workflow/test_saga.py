"""Saga compensation and cancellation."""

from __future__ import annotations

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


def test_cancel_during_a_step_without_saga_ends_cancelled() -> None:
    r = WorkflowRegistry()

    @workflow("plain", registry=r)
    async def plain(ctx: WorkflowContext) -> None:
        await ctx.call("svc", {}, command_type="t.X")

    d = Driver(plain)
    d.start()
    assert d.cancel("stop") == [FailWorkflow(ErrorInfo("WorkflowCancelled", "stop"), "cancelled")]
    assert d.complete(0, {}) == []  # a late reply changes nothing


@workflow("bad-compensation", registry=reg)
async def bad_compensation(ctx: WorkflowContext) -> dict[str, Any]:
    try:
        async with ctx.saga() as saga:
            await ctx.call("inventory", Reserve(order_id="o"))
            saga.add_compensation("inventory", Release(reservation_id="r"))
            await ctx.call("payments", Charge(order_id="o", amount=1))
    except CompensationFailedError as exc:
        return {"service": exc.service, "error": exc.error.error_type, "original": error_type_name(exc.original)}
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
