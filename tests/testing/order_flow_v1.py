"""Version 1 of the "order-flow" workflow: reserve, wait for approval, charge.

Versions 2 (order_flow_v2_reordered: charges before approval, unguarded) and 2-patched
(order_flow_v2_patched: the same change behind ctx.patched) are deployed over its runs by the
versioning tests; `orchestrator run --app tests.testing.order_flow_v1` runs it for real.
"""

from __future__ import annotations

from datetime import timedelta

from examples.orders.models.inventory import ReserveStock, StockReserved
from examples.orders.models.orders import OrderFulfilment, OrderPlaced
from examples.orders.models.payments import ChargePayment, PaymentCharged
from orchestrator.workflow import WorkflowContext, WorkflowRegistry, workflow

registry = WorkflowRegistry()
APPROVAL_TIMEOUT = timedelta(days=3)


def reserve(order: OrderPlaced) -> ReserveStock:
    return ReserveStock(order_id=order.order_id, sku=order.sku, quantity=order.quantity)


def charge(order: OrderPlaced) -> ChargePayment:
    return ChargePayment(
        order_id=order.order_id, customer_id=order.customer_id, amount_cents=order.amount_cents, currency=order.currency
    )


@workflow("order-flow", registry=registry)
async def order_flow(ctx: WorkflowContext, order: OrderPlaced) -> OrderFulfilment:
    stock = await ctx.call("inventory", reserve(order), result=StockReserved)
    await ctx.wait_signal("approve", timeout=APPROVAL_TIMEOUT)
    paid = await ctx.call("payments", charge(order), result=PaymentCharged)
    return OrderFulfilment(
        order_id=order.order_id,
        reservation_id=stock.reservation_id,
        payment_id=paid.payment_id,
        shipment_id="-",
        fulfilled_at_ms=ctx.now_ms(),
    )
