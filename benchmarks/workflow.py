"""The 3-step workflow the orchestrator cases measure (issue 7, part 3), in its own registry.

Three sequential steps on three services, each answered by a benchmarks.echo_participant
process; `result=None` takes the echoed command back as a dict, so no result schemas are needed.
Run an orchestrator on it with `orchestrator run --app benchmarks.workflow` (or in-process with
`Orchestrator(settings, registry)`); command topics follow `command_topic_template`.
"""

from __future__ import annotations

from examples.orders.models.inventory import ReserveStock
from examples.orders.models.orders import OrderPlaced
from examples.orders.models.payments import ChargePayment
from examples.orders.models.shipping import CreateShipment
from orchestrator.workflow import WorkflowContext, WorkflowRegistry, workflow

registry = WorkflowRegistry()
WORKFLOW = "bench-3-step"
SERVICES = ("bench-inventory", "bench-payments", "bench-shipping")
STEPS_PER_WORKFLOW = len(SERVICES)


@workflow(WORKFLOW, registry=registry)
async def three_steps(ctx: WorkflowContext, order: OrderPlaced) -> None:
    await ctx.call(SERVICES[0], ReserveStock(order_id=order.order_id, sku=order.sku, quantity=order.quantity))
    await ctx.call(
        SERVICES[1],
        ChargePayment(
            order_id=order.order_id,
            customer_id=order.customer_id,
            amount_cents=order.amount_cents,
            currency=order.currency,
        ),
    )
    await ctx.call(
        SERVICES[2],
        CreateShipment(order_id=order.order_id, customer_id=order.customer_id, sku=order.sku, quantity=order.quantity),
    )


def order(i: int) -> OrderPlaced:
    return OrderPlaced(
        order_id=f"bench-{i}",
        customer_id=f"c-{i % 1000}",
        sku="sku-1",
        quantity=1,
        amount_cents=1_000 + i % 100,
        currency="EUR",
    )
