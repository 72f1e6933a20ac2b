"""Saga compensation and cancellation, through the real engine core (orchestrator.testing)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from orchestrator.errors import CompensationFailedError, WorkflowCancelledError, error_type_name
from orchestrator.testing import WorkflowEnvironment, WorkflowRun, WorkflowStatus
from orchestrator.workflow import HistoryEvent, WorkflowContext, WorkflowInstance, WorkflowRegistry, workflow
from orchestrator.workflow.activation import (
    CancelTimer,
    CompleteWorkflow,
    ErrorInfo,
    EventKind,
    FailWorkflow,
    ScheduleStep,
    WorkflowCommand,
    command_event,
)
from tests.workflow.models import Charge, Charged, Order, Refund, Release, Reserve, Reserved, Ship, environment

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


def _started(env: WorkflowEnvironment, workflow_type: str, *, takes_order: bool = True) -> WorkflowRun:
    """A run started now, with what the start decided already taken from `new_commands()`."""
    if takes_order:
        run = env.start(workflow_type, Order(order_id="o1"))
    else:
        run = env.start(workflow_type, {}, input_schema="t.Empty")
    run.new_commands()
    return run


def _run_to_shipping(env: WorkflowEnvironment) -> WorkflowRun:
    run = _started(env, "order-saga")
    run.complete_step(0, Reserved(reservation_id="r1"))
    run.complete_step(1, Charged(payment_id="p1"))
    run.fire_timer(2)
    assert [_comp(c) for c in run.new_commands()[2:]] == [("shipping", "test.workflow.Ship", False)]
    return run


def test_failure_compensates_in_reverse_order_then_ends_compensated() -> None:
    with environment(reg) as env:
        run = _run_to_shipping(env)
        run.fail_step(3, "NoCarrier")
        [refund] = run.new_commands()
        assert _comp(refund) == ("payments", "test.workflow.Refund", True)
        assert refund.payload == {"payment_id": "p1"}  # type: ignore[union-attr]
        run.complete_step(4)
        [release] = run.new_commands()
        assert _comp(release) == ("inventory", "test.workflow.Release", True)
        run.complete_step(5)
        [end] = run.new_commands()
    assert isinstance(end, FailWorkflow) and end.status == "compensated"
    assert end.error.error_type == "StepFailed" and "NoCarrier" in end.error.message


def test_failure_before_any_compensation_is_registered_ends_failed() -> None:
    with environment(reg) as env:
        run = _started(env, "order-saga")
        run.fail_step(0, "OutOfStock")
        [end] = run.new_commands()
    assert isinstance(end, FailWorkflow) and end.status == "failed"


def test_cancel_interrupts_the_wait_and_compensations_still_run() -> None:
    with environment(reg) as env:
        run = _started(env, "order-saga")
        run.complete_step(0, Reserved(reservation_id="r1"))
        run.complete_step(1, Charged(payment_id="p1"))
        run.new_commands()
        run.cancel("customer changed mind")
        cmds = run.new_commands()
        assert cmds[0] == CancelTimer(2)  # the pending sleep is cancelled, its timer removed
        assert run.open_timers() == {} and env.timer_keys() == []
        assert [_comp(c) for c in cmds[1:]] == [("payments", "test.workflow.Refund", True)]
        run.cancel("again")
        assert run.new_commands() == []  # compensation steps are not interrupted by cancellation
        run.complete_step(3)
        [release] = run.new_commands()
        assert _comp(release)[0] == "inventory"
        run.complete_step(4)
        [end] = run.new_commands()
    assert end == FailWorkflow(ErrorInfo("WorkflowCancelled", "customer changed mind"), "cancelled")


def test_cancel_during_a_step_without_saga_waits_for_the_step() -> None:
    """The step in flight is not interrupted: a failure ends the run cancelled; a success is the
    code's to use (without a saga there is nothing to undo, and no wait left to cancel)."""
    r = WorkflowRegistry()

    @workflow("plain", registry=r)
    async def plain(ctx: WorkflowContext) -> None:
        await ctx.call("svc", {}, command_type="t.X")

    with environment(r) as env:
        run = _started(env, "plain", takes_order=False)
        run.cancel("stop")
        assert run.new_commands() == []
        assert run.instance.snapshot()["cancel_held"] == {"steps": [0], "children": []}
        run.fail_step(0, "Refused")
        assert run.new_commands() == [FailWorkflow(ErrorInfo("WorkflowCancelled", "stop"), "cancelled")]

        late = _started(env, "plain", takes_order=False)
        late.cancel("stop")
        late.complete_step(0)
        assert late.new_commands() == [CompleteWorkflow(None, None)]


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
    with environment(reg) as env:
        run = _started(env, "ship-saga")
        run.complete_step(0, Reserved(reservation_id="r1"))
        run.new_commands()
        run.cancel("customer changed mind")
        assert run.new_commands() == []  # shipping (seq 1) is in flight: nothing yet
        run.complete_step(1, {"id": "s-9"}, result_schema="t.Shipment")
        cancel_ship, *rest = run.new_commands()
        assert rest == []
        assert _comp(cancel_ship) == ("shipping", "t.CancelShipment", True)
        assert cancel_ship.payload == {"shipment": "s-9"}  # type: ignore[union-attr]
        run.complete_step(2)
        [release] = run.new_commands()
        assert _comp(release) == ("inventory", "test.workflow.Release", True)
        run.complete_step(3)
        [end] = run.new_commands()
        assert end == FailWorkflow(ErrorInfo("WorkflowCancelled", "customer changed mind"), "cancelled")
        inst, cmds = run.replay()
        assert cmds == [] and inst.snapshot() == run.instance.snapshot()


