"""Version 2 of "order-flow", done right: the same reordering behind ``ctx.patched``.

New runs (and runs reaching the gate live) charge before approval; runs recorded by version 1
take the old branch on replay, so their histories still match (docs/testing.md).
"""

from __future__ import annotations

from examples.orders.models.inventory import StockReserved
from examples.orders.models.orders import OrderFulfilment, OrderPlaced
from examples.orders.models.payments import PaymentCharged
from orchestrator.workflow import WorkflowContext, WorkflowRegistry, workflow
from tests.testing.order_flow_v1 import APPROVAL_TIMEOUT, charge, reserve

registry = WorkflowRegistry()
PATCH = "charge-before-approval"


@workflow("order-flow", registry=registry)
async def order_flow(ctx: WorkflowContext, order: OrderPlaced) -> OrderFulfilment:
    stock = await ctx.call("inventory", reserve(order), result=StockReserved)
    if ctx.patched(PATCH):
        paid = await ctx.call("payments", charge(order), result=PaymentCharged)
        await ctx.wait_signal("approve", timeout=APPROVAL_TIMEOUT)
    else:
        await ctx.wait_signal("approve", timeout=APPROVAL_TIMEOUT)
        paid = await ctx.call("payments", charge(order), result=PaymentCharged)
    return OrderFulfilment(
        order_id=order.order_id,
        reservation_id=stock.reservation_id,
        payment_id=paid.payment_id,
        shipment_id="-",
        fulfilled_at_ms=ctx.now_ms(),
    )
