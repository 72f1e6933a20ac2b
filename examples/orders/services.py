"""The demo's participant services, each a real process built on the worker SDK.

Failure knobs make the orchestrator's guarantees visible: a transient failure rate (retried),
latency, permanent payment declines (compensated) and outages (the process is stopped by the
demo runner; commands wait in Kafka).

    python -m examples.orders.services payments --app demo1 --failure-rate 0.1 --latency-ms 20
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import uuid
from types import FrameType

from examples.orders.models.inventory import ReleaseStock, ReserveStock, StockReleased, StockReserved
from examples.orders.models.payments import ChargePayment, PaymentCharged, PaymentRefunded, RefundPayment
from examples.orders.models.shipping import CancelShipment, CreateShipment, ShipmentCancelled, ShipmentCreated
from orchestrator import tracing
from orchestrator.serialization import SchemaRepository, make_serde
from orchestrator.worker import CommandContext, NonRetryableError, RetryableError, Service

DECLINED_CUSTOMER_PREFIX = "declined-"


class TransientFailure(RetryableError):
    """Injected: the kind of blip a real dependency has (a timeout, a 503)."""


class PaymentDeclined(NonRetryableError):
    """The card was declined: retrying cannot help, the order must be compensated."""


class Knobs:
    def __init__(self, failure_rate: float, latency_ms: int, seed: int | None) -> None:
        self.failure_rate = failure_rate
        self.latency_ms = latency_ms
        self.random = random.Random(seed)

    async def work(self, what: str) -> None:
        if self.latency_ms:
            await asyncio.sleep(self.random.uniform(0.5, 1.5) * self.latency_ms / 1000)
        if self.random.random() < self.failure_rate:
            raise TransientFailure(f"{what}: injected transient failure")


def build_service(name: str, app: str, bootstrap: str, knobs: Knobs, concurrency: int) -> Service:
    serde = make_serde("single-object", SchemaRepository())
    service = Service(
        name,
        bootstrap,
        serde,
        command_topic=f"{app}.{name}.commands",
        group_id=f"{app}-{name}",
        concurrency=concurrency,
        dlq_topic=f"{app}.dlq",
    )
    if name == "inventory":

        @service.handler(ReserveStock)
        async def reserve(cmd: ReserveStock, ctx: CommandContext) -> StockReserved:
            await knobs.work("reserve")
            return StockReserved(reservation_id=f"res-{ctx.command_id}", order_id=cmd.order_id)

        @service.handler(ReleaseStock)
        async def release(cmd: ReleaseStock, ctx: CommandContext) -> StockReleased:
            await knobs.work("release")
            return StockReleased(reservation_id=cmd.reservation_id)
    elif name == "payments":

        @service.handler(ChargePayment)
        async def charge(cmd: ChargePayment, ctx: CommandContext) -> PaymentCharged:
            if cmd.customer_id.startswith(DECLINED_CUSTOMER_PREFIX):
                raise PaymentDeclined(f"card of {cmd.customer_id} declined")
            await knobs.work("charge")
            return PaymentCharged(
                payment_id=f"pay-{ctx.command_id}", order_id=cmd.order_id, amount_cents=cmd.amount_cents
            )

        @service.handler(RefundPayment)
        async def refund(cmd: RefundPayment, ctx: CommandContext) -> PaymentRefunded:
            await knobs.work("refund")
            return PaymentRefunded(payment_id=cmd.payment_id, refund_id=f"ref-{uuid.uuid4().hex[:8]}")
    elif name == "shipping":

        @service.handler(CreateShipment)
        async def ship(cmd: CreateShipment, ctx: CommandContext) -> ShipmentCreated:
            await knobs.work("ship")
            return ShipmentCreated(shipment_id=f"shp-{ctx.command_id}", order_id=cmd.order_id)

        @service.handler(CancelShipment)
        async def cancel(cmd: CancelShipment, ctx: CommandContext) -> ShipmentCancelled:
            await knobs.work("cancel shipment")
            return ShipmentCancelled(shipment_id=cmd.shipment_id)
    else:
        raise SystemExit(f"unknown service {name!r}: inventory, payments or shipping")
    return service


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("service", choices=["inventory", "payments", "shipping"])
    parser.add_argument("--app", required=True, help="demo app name (topic prefix)")
    parser.add_argument(
        "--bootstrap-servers", default=os.environ.get("SAGABRIDGE_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    )
    parser.add_argument("--failure-rate", type=float, default=0.0, help="transient failures, 0..1")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # Off unless OTEL_* say so (make demo sets the OTLP endpoint when a local Jaeger is running).
    tracing.setup_tracing(args.service)
    service = build_service(
        args.service,
        args.app,
        args.bootstrap_servers,
        Knobs(args.failure_rate, args.latency_ms, args.seed),
        args.concurrency,
    )

    def graceful(_signum: int, _frame: FrameType | None) -> None:
        service.stop()

    signal.signal(signal.SIGTERM, graceful)
    signal.signal(signal.SIGINT, graceful)
    service.run()


if __name__ == "__main__":
    main()
