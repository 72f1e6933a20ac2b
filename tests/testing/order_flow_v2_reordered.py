"""Version 2 of "order-flow", unguarded: it charges before waiting for approval.

Runs recorded by version 1 that already wait for approval cannot replay on it: their history
has the approval's timer where this code now issues the charge.
"""

from __future__ import annotations

from examples.orders.models.inventory import StockReserved
from examples.orders.models.orders import OrderFulfilment, OrderPlaced
from examples.orders.models.payments import PaymentCharged
from orchestrator.workflow import WorkflowContext, WorkflowRegistry, workflow
from tests.testing.order_flow_v1 import APPROVAL_TIMEOUT, charge, reserve

registry = WorkflowRegistry()


@workflow("order-flow", registry=registry)
async def order_flow(ctx: WorkflowContext, order: OrderPlaced) -> OrderFulfilment:
    stock = await ctx.call("inventory", reserve(order), result=StockReserved)
    paid = await ctx.call("payments", charge(order), result=PaymentCharged)
    await ctx.wait_signal("approve", timeout=APPROVAL_TIMEOUT)
    return OrderFulfilment(
        order_id=order.order_id,
        reservation_id=stock.reservation_id,
        payment_id=paid.payment_id,
        shipment_id="-",
        fulfilled_at_ms=ctx.now_ms(),
    )
