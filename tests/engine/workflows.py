"""Workflows the engine tests run, registered in their own registry."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from examples.orders.models.inventory import ReleaseStock, ReserveStock, StockReleased, StockReserved
from examples.orders.models.notifications import CustomerNotified
from examples.orders.models.orders import OrderFulfilment, OrderPlaced
from examples.orders.models.payments import ChargePayment, PaymentCharged, PaymentRefunded, RefundPayment
from examples.orders.models.shipping import CancelShipment, CreateShipment, ShipmentCreated
from orchestrator.errors import WorkflowTimeoutError
from orchestrator.workflow import RetryPolicy, WorkflowContext, WorkflowRegistry, workflow

registry = WorkflowRegistry()

# The environment every engine test runs in: app "app", a real RocksDB store, one day of retention,
# and one service ("billing") whose command topic is overridden.
INBOX = "app.inbox"
EVENTS = "app.events"
DLQ = "app.dlq"
ENVIRONMENT: dict[str, Any] = {
    "app": "app",
    "cache_size": 100,
    "retention": timedelta(days=1),
    "service_topics": {"billing": "billing.in"},
    "loopback": False,  # the tests feed child starts and results back by hand
}

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=4,
    non_retryable_error_types=("PaymentDeclined",),
)

ORDER = OrderPlaced(order_id="o-1", customer_id="c-1", sku="sku-1", quantity=2, amount_cents=1999, currency="EUR")


def charge_for(order: OrderPlaced) -> ChargePayment:
    """The ChargePayment of an order (shared by the test workflows here and in tests/integration)."""
    return ChargePayment(
        order_id=order.order_id, customer_id=order.customer_id, amount_cents=order.amount_cents, currency=order.currency
    )


# Switched by the non-determinism test to simulate a code change between run and replay.
VARIANT: dict[str, str] = {"nd": "inventory"}


@workflow("order", registry=registry)
async def order_saga(ctx: WorkflowContext, order: OrderPlaced) -> OrderFulfilment:
    status: dict[str, Any] = {"stage": "reserving"}
    ctx.set_query_handler("status", lambda: dict(status))
    async with ctx.saga() as saga:
        stock = await ctx.call(
            "inventory",
            ReserveStock(order_id=order.order_id, sku=order.sku, quantity=order.quantity),
            result=StockReserved,
            retry=RETRY,
            start_to_close=timedelta(seconds=30),
        )
        saga.add_compensation("inventory", ReleaseStock(reservation_id=stock.reservation_id, order_id=order.order_id))
        status["stage"] = "charging"
        paid = await ctx.call(
            "payments",
            charge_for(order),
            result=PaymentCharged,
            retry=RETRY,
        )
        saga.add_compensation(
            "payments",
            RefundPayment(payment_id=paid.payment_id, order_id=order.order_id, amount_cents=order.amount_cents),
        )
        status["stage"] = "shipping"
        shipped = await ctx.call(
            "shipping",
            CreateShipment(
                order_id=order.order_id, customer_id=order.customer_id, sku=order.sku, quantity=order.quantity
            ),
            result=ShipmentCreated,
            retry=RETRY,
            start_to_close=timedelta(seconds=30),
        )
        saga.add_compensation("shipping", CancelShipment(shipment_id=shipped.shipment_id, order_id=order.order_id))
    status["stage"] = "done"
    return OrderFulfilment(
        order_id=order.order_id,
        reservation_id=stock.reservation_id,
        payment_id=paid.payment_id,
        shipment_id=shipped.shipment_id,
        fulfilled_at_ms=ctx.now_ms() if hasattr(ctx, "now_ms") else 0,
    )


@workflow("timed", registry=registry)
async def timed(ctx: WorkflowContext, order: OrderPlaced) -> StockReserved:
    """One step with both timeouts and unlimited attempts: the overall deadline ends it."""
    return await ctx.call(
        "inventory",
        ReserveStock(order_id=order.order_id, sku=order.sku, quantity=1),
        result=StockReserved,
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=2), backoff_coefficient=1.0, maximum_interval=timedelta(seconds=2)
        ),
        start_to_close=timedelta(seconds=5),
        schedule_to_close=timedelta(seconds=20),
    )


@workflow("approval", registry=registry)
async def approval(ctx: WorkflowContext, order: OrderPlaced) -> StockReserved:
    """Waits for a human; on timeout releases instead of reserving."""
    try:
        note = await ctx.wait_signal("approve", timeout=timedelta(hours=1), payload=CustomerNotified)
    except WorkflowTimeoutError:
        await ctx.call("inventory", ReleaseStock(reservation_id="none", order_id=order.order_id), result=StockReleased)
        return StockReserved(reservation_id="timed-out", order_id=order.order_id)
    return StockReserved(reservation_id=f"approved-by-{note.customer_id}", order_id=order.order_id)


@workflow("parallel", registry=registry)
async def parallel(ctx: WorkflowContext, order: OrderPlaced) -> OrderFulfilment:
    stock, paid = await asyncio.gather(
        ctx.call("inventory", ReserveStock(order_id=order.order_id, sku=order.sku, quantity=1), result=StockReserved),
        ctx.call(
            "payments",
            charge_for(order),
            result=PaymentCharged,
        ),
    )
    await ctx.sleep(timedelta(minutes=5))
    return OrderFulfilment(
        order_id=order.order_id,
        reservation_id=stock.reservation_id,
        payment_id=paid.payment_id,
        shipment_id="-",
        fulfilled_at_ms=0,
    )


@workflow("child", registry=registry)
async def child(ctx: WorkflowContext, order: OrderPlaced) -> StockReserved:
    return await ctx.call(
        "inventory",
        ReserveStock(order_id=order.order_id, sku=order.sku, quantity=order.quantity),
        result=StockReserved,
    )


@workflow("parent", registry=registry)
async def parent(ctx: WorkflowContext, order: OrderPlaced) -> StockReserved:
    got = await ctx.child("child", order, id=f"{ctx.info.workflow_id}-child", result=StockReserved)
    return StockReserved(reservation_id=f"via-child:{got.reservation_id}", order_id=order.order_id)


@workflow("nd", registry=registry)
async def nondeterministic(ctx: WorkflowContext, order: OrderPlaced) -> StockReserved:
    if VARIANT["nd"] == "inventory":
        await ctx.call(
            "inventory", ReserveStock(order_id=order.order_id, sku=order.sku, quantity=1), result=StockReserved
        )
    else:
        await ctx.call(
            "payments",
            ChargePayment(order_id=order.order_id, customer_id="x", amount_cents=1, currency="EUR"),
            result=PaymentCharged,
        )
    await ctx.sleep(timedelta(minutes=1))
    return StockReserved(reservation_id="r", order_id=order.order_id)


@workflow("billing", registry=registry)
async def billing(ctx: WorkflowContext, order: OrderPlaced) -> PaymentRefunded:
    """Uses a service whose command topic is overridden (EngineTopics.service_topics)."""
    return await ctx.call(
        "billing", RefundPayment(payment_id="p", order_id=order.order_id, amount_cents=1), result=PaymentRefunded
    )


@workflow("outage", registry=registry)
async def outage(ctx: WorkflowContext, order: OrderPlaced) -> PaymentCharged:
    """Reserve, then charge; the release compensation has an attempt timeout too, so a service that
    is down when a command is sent gets several attempts of it (the issue 14 outage)."""
    async with ctx.saga() as saga:
        stock = await ctx.call(
            "inventory",
            ReserveStock(order_id=order.order_id, sku=order.sku, quantity=1),
            result=StockReserved,
            retry=RETRY,
            start_to_close=timedelta(seconds=30),
        )
        saga.add_compensation(
            "inventory",
            ReleaseStock(reservation_id=stock.reservation_id, order_id=order.order_id),
            retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=None),
            start_to_close=timedelta(seconds=30),
        )
        return await ctx.call(
            "payments",
            charge_for(order),
            result=PaymentCharged,
            retry=RETRY,
            start_to_close=timedelta(seconds=30),
        )
