"""A generated choreography log of the shop, with known deviations injected: shadow mode's yardstick.

Each case is one order, published as the shop's services publish (examples/choreography/
services.py): camelCase JSON on `<prefix>.<service>.events`, keyed by order id, CloudEvents
binary-mode headers, the record timestamp = when it happened. Most orders take one of the two
paths the order-fulfilment workflow takes (shipped, or declined and released); a known share get
exactly one injected deviation, and some get noise that must NOT count as one (a re-published
event, events delivered out of time order, a late event):

    missing_step             shipped without a payment (PaymentCharged never happens)
    unexpected_step          declined, released, and shipped anyway
    wrong_order              charged before the stock was reserved
    repeated_step            charged twice
    missing_compensation     declined, but the stock is never released
    unexpected_compensation  shipped, and the stock released afterwards
    (noise) duplicate        an event re-published with the same ce_id
    (noise) out_of_order     a case's events produced in shuffled order (timestamps intact)
    (noise) late             an event produced long after its timestamp

`generate()` returns the events and the ground truth; `publish()` produces them. No SagaBridge
import: it is the shop's side of the story.

    python -m examples.choreography.generated_log --prefix shop-gen --cases 10000
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

DEVIATIONS = (
    "missing_step",
    "unexpected_step",
    "wrong_order",
    "repeated_step",
    "missing_compensation",
    "unexpected_compensation",
)
NOISE = ("duplicate", "out_of_order", "late")
DAY_MS = 86_400_000
LATE_BY_MS = 15 * 60 * 1000


@dataclass
class Event:
    service: str  # orders | inventory | payments | shipping: the topic is <prefix>.<service>.events
    value: dict[str, Any]
    timestamp_ms: int
    ce_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def order_id(self) -> str:
        return str(self.value["orderId"])

    def headers(self) -> list[tuple[str, str | bytes | None]]:
        return [
            ("ce_specversion", "1.0"),
            ("ce_id", self.ce_id),
            ("ce_source", f"/shop/{self.service}"),
            ("ce_type", f"shop.{self.value['eventType']}"),
            ("content-type", "application/json"),
        ]


@dataclass
class GeneratedLog:
    events: list[Event]  # in production order
    truth: dict[str, str]  # case id -> injected deviation ("" = conforms)
    noise: dict[str, str]  # case id -> injected noise
    declined: set[str]

    @property
    def cases(self) -> int:
        return len(self.truth)

    def case_ids(self, kind: str) -> set[str]:
        return {case for case, injected in self.truth.items() if injected == kind}


def case_id(order_id: str) -> str:
    """The mapping's correlation key: connectors/shop.toml's `order-{value.orderId}`."""
    return f"order-{order_id}"


def _order(prefix: str, i: int, declined: bool) -> dict[str, Any]:
    return {
        "eventType": "OrderPlaced",
        "orderId": f"{prefix}-{i:06d}",
        "customer": {"id": f"declined-{i}" if declined else f"customer-{i % 97}"},
        "item": {"sku": f"sku-{i % 13}", "quantity": 1 + i % 3},
        "total": {"amountCents": 1000 + i % 9000, "currency": "EUR"},
    }


def _path(order: dict[str, Any], declined: bool, t: int, rng: random.Random) -> list[Event]:
    oid = order["orderId"]

    def hop() -> int:  # the services' own latency: well inside the workflow's 5 s attempt timeout
        return rng.randint(40, 2500)

    t1 = t + hop()
    t2 = t1 + hop()
    t3 = t2 + hop()
    events = [
        Event("orders", order, t),
        Event("inventory", {"eventType": "StockReserved", "orderId": oid, "reservationId": f"hold-{oid}"}, t1),
    ]
    if declined:
        events.append(
            Event("payments", {"eventType": "PaymentDeclined", "orderId": oid, "reason": "card declined"}, t2)
        )
        events.append(
            Event("inventory", {"eventType": "StockReleased", "orderId": oid, "reservationId": f"hold-{oid}"}, t3)
        )
    else:
        charged = {"eventType": "PaymentCharged", "orderId": oid, "paymentId": f"pay-{oid}", "amountCents": 1}
        events.append(Event("payments", charged, t2))
        events.append(
            Event("shipping", {"eventType": "ShipmentCreated", "orderId": oid, "trackingNumber": f"trk-{oid}"}, t3)
        )
    return events


def _inject(kind: str, events: list[Event], rng: random.Random) -> list[Event]:
    oid = events[0].order_id
    last = events[-1].timestamp_ms
    if kind == "missing_step":  # shipping ships without a payment
        return [e for e in events if e.value["eventType"] != "PaymentCharged"]
    if kind == "unexpected_step":  # declined and released, shipped all the same
        ship = {"eventType": "ShipmentCreated", "orderId": oid, "trackingNumber": f"trk-{oid}"}
        return [*events, Event("shipping", ship, last + rng.randint(50, 500))]
    if kind == "wrong_order":  # payments charged before inventory reserved
        reserved, charged = events[1], events[2]
        reserved.timestamp_ms, charged.timestamp_ms = charged.timestamp_ms, reserved.timestamp_ms
        return [events[0], charged, reserved, events[3]]
    if kind == "repeated_step":  # charged twice
        charged = events[2]
        again = Event("payments", dict(charged.value), charged.timestamp_ms + rng.randint(5, 30))
        return [*events[:3], again, events[3]]
    if kind == "missing_compensation":  # declined, stock never released
        return events[:-1]
    if kind == "unexpected_compensation":  # shipped, then the stock released
        release = {"eventType": "StockReleased", "orderId": oid, "reservationId": f"hold-{oid}"}
        return [*events, Event("inventory", release, last + rng.randint(50, 500))]
    raise ValueError(kind)


def generate(
    cases: int, *, prefix: str = "gen", seed: int = 11, deviation_rate: float = 0.03, noise_rate: float = 0.02,
    decline_rate: float = 0.2, spacing_ms: int = 40, first: int = 0, start_ms: int | None = None,
) -> GeneratedLog:  # fmt: skip
    """`deviation_rate` per kind (6 kinds: 18% of cases deviate at 0.03), `noise_rate` per noise;
    orders are numbered from `first` (to publish a second, later log on the same topics). The log
    starts at `start_ms`, by default a day ago (whole minutes): inside any topic's retention."""
    if start_ms is None:
        start_ms = (int(time.time() * 1000) - DAY_MS) // 60_000 * 60_000
    rng = random.Random(seed)
    truth: dict[str, str] = {}
    noise: dict[str, str] = {}
    declined_ids: set[str] = set()
    per_case: list[list[Event]] = []
    for i in range(first, first + cases):
        draw = rng.random()
        kind = ""
        for n, candidate in enumerate(DEVIATIONS):
            if draw < (n + 1) * deviation_rate:
                kind = candidate
                break
        needs_decline = kind in ("unexpected_step", "missing_compensation")
        needs_ship = kind in ("missing_step", "wrong_order", "repeated_step", "unexpected_compensation")
        declined = needs_decline or (not needs_ship and rng.random() < decline_rate)
        order = _order(prefix, i, declined)
        events = _path(order, declined, start_ms + i * spacing_ms, rng)
        if kind:
            events = _inject(kind, events, rng)
        cid = case_id(order["orderId"])
        truth[cid] = kind
        if declined:
            declined_ids.add(cid)
        if not kind:
            extra = rng.random()
            if extra < noise_rate:
                noise[cid] = "duplicate"
                twin = rng.choice(events[1:])
                events.append(Event(twin.service, dict(twin.value), twin.timestamp_ms, ce_id=twin.ce_id))
            elif extra < 2 * noise_rate:
                noise[cid] = "out_of_order"
                events = [events[0], *reversed(events[1:])]
            elif extra < 3 * noise_rate:
                noise[cid] = "late"
        per_case.append(events)
    ordered: list[Event] = []
    late: list[Event] = []
    for events in per_case:
        cid = case_id(events[0].order_id)
        if noise.get(cid) == "late":
            late.append(events[-1])
            events = events[:-1]
        ordered.extend(events)
    ordered.sort(key=lambda e: e.timestamp_ms)
    by_case: dict[str, list[Event]] = {}
    for e in ordered:  # out_of_order cases keep their shuffled production order
        by_case.setdefault(case_id(e.order_id), []).append(e)
    production: list[Event] = []
    for e in ordered:
        cid = case_id(e.order_id)
        if noise.get(cid) == "out_of_order":
            queue = by_case[cid]
            if e is queue[0]:
                production.append(e)
                continue
            if e is queue[1]:  # the rest of the case, produced in reverse
                production.extend(reversed(queue[1:]))
            continue
        production.append(e)
    production.extend(late)  # produced after everything else, LATE_BY_MS or more behind
    return GeneratedLog(production, truth, noise, declined_ids)


def publish(events: Iterable[Event], bootstrap: str, prefix: str) -> int:
    from confluent_kafka import Producer

    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20, "partitioner": "murmur2_random"}
    )
    count = 0
    for e in events:
        while True:
            try:
                producer.produce(
                    f"{prefix}.{e.service}.events",
                    key=e.order_id.encode(),
                    value=json.dumps(e.value).encode(),
                    headers=e.headers(),
                    timestamp=e.timestamp_ms,
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        count += 1
    if producer.flush(120):
        raise RuntimeError("could not publish the generated log")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", required=True, help="topic prefix: <prefix>.<service>.events")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:19092")
    args = parser.parse_args()
    log = generate(args.cases, prefix=args.prefix, seed=args.seed)
    n = publish(log.events, args.bootstrap_servers, args.prefix)
    kinds = {k: len(log.case_ids(k)) for k in DEVIATIONS}
    print(json.dumps({"events": n, "cases": log.cases, "injected": kinds}))


if __name__ == "__main__":
    main()
