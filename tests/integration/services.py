"""Participant behaviours for end-to-end tests, built on the worker SDK."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from examples.orders.models.inventory import ReleaseStock, ReserveStock, StockReleased, StockReserved
from examples.orders.models.payments import ChargePayment, PaymentCharged, PaymentRefunded, RefundPayment
from examples.orders.models.shipping import CancelShipment, CreateShipment, ShipmentCancelled, ShipmentCreated
from orchestrator.worker import CommandContext, NonRetryableError, RetryableError, Service
from tests.integration.harness import App, ServiceThread, make_service


class PaymentDeclined(NonRetryableError):
    pass


class Flaky(RetryableError):
    pass


@dataclass
class Behaviour:
    """Knobs shared with the test: fail the first N attempts, decline customers, stay silent."""

    fail_first_attempts: int = 0
    decline_customers: set[str] = field(default_factory=set)
    silent: bool = False
    calls: Counter[str] = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str, ctx: CommandContext) -> None:
        with self.lock:
            self.calls[what] += 1
            self.log.append(f"{what}:{ctx.workflow_id}:{ctx.attempt}")

    def maybe_fail(self, ctx: CommandContext) -> None:
        if ctx.attempt <= self.fail_first_attempts:
            raise Flaky(f"attempt {ctx.attempt} fails on purpose")


def start_services(app: App, b: Behaviour) -> list[ServiceThread]:
    return [ServiceThread(make_service(app, name, fn)).start() for name, fn in service_handlers(b).items()]


def service_handlers(b: Behaviour) -> dict[str, Callable[[Service], None]]:
    """Per service name, the function registering its handlers (shared state: `b`)."""

    def inventory(service: Service) -> None:
        @service.handler(ReserveStock)
        def reserve(cmd: ReserveStock, ctx: CommandContext) -> StockReserved:
            if b.silent:
                raise Flaky("pretending to be down")
            b.record("reserve", ctx)
            b.maybe_fail(ctx)
            return StockReserved(reservation_id=f"r-{ctx.command_id}", order_id=cmd.order_id)

        @service.handler(ReleaseStock)
        def release(cmd: ReleaseStock, ctx: CommandContext) -> StockReleased:
            b.record("release", ctx)
            return StockReleased(reservation_id=cmd.reservation_id)

    def payments(service: Service) -> None:
        @service.handler(ChargePayment)
        def charge(cmd: ChargePayment, ctx: CommandContext) -> PaymentCharged:
            b.record("charge", ctx)
            if cmd.customer_id in b.decline_customers:
                raise PaymentDeclined("declined")
            return PaymentCharged(
                payment_id=f"p-{ctx.command_id}", order_id=cmd.order_id, amount_cents=cmd.amount_cents
            )

        @service.handler(RefundPayment)
        def refund(cmd: RefundPayment, ctx: CommandContext) -> PaymentRefunded:
            b.record("refund", ctx)
            return PaymentRefunded(payment_id=cmd.payment_id, refund_id="ref")

    def shipping(service: Service) -> None:
        @service.handler(CreateShipment)
        def ship(cmd: CreateShipment, ctx: CommandContext) -> ShipmentCreated:
            b.record("ship", ctx)
            return ShipmentCreated(shipment_id=f"s-{ctx.command_id}", order_id=cmd.order_id)

        @service.handler(CancelShipment)
        def cancel(cmd: CancelShipment, ctx: CommandContext) -> ShipmentCancelled:
            b.record("cancel-shipment", ctx)
            return ShipmentCancelled(shipment_id=cmd.shipment_id)

    return {"inventory": inventory, "payments": payments, "shipping": shipping}
