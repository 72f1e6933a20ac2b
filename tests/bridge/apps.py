"""Workflows the bridge tests drive (importable by orchestrator subprocesses too)."""

from __future__ import annotations

from datetime import timedelta

from examples.orders.models.inventory import ReleaseStock, ReserveStock, StockReserved
from examples.orders.models.notifications import CustomerNotified
from examples.orders.models.orders import OrderPlaced
from examples.orders.models.payments import ChargePayment, PaymentCharged
from orchestrator.workflow import RetryPolicy, WorkflowContext, WorkflowRegistry, workflow

registry = WorkflowRegistry()

RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=1.0,
    maximum_interval=timedelta(milliseconds=200),
    maximum_attempts=None,
    non_retryable_error_types=("PaymentDeclined",),
)


@workflow("order-started", registry=registry)
async def order_started(ctx: WorkflowContext, order: OrderPlaced) -> None:
    """Completes at once: a start trigger's effect is visible as one WorkflowStarted + Completed."""
    ctx.publish(
        CustomerNotified(order_id=order.order_id, customer_id=order.customer_id, channel="test", message=order.sku)
    )


@workflow("await-payment", registry=registry)
async def await_payment(ctx: WorkflowContext, order: OrderPlaced) -> None:
    """Waits for the `paid` signal, then says who paid (the signal's payload) in an event."""
    note = await ctx.wait_signal("paid", timeout=timedelta(minutes=5), payload=CustomerNotified)
    ctx.publish(
        CustomerNotified(order_id=order.order_id, customer_id=note.customer_id, channel="paid", message=note.message)
    )


@workflow("native-saga", registry=registry)
async def native_saga(ctx: WorkflowContext, order: OrderPlaced) -> None:
    """Two native steps: reserve (retried on attempt timeout), charge (a decline compensates)."""
    async with ctx.saga() as saga:
        stock = await ctx.call(
            "inventory",
            ReserveStock(order_id=order.order_id, sku=order.sku, quantity=order.quantity),
            result=StockReserved,
            retry=RETRY,
            start_to_close=timedelta(seconds=2),
        )
        saga.add_compensation(
            "inventory",
            ReleaseStock(reservation_id=stock.reservation_id, order_id=order.order_id),
            retry=RETRY,
            start_to_close=timedelta(seconds=2),
        )
        await ctx.call(
            "payments",
            ChargePayment(
                order_id=order.order_id,
                customer_id=order.customer_id,
                amount_cents=order.amount_cents,
                currency=order.currency,
            ),
            result=PaymentCharged,
            retry=RETRY,
            start_to_close=timedelta(seconds=2),
        )
