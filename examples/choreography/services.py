"""The shop's services as a team wrote them before SagaBridge: choreography over JSON events.

Plain confluent_kafka and json, no SagaBridge import. Each service reads the event types it
reacts to from the topics named by --listen and publishes its own events (camelCase JSON with
CloudEvents binary-mode headers) on <prefix>.<service>.events:

    orders     places orders: OrderPlaced
    inventory  OrderPlaced -> StockReserved;   PaymentDeclined -> StockReleased
    payments   StockReserved -> PaymentCharged | PaymentDeclined (customers 'declined-*');
               ShipmentFailed -> PaymentRefunded
    shipping   PaymentCharged -> ShipmentCreated;   ShipmentCancelRequested -> ShipmentCancelled;
               StockReserved of an express order -> ShipmentCreated at once, not waiting for the
               payment (the shop's known shortcut: shadow mode reports it as a deviation)

Choreography: every service listens to the events topics upstream of it. Adopted by the bridge:
each listens to its own <prefix>.<service>.requests topic instead, where the orchestrator writes
the same event types in the same format (a configuration change; the code below does not change).
Every handler is idempotent on the order id: a repeated request is answered again, never re-done.

    python -m examples.choreography.services inventory --prefix shop --listen shop.orders.events \
        --listen shop.payments.events
    python -m examples.choreography.services orders --prefix shop --count 20
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import time
import uuid
from collections.abc import Callable
from types import FrameType
from typing import Any

from confluent_kafka import Consumer, Producer

Event = dict[str, Any]
Reaction = Callable[[Event], Event | None]


class ShopService:
    def __init__(
        self, name: str, prefix: str, bootstrap: str, drop_rate: float = 0.0, seed: int | None = None,
        latency_ms: int = 0,
    ) -> None:  # fmt: skip
        self.name = name
        self.latency_ms = latency_ms  # how long the service takes to react (a fraud check, a warehouse)
        self.drop_rate = drop_rate  # a request silently lost now and then (the workflow retries it)
        self.random = random.Random(seed)
        self.topic = f"{prefix}.{name}.events"
        self.producer = Producer(
            {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "partitioner": "murmur2_random"}
        )
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.done: dict[tuple[str, str], Event] = {}  # (reaction, order id) -> the event it published
        self.answer_ids: dict[tuple[str, str], str] = {}  # ... and its CloudEvents id
        self.running = True

    def publish(self, event: Event, event_id: str | None = None) -> None:
        """`event_id`: the CloudEvents id of an answer published before (a repeat keeps its id)."""
        headers = {
            "ce_specversion": "1.0",
            "ce_id": event_id or str(uuid.uuid4()),
            "ce_source": f"/shop/{self.name}",
            "ce_type": f"shop.{event['eventType']}",
            "content-type": "application/json",
        }
        self.producer.produce(
            self.topic, key=event["orderId"].encode(), value=json.dumps(event).encode(), headers=list(headers.items())
        )

    def serve(self, listen: list[str], reactions: dict[str, Reaction]) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"{self.prefix}-{self.name}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        consumer.subscribe(listen)
        try:
            while self.running:
                msg = consumer.poll(0.2)
                if msg is None or msg.error() is not None:
                    continue
                try:
                    event = json.loads(msg.value() or b"")
                except ValueError:
                    continue  # not ours to judge; the bridge's DLQ is where bad events are examined
                reaction = reactions.get(str(event.get("eventType")))
                if reaction is not None and self.drop_rate and self.random.random() < self.drop_rate:
                    consumer.commit(message=msg, asynchronous=False)  # lost: nobody will answer it
                    continue
                if reaction is not None:
                    key = (str(event.get("eventType")), str(event.get("orderId")))
                    if key not in self.done:  # idempotent: a repeated request gets the same answer
                        if self.latency_ms:
                            time.sleep(self.latency_ms / 1000)
                        answer = reaction(event)
                        if answer is None:
                            consumer.commit(message=msg, asynchronous=False)
                            continue
                        self.done[key] = answer
                        self.answer_ids[key] = str(uuid.uuid4())
                    self.publish(self.done[key], self.answer_ids[key])
                    self.producer.flush(10)
                consumer.commit(message=msg, asynchronous=False)
        finally:
            consumer.close()
            self.producer.flush(10)


def inventory(svc: ShopService) -> dict[str, Reaction]:
    holds: dict[str, str] = {}

    def reserve(e: Event) -> Event:
        holds[e["orderId"]] = f"hold-{e['orderId']}"
        reserved = {"eventType": "StockReserved", "orderId": e["orderId"], "reservationId": holds[e["orderId"]]}
        for carried in ("customer", "total", "item", "delivery"):  # event-carried state for the services downstream
            if carried in e:
                reserved[carried] = e[carried]
        return reserved

    def release(e: Event) -> Event:
        return {
            "eventType": "StockReleased",
            "orderId": e["orderId"],
            "reservationId": holds.pop(e["orderId"], f"hold-{e['orderId']}"),
        }

    return {"OrderPlaced": reserve, "PaymentDeclined": release}


def payments(svc: ShopService) -> dict[str, Reaction]:
    def charge(e: Event) -> Event:
        if str(e["customer"]["id"]).startswith("declined-"):
            return {"eventType": "PaymentDeclined", "orderId": e["orderId"], "reason": "card declined"}
        return {
            "eventType": "PaymentCharged",
            "orderId": e["orderId"],
            "paymentId": f"pay-{e['orderId']}",
            "amountCents": e["total"]["amountCents"],
            "customer": e["customer"],
            "item": e.get("item"),
        }

    def refund(e: Event) -> Event:
        return {
            "eventType": "PaymentRefunded",
            "orderId": e["orderId"],
            "paymentId": e.get("paymentId"),
            "refundId": f"ref-{e['orderId']}",
        }

    return {"StockReserved": charge, "ShipmentFailed": refund}


def shipping(svc: ShopService) -> dict[str, Reaction]:
    shipped: set[str] = set()

    def ship(e: Event) -> Event | None:
        if e["orderId"] in shipped:  # shipped early (express): the payment changes nothing
            return None
        shipped.add(e["orderId"])
        return {"eventType": "ShipmentCreated", "orderId": e["orderId"], "trackingNumber": f"trk-{e['orderId']}"}

    def ship_express(e: Event) -> Event | None:
        """Express orders leave the warehouse as soon as the stock is reserved."""
        return ship(e) if e.get("delivery") == "express" else None

    def cancel(e: Event) -> Event:
        return {"eventType": "ShipmentCancelled", "orderId": e["orderId"], "trackingNumber": e["trackingNumber"]}

    return {"PaymentCharged": ship, "ShipmentCancelRequested": cancel, "StockReserved": ship_express}


def place_orders(
    svc: ShopService, count: int, decline_every: int, rate: float, first: int, express_every: int = 0
) -> None:
    for i in range(first, first + count):
        declined = decline_every > 0 and i % decline_every == decline_every - 1
        order = {
            "eventType": "OrderPlaced",
            "orderId": f"{svc.prefix}-{i:04d}",
            "customer": {"id": f"declined-{i}" if declined else f"customer-{i % 7}"},
            "item": {"sku": f"sku-{i % 5}", "quantity": 1 + i % 3},
            "total": {"amountCents": 1000 + i, "currency": "EUR"},
        }
        if express_every > 0 and i % express_every == 1:
            order["delivery"] = "express"
        svc.publish(order)
        if rate > 0:
            time.sleep(1 / rate)
    svc.producer.flush(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("service", choices=["orders", "inventory", "payments", "shipping"])
    parser.add_argument("--prefix", default="shop", help="topic prefix: <prefix>.<service>.events")
    parser.add_argument("--listen", action="append", default=[], help="topic to react to (repeatable)")
    parser.add_argument("--bootstrap-servers", default=os.environ.get("SHOP_BOOTSTRAP_SERVERS", "127.0.0.1:19092"))
    parser.add_argument("--count", type=int, default=20, help="orders: how many to place")
    parser.add_argument("--first", type=int, default=0, help="orders: number of the first order")
    parser.add_argument("--decline-every", type=int, default=5, help="orders: every Nth customer's card is declined")
    parser.add_argument("--rate", type=float, default=20.0, help="orders: per second")
    parser.add_argument("--express-every", type=int, default=0, help="orders: every Nth order is express (0: none)")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="lose this share of what it reacts to, 0..1")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--latency-ms", type=int, default=0, help="time taken to react to an event")
    args = parser.parse_args()
    svc = ShopService(args.service, args.prefix, args.bootstrap_servers, args.drop_rate, args.seed, args.latency_ms)
    if args.service == "orders":
        place_orders(svc, args.count, args.decline_every, args.rate, args.first, args.express_every)
        return

    def graceful(_signum: int, _frame: FrameType | None) -> None:
        svc.running = False

    signal.signal(signal.SIGTERM, graceful)
    signal.signal(signal.SIGINT, graceful)
    reactions = {"inventory": inventory, "payments": payments, "shipping": shipping}[args.service](svc)
    svc.serve(args.listen, reactions)


if __name__ == "__main__":
    main()
