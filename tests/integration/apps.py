"""Workflows the end-to-end tests run (importable by orchestrator subprocesses too)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from examples.orders.models.inventory import ReleaseStock, ReserveStock, StockReserved
from examples.orders.models.orders import OrderFulfilment, OrderPlaced
from examples.orders.models.payments import PaymentCharged, RefundPayment
from examples.orders.models.shipping import CancelShipment, CreateShipment, ShipmentCreated
from orchestrator.workflow import RetryPolicy, WorkflowContext, WorkflowRegistry, workflow
from tests.engine.workflows import charge_for

registry = WorkflowRegistry()

FAST_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=300),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=2),
    maximum_attempts=None,
    non_retryable_error_types=("PaymentDeclined",),
)


async def _reserve(
    ctx: WorkflowContext,
    order: OrderPlaced,
    start_to_close: timedelta | None = None,
    schedule_to_close: timedelta | None = None,
) -> StockReserved:
    return await ctx.call(
        "inventory",
        ReserveStock(order_id=order.order_id, sku=order.sku, quantity=order.quantity),
        result=StockReserved,
        retry=FAST_RETRY,
        start_to_close=start_to_close,
        schedule_to_close=schedule_to_close,
    )


@workflow("saga", registry=registry)
async def saga(ctx: WorkflowContext, order: OrderPlaced) -> OrderFulfilment:
    async with ctx.saga() as s:
        stock = await _reserve(ctx, order, start_to_close=timedelta(seconds=3))
        s.add_compensation(
            "inventory", ReleaseStock(reservation_id=stock.reservation_id, order_id=order.order_id), retry=FAST_RETRY
        )
        payment = await ctx.call(
            "payments",
            charge_for(order),
            result=PaymentCharged,
            retry=FAST_RETRY,
            start_to_close=timedelta(seconds=3),
        )
        s.add_compensation(
            "payments",
            RefundPayment(payment_id=payment.payment_id, order_id=order.order_id, amount_cents=order.amount_cents),
            retry=FAST_RETRY,
        )
        shipment = await ctx.call(
            "shipping",
            CreateShipment(
                order_id=order.order_id, customer_id=order.customer_id, sku=order.sku, quantity=order.quantity
            ),
            result=ShipmentCreated,
            retry=FAST_RETRY,
            start_to_close=timedelta(seconds=3),
        )
        s.add_compensation(
            "shipping", CancelShipment(shipment_id=shipment.shipment_id, order_id=order.order_id), retry=FAST_RETRY
        )
    return OrderFulfilment(
        order_id=order.order_id,
        reservation_id=stock.reservation_id,
        payment_id=payment.payment_id,
        shipment_id=shipment.shipment_id,
        fulfilled_at_ms=ctx.now_ms(),
    )


@workflow("outage-saga", registry=registry)
async def outage_saga(ctx: WorkflowContext, order: OrderPlaced) -> None:
    """Reserve then charge, both attempts timing out after 2 s, and a release compensation that
    times out too: a service that is down when its command is sent sees several attempts of it."""
    async with ctx.saga() as s:
        stock = await _reserve(ctx, order)
        s.add_compensation(
            "inventory",
            ReleaseStock(reservation_id=stock.reservation_id, order_id=order.order_id),
            retry=FAST_RETRY,
            start_to_close=timedelta(seconds=2),
        )
        await ctx.call(
            "payments",
            charge_for(order),
            result=PaymentCharged,
            retry=FAST_RETRY,
            start_to_close=timedelta(seconds=2),
        )


@workflow("timeout", registry=registry)
async def timeout(ctx: WorkflowContext, order: OrderPlaced) -> None:
    """One attempt of 500 ms, at most 2 seconds overall: an unanswered step must fail, not hang."""
    async with ctx.saga():
        await _reserve(ctx, order, start_to_close=timedelta(milliseconds=500), schedule_to_close=timedelta(seconds=2))


@workflow("approval", registry=registry)
async def approval(ctx: WorkflowContext, order: OrderPlaced) -> None:
    await ctx.wait_signal("approve", timeout=timedelta(minutes=5))
    await _reserve(ctx, order)


@workflow("parallel", registry=registry)
async def parallel(ctx: WorkflowContext, order: OrderPlaced) -> None:
    ctx.set_query_handler("stage", lambda: "reserving")
    await asyncio.gather(_reserve(ctx, order), _reserve(ctx, order), _reserve(ctx, order))


@workflow("parent", registry=registry)
async def parent(ctx: WorkflowContext, order: OrderPlaced) -> None:
    child = await ctx.child("saga", order, id=f"{ctx.info.workflow_id}-child", result=OrderFulfilment)
    assert child.order_id == order.order_id


@workflow("sleepy", registry=registry)
async def sleepy(ctx: WorkflowContext, order: OrderPlaced) -> None:
    async with ctx.saga() as s:
        stock = await _reserve(ctx, order)
        s.add_compensation("inventory", ReleaseStock(reservation_id=stock.reservation_id, order_id=order.order_id))
        await ctx.sleep(timedelta(minutes=10))


SLOW_RETRY = RetryPolicy(initial_interval=timedelta(seconds=4), backoff_coefficient=1.0, maximum_attempts=None)


@workflow("slow-retry", registry=registry)
async def slow_retry(ctx: WorkflowContext, order: OrderPlaced) -> None:
    """A 4-second backoff after the first failure: long enough to kill the orchestrator inside it."""
    await ctx.call(
        "inventory",
        ReserveStock(order_id=order.order_id, sku=order.sku, quantity=order.quantity),
        result=StockReserved,
        retry=SLOW_RETRY,
    )


@workflow("await-go", registry=registry)
async def await_go(ctx: WorkflowContext, order: OrderPlaced) -> None:
    """Reserve, then wait for a 'go' signal, then charge: state that must survive restarts."""
    await _reserve(ctx, order)
    await ctx.wait_signal("go", timeout=timedelta(minutes=10))
    await ctx.call(
        "payments",
        charge_for(order),
        result=PaymentCharged,
        retry=FAST_RETRY,
    )


# Version 2 of "await-go" as deployed later with a non-deterministic change (charge before the wait),
# in a registry of its own; the other workflow types are unchanged.
registry_v2 = WorkflowRegistry()
for _name in registry.names():
    if _name != "await-go":
        registry_v2.register(registry.get(_name))


@workflow("await-go", registry=registry_v2)
async def await_go_v2(ctx: WorkflowContext, order: OrderPlaced) -> None:
    await _reserve(ctx, order)
    await ctx.call(
        "payments",
        charge_for(order),
        result=PaymentCharged,
        retry=FAST_RETRY,
    )
    await ctx.wait_signal("go", timeout=timedelta(minutes=10))


@workflow("finite-retries", registry=registry)
async def finite_retries(ctx: WorkflowContext, order: OrderPlaced) -> None:
    """Two attempts, then the instance is parked for an operator instead of failing silently."""
    await ctx.call(
        "inventory",
        ReserveStock(order_id=order.order_id, sku=order.sku, quantity=order.quantity),
        result=StockReserved,
        retry=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=2),
    )


LOOP_STEPS = 3  # steps per run of "looping"


@workflow("looping", registry=registry)
async def looping(ctx: WorkflowContext, order: OrderPlaced) -> None:
    """LOOP_STEPS steps per run, then continue as new with one run fewer (`quantity` runs in all)."""
    for _ in range(LOOP_STEPS):
        await _reserve(ctx, order)
    if order.quantity > 1:
        ctx.continue_as_new(OrderPlaced(**{**order.to_avro(), "quantity": order.quantity - 1}))
