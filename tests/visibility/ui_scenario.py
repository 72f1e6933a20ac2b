"""A small shop on real parts for the web UI: broker topics, an orchestrator, three services and
the visibility server (store + API + UI) on a socket, with workflows in every interesting state.

Used by the browser tests, and runnable by hand to work on the UI against live data:
`.venv/bin/python -m tests.visibility.ui_scenario` (dev stack) prints the URL and the tokens.

- `order-fulfilment` indexes its runs by customer and sku, reserves stock (3 attempts), charges
  (a declined customer compensates) and ships; quantity 2 fails its first reservation attempt, so
  timelines show a retry after a backoff; sku `sku-9` is out of stock until `restock()`, so its
  run parks for an operator after its attempts.
- `order-approval` waits for an `approve` signal before it fulfils.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from examples.orders.models.inventory import ReleaseStock, ReserveStock, StockReleased, StockReserved
from examples.orders.models.orders import OrderFulfilment, OrderPlaced
from examples.orders.models.payments import ChargePayment, PaymentCharged, PaymentRefunded, RefundPayment
from examples.orders.models.shipping import CancelShipment, CreateShipment, ShipmentCancelled, ShipmentCreated
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.visibility.server import VisibilityServer
from orchestrator.worker import CommandContext, NonRetryableError, RetryableError, Service
from orchestrator.workflow import RetryPolicy, WorkflowContext, WorkflowRegistry, workflow
from tests.integration.harness import (
    App,
    OrchestratorThread,
    ServiceThread,
    create_app,
    make_service,
    serde,
    serving_visibility,
)

READ = "ui-read-token-0123456789abcdef"
OPERATE = "ui-operate-token-0123456789abcdef"
JAEGER = "http://127.0.0.1:16686"
OUT_OF_STOCK = "sku-9"

registry = WorkflowRegistry()
RESERVE = RetryPolicy(initial_interval=timedelta(milliseconds=400), backoff_coefficient=2.0, maximum_attempts=3)
CALL = RetryPolicy(
    initial_interval=timedelta(milliseconds=300), maximum_attempts=None, non_retryable_error_types=("PaymentDeclined",)
)


@workflow("order-fulfilment", registry=registry)
async def order_fulfilment(ctx: WorkflowContext, order: OrderPlaced) -> OrderFulfilment:
    ctx.set_search_attributes(customer_id=order.customer_id, sku=order.sku)
    async with ctx.saga() as saga:
        stock = await ctx.call(
            "inventory",
            ReserveStock(order_id=order.order_id, sku=order.sku, quantity=order.quantity),
            result=StockReserved,
            retry=RESERVE,
        )
        saga.add_compensation(
            "inventory", ReleaseStock(reservation_id=stock.reservation_id, order_id=order.order_id), retry=CALL
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
            retry=CALL,
        )
        saga.add_compensation(
            "payments",
            RefundPayment(payment_id=payment.payment_id, order_id=order.order_id, amount_cents=order.amount_cents),
            retry=CALL,
        )
        shipment = await ctx.call(
            "shipping",
            CreateShipment(
                order_id=order.order_id, customer_id=order.customer_id, sku=order.sku, quantity=order.quantity
            ),
            result=ShipmentCreated,
            retry=CALL,
        )
    return OrderFulfilment(
        order_id=order.order_id,
        reservation_id=stock.reservation_id,
        payment_id=payment.payment_id,
        shipment_id=shipment.shipment_id,
        fulfilled_at_ms=ctx.now_ms(),
    )


@workflow("order-approval", registry=registry)
async def order_approval(ctx: WorkflowContext, order: OrderPlaced) -> OrderFulfilment:
    ctx.set_search_attributes(customer_id=order.customer_id, sku=order.sku)
    await ctx.wait_signal("approve", timeout=timedelta(hours=1))
    return await ctx.child("order-fulfilment", order, id=f"{ctx.info.workflow_id}/fulfil", result=OrderFulfilment)


class PaymentDeclined(NonRetryableError):
    pass


class OutOfStock(RetryableError):
    pass


@dataclass
class Shop:
    out_of_stock: set[str] = field(default_factory=lambda: {OUT_OF_STOCK})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def restock(self) -> None:
        with self.lock:
            self.out_of_stock.clear()

    def services(self, app: App) -> list[ServiceThread]:
        def inventory(service: Service) -> None:
            @service.handler(ReserveStock)
            def reserve(cmd: ReserveStock, ctx: CommandContext) -> StockReserved:
                with self.lock:
                    missing = cmd.sku in self.out_of_stock
                if missing:
                    raise OutOfStock(f"{cmd.sku}: 0 in stock at warehouse berlin-1")
                if cmd.quantity == 2 and ctx.attempt == 1:
                    raise OutOfStock("warehouse berlin-1 timed out")
                return StockReserved(reservation_id=f"r-{cmd.order_id}", order_id=cmd.order_id)

            @service.handler(ReleaseStock)
            def release(cmd: ReleaseStock, ctx: CommandContext) -> StockReleased:
                return StockReleased(reservation_id=cmd.reservation_id)

        def payments(service: Service) -> None:
            @service.handler(ChargePayment)
            def charge(cmd: ChargePayment, ctx: CommandContext) -> PaymentCharged:
                if cmd.customer_id.startswith("declined"):
                    raise PaymentDeclined(f"card of {cmd.customer_id} declined by issuer")
                return PaymentCharged(
                    payment_id=f"p-{cmd.order_id}", order_id=cmd.order_id, amount_cents=cmd.amount_cents
                )

            @service.handler(RefundPayment)
            def refund(cmd: RefundPayment, ctx: CommandContext) -> PaymentRefunded:
                return PaymentRefunded(payment_id=cmd.payment_id, refund_id=f"rf-{cmd.order_id}")

        def shipping(service: Service) -> None:
            @service.handler(CreateShipment)
            def ship(cmd: CreateShipment, ctx: CommandContext) -> ShipmentCreated:
                return ShipmentCreated(shipment_id=f"s-{cmd.order_id}", order_id=cmd.order_id)

            @service.handler(CancelShipment)
            def cancel(cmd: CancelShipment, ctx: CommandContext) -> ShipmentCancelled:
                return ShipmentCancelled(shipment_id=cmd.shipment_id)

        return [
            ServiceThread(make_service(app, name, fn)).start()
            for name, fn in (("inventory", inventory), ("payments", payments), ("shipping", shipping))
        ]


def order(n: int, customer: str, sku: str = "sku-1", quantity: int = 1) -> OrderPlaced:
    return OrderPlaced(
        order_id=f"order-{n}", customer_id=customer, sku=sku, quantity=quantity, amount_cents=1200 + n, currency="EUR"
    )


def traceparent() -> dict[str, str]:
    """The caller's trace context, as a traced web shop would send it: the run joins its trace."""
    return {"traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"}