def test_a_step_in_flight_at_cancel_that_fails_raises_the_cancellation() -> None:
    with environment(reg) as env:
        run = _started(env, "ship-saga")
        run.complete_step(0, Reserved(reservation_id="r1"))
        run.cancel("stop")
        run.new_commands()
        run.fail_step(1, "WorkflowCancelled")  # the participant declined it: nothing to undo
        [release] = run.new_commands()
        assert _comp(release) == ("inventory", "test.workflow.Release", True)
        run.complete_step(2)
        [end] = run.new_commands()
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
    with environment(reg) as env:
        run = _started(env, "ship-while-waiting", takes_order=False)
        assert set(run.open_timers()) == {0} and [s.seq for s in env.open_steps(run.id)] == [1]
        run.cancel("stop")
        assert run.new_commands() == []  # the signal wait keeps waiting while shipping is in flight
        run.complete_step(1, {"id": "s-1"}, result_schema="t.Shipment")
        cmds = run.new_commands()
        assert cmds[0] == CancelTimer(0)  # now the wait is interrupted...
        assert [_comp(c) for c in cmds[1:]] == [("shipping", "t.CancelShipment", True)]  # ...and shipping undone
        run.complete_step(2)
        assert run.outcome == FailWorkflow(ErrorInfo("WorkflowCancelled", "stop"), "cancelled")


def test_a_cancel_recorded_before_the_rule_replays_as_it_ran() -> None:
    """Histories written before in-flight steps were settled interrupt everything at once.

    The engine records every cancel with ``settle_in_flight`` now, so the old history is the
    environment's recording continued the way the engine recorded it then: each input event
    activates the live instance, and each command it returns is recorded after it."""
    with environment(reg) as env:
        run = _started(env, "ship-saga")
        run.complete_step(0, Reserved(reservation_id="r1"))
        history = run.history()
        now_ms = env.now_ms
    live = WorkflowInstance(ship_saga, run.id)
    assert live.activate(history, now_ms, replaying=True) == []

    def record(kind: str, data: dict[str, Any]) -> list[WorkflowCommand]:
        history.append(HistoryEvent(len(history), kind, now_ms, data))
        commands = live.activate(history[-1:], now_ms, replaying=False)
        for command in commands:
            kind, data = command_event(command)
            history.append(HistoryEvent(len(history), kind, now_ms, data))
        return commands

    [release] = record(EventKind.CANCEL_REQUESTED, {"reason": "old"})  # no settle_in_flight: as before issue 14
    assert _comp(release) == ("inventory", "test.workflow.Release", True)
    [end] = record(EventKind.STEP_COMPLETED, {"cmd_seq": 2, "result_schema": None, "result": None, "attempt": 1})
    assert end == FailWorkflow(ErrorInfo("WorkflowCancelled", "old"), "cancelled")
    inst = WorkflowInstance(ship_saga, run.id)
    assert inst.activate(history, now_ms, replaying=True) == [] and inst.result == end


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
    with environment(reg) as env:
        run = _started(env, "bad-compensation", takes_order=False)
        run.complete_step(0)
        run.fail_step(1, "Declined")
        run.fail_step(2, "ReleaseBroken")
        assert run.status == WorkflowStatus.PARKED  # the engine parks a compensation that failed finally...
        run.compensate(reason="the release cannot be done")  # ...until an operator gives it up
        assert run.outcome == CompleteWorkflow(
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
    with environment(reg) as env:
        run = _started(env, "cleanup-after-cancel", takes_order=False)
        run.cancel("bye")
        cmds = run.new_commands()
        assert cmds[0] == CancelTimer(0) and _comp(cmds[1]) == ("notify", "t.Notify", False)
        run.complete_step(1, {"sent": True}, result_schema="t.Sent")
        assert run.outcome == CompleteWorkflow(None, {"cancelled": True, "notified": {"sent": True}})


@workflow("parallel-compensation", registry=reg)
async def parallel_compensation(ctx: WorkflowContext) -> None:
    async with ctx.saga(parallel_compensation=True) as saga:
        for i in range(3):
            await ctx.call("svc", {"i": i}, command_type="t.Do")
            saga.add_compensation("svc", {"i": i}, command_type="t.Undo")
        await ctx.call("svc", {}, command_type="t.Fails")


def test_parallel_compensation_schedules_all_undos_at_once_newest_first() -> None:
    with environment(reg) as env:
        run = _started(env, "parallel-compensation", takes_order=False)
        for seq in range(3):
            run.complete_step(seq)
        run.new_commands()
        run.fail_step(3, "Boom")
        undos = run.new_commands()
        assert [c.payload for c in undos] == [{"i": 2}, {"i": 1}, {"i": 0}]  # type: ignore[union-attr]
        for seq in (5, 4, 6):
            run.complete_step(seq)
        assert isinstance(run.outcome, FailWorkflow) and run.outcome.status == "compensated"


def test_replay_of_a_cancelled_compensated_run_matches() -> None:
    with environment(reg) as env:
        run = _started(env, "order-saga")
        run.complete_step(0, Reserved(reservation_id="r1"))
        run.complete_step(1, Charged(payment_id="p1"))
        run.cancel("x")
        run.complete_step(3)
        run.complete_step(4)
        inst, cmds = run.replay()
        assert run.outcome is not None
        assert cmds == [] and inst.result == run.outcome and inst.snapshot() == run.instance.snapshot()
