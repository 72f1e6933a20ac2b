"""The order-fulfilment saga: reserve stock, charge, ship; undo in reverse on failure.

orchestrator run --app examples.orders.workflows --name <app>
"""

from __future__ import annotations

from datetime import timedelta

from examples.orders.models.inventory import ReleaseStock, ReserveStock, StockReserved
from examples.orders.models.notifications import CustomerNotified
from examples.orders.models.orders import OrderFulfilment, OrderPlaced
from examples.orders.models.payments import ChargePayment, PaymentCharged, RefundPayment
from examples.orders.models.shipping import CancelShipment, CreateShipment, ShipmentCreated
from orchestrator.workflow import RetryPolicy, WorkflowContext, WorkflowRegistry, workflow

registry = WorkflowRegistry()

# Transient failures and outages are retried for up to 10 minutes; declines are not retried.
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=None,
    non_retryable_error_types=("PaymentDeclined",),
)
ATTEMPT_TIMEOUT = timedelta(seconds=5)
STEP_DEADLINE = timedelta(minutes=10)


@workflow("order-fulfilment", registry=registry)
async def fulfil_order(ctx: WorkflowContext, order: OrderPlaced) -> OrderFulfilment:
    async with ctx.saga() as saga:
        stock = await ctx.call(
            "inventory",
            ReserveStock(order_id=order.order_id, sku=order.sku, quantity=order.quantity),
            result=StockReserved,
            retry=STEP_RETRY,
            start_to_close=ATTEMPT_TIMEOUT,
            schedule_to_close=STEP_DEADLINE,
        )
        saga.add_compensation(
            "inventory",
            ReleaseStock(reservation_id=stock.reservation_id, order_id=order.order_id),
            retry=STEP_RETRY,
            start_to_close=ATTEMPT_TIMEOUT,
        )
        payment = await ctx.call(
            "payments",
            ChargePayment(
                order_id=order.order_id,
                customer_id=order.customer_id,
                amount_cents=order.amount_cents,
                currency=order.currency,
            ),
            result=PaymentCharged,
            retry=STEP_RETRY,
            start_to_close=ATTEMPT_TIMEOUT,
            schedule_to_close=STEP_DEADLINE,
        )
        saga.add_compensation(
            "payments",
            RefundPayment(payment_id=payment.payment_id, order_id=order.order_id, amount_cents=order.amount_cents),
            retry=STEP_RETRY,
            start_to_close=ATTEMPT_TIMEOUT,
        )
        shipment = await ctx.call(
            "shipping",
            CreateShipment(
                order_id=order.order_id, customer_id=order.customer_id, sku=order.sku, quantity=order.quantity
            ),
            result=ShipmentCreated,
            retry=STEP_RETRY,
            start_to_close=ATTEMPT_TIMEOUT,
            schedule_to_close=STEP_DEADLINE,
        )
        saga.add_compensation(
            "shipping",
            CancelShipment(shipment_id=shipment.shipment_id, order_id=order.order_id),
            retry=STEP_RETRY,
            start_to_close=ATTEMPT_TIMEOUT,
        )
    # Choreography out: other services learn about the order from an event, not a command.
    ctx.publish(
        CustomerNotified(
            order_id=order.order_id,
            customer_id=order.customer_id,
            channel="email",
            message=f"Your order {order.order_id} is on its way",
        )
    )
    return OrderFulfilment(
        order_id=order.order_id,
        reservation_id=stock.reservation_id,
        payment_id=payment.payment_id,
        shipment_id=shipment.shipment_id,
        fulfilled_at_ms=int(ctx.now().timestamp() * 1000),
    )
