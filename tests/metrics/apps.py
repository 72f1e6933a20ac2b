"""The workflows of the metrics end-to-end tests: tests/integration's, plus two that end otherwise.

The integration workflows complete or compensate. `charge` has no saga and nothing to undo, so a
declined payment closes it as `failed`; `reserve-once` allows one attempt, so a retryable failure
parks it for an operator. Importable by orchestrator subprocesses (`--app tests.metrics.apps`).
"""

from __future__ import annotations

from examples.orders.models.inventory import ReserveStock, StockReserved
from examples.orders.models.orders import OrderPlaced
from examples.orders.models.payments import PaymentCharged
from orchestrator.workflow import RetryPolicy, WorkflowContext, WorkflowRegistry, workflow
from tests.engine.workflows import charge_for
from tests.integration.apps import FAST_RETRY
from tests.integration.apps import registry as integration_registry

registry = WorkflowRegistry()
for _name in integration_registry.names():
    registry.register(integration_registry.get(_name))


@workflow("charge", registry=registry)
async def charge(ctx: WorkflowContext, order: OrderPlaced) -> None:
    """One charge; a declined (non-retryable) payment fails the workflow."""
    await ctx.call("payments", charge_for(order), result=PaymentCharged, retry=FAST_RETRY)


@workflow("reserve-once", registry=registry)
async def reserve_once(ctx: WorkflowContext, order: OrderPlaced) -> None:
    """A single allowed attempt: a retryable failure exhausts the retries and parks the workflow."""
    await ctx.call(
        "inventory",
        ReserveStock(order_id=order.order_id, sku=order.sku, quantity=order.quantity),
        result=StockReserved,
        retry=RetryPolicy(maximum_attempts=1),
    )