@dataclass
class Running:
    app: App
    server: VisibilityServer
    base_url: str
    shop: Shop
    parked_id: str = "order-1042"
    declined_id: str = "order-1043"
    waiting_id: str = "order-1045"

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {READ}"}, timeout=10)

    def wait_for(self, check: Callable[[httpx.Client], Any], timeout_s: float = 90) -> Any:
        deadline = time.monotonic() + timeout_s
        with self.http() as http:
            while time.monotonic() < deadline:
                value = check(http)
                if value:
                    return value
                time.sleep(0.2)
        raise AssertionError("the store did not reach the expected state in time")

    def status_of(self, http: httpx.Client, workflow_id: str) -> str | None:
        response = http.get(f"/api/v1/workflows/{workflow_id}")
        return response.json()["workflow"]["status"] if response.status_code == 200 else None


@contextmanager
def running(admin: KafkaAdmin, bootstrap: str, tmp: Path, port: int = 0) -> Iterator[Running]:
    app = create_app(admin, bootstrap, tmp, partitions=2)
    shop = Shop()
    services = shop.services(app)
    orch = OrchestratorThread(app.settings(), registry).start()
    settings = app.settings(
        visibility={
            "store_url": f"sqlite:///{tmp / 'visibility.sqlite3'}",
            "port": port,
            "read_tokens": {"viewer": READ},
            "operate_tokens": {"alice": OPERATE},
            "jaeger_url": JAEGER,
        }
    )
    client = app.client()
    try:
        with serving_visibility(settings, serde) as server:
            run = Running(app, server, f"http://127.0.0.1:{server.port}", shop)
            client.start("order-fulfilment", order(1040, "c-17"), workflow_id="order-1040", trace_context=traceparent())
            client.start(
                "order-fulfilment",
                order(1041, "c-23", quantity=2),
                workflow_id="order-1041",
                trace_context=traceparent(),
            )
            client.start(
                "order-fulfilment",
                order(1042, "c-42", sku=OUT_OF_STOCK),
                workflow_id=run.parked_id,
                trace_context=traceparent(),
            )
            client.start(
                "order-fulfilment", order(1043, "declined-7"), workflow_id=run.declined_id, trace_context=traceparent()
            )
            client.start(
                "order-fulfilment",
                order(1044, "c-42", quantity=2),
                workflow_id="order-1044",
                trace_context=traceparent(),
            )
            client.start("order-approval", order(1045, "c-99"), workflow_id=run.waiting_id, trace_context=traceparent())
            run.wait_for(
                lambda h: all(
                    run.status_of(h, wid) == status
                    for wid, status in (
                        ("order-1040", "completed"),
                        ("order-1041", "completed"),
                        ("order-1044", "completed"),
                        (run.parked_id, "parked"),
                        (run.declined_id, "compensated"),
                        (run.waiting_id, "running"),
                    )
                )
            )
            yield run
    finally:
        client.close()
        orch.stop()
        for s in services:
            s.stop()


def main() -> None:
    """Run the scenario on the dev stack until Ctrl-C (for working on the UI)."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:19092")
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()
    with running(
        KafkaAdmin(args.bootstrap_servers), args.bootstrap_servers, Path(tempfile.mkdtemp()), args.port
    ) as run:
        print(f"UI {run.base_url}/  read token: {READ}  operate token: {OPERATE}", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
