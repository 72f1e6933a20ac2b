"""Synthetic lifecycle events with the engine's schemas, for the visibility benchmarks and tests.

`workflow_events(i)` returns the events one workflow of a realistic mix would emit (a 3-step
order saga: mostly completed, some running, retrying, parked, compensated or cancelled), as
(schema, value) pairs encoded exactly like the engine's outbox does. Deterministic in `i`, so
two runs (or a test and its rebuild) get the same records.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import examples.orders  # noqa: F401  (the synthetic workflows carry the demo's records: its schemas)
from orchestrator.serialization import AvroSerde

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
TYPES = ("order-fulfilment", "refund", "subscription-renewal", "kyc-check")
STEPS = (
    ("inventory", "sagabridge.demo.inventory.ReserveStock", "sagabridge.demo.inventory.StockReserved"),
    ("payments", "sagabridge.demo.payments.ChargePayment", "sagabridge.demo.payments.PaymentCharged"),
    ("shipping", "sagabridge.demo.shipping.CreateShipment", "sagabridge.demo.shipping.ShipmentCreated"),
)
NS = "sagabridge.events."


@dataclass(frozen=True, slots=True)
class Shape:
    """What happens to workflow i (chosen from i, so the mix is the same in every run)."""

    outcome: str  # completed | running | retrying | parked | compensated | cancelled | waiting
    steps_done: int


def shape_of(i: int) -> Shape:
    r = random.Random(i).random()
    if r < 0.86:
        return Shape("completed", 3)
    if r < 0.90:
        return Shape("running", 1 + i % 2)
    if r < 0.92:
        return Shape("retrying", 1)
    if r < 0.94:
        return Shape("parked", 1)
    if r < 0.97:
        return Shape("compensated", 1)
    if r < 0.98:
        return Shape("cancelled", 0)
    return Shape("waiting", 2)


def workflow_id(i: int) -> str:
    return f"order-{i:08d}"


def _payloads(serde: AvroSerde, i: int) -> dict[str, bytes]:
    oid = workflow_id(i)
    return {
        "sagabridge.demo.orders.OrderPlaced": serde.encode(
            "sagabridge.demo.orders.OrderPlaced",
            {
                "order_id": oid,
                "customer_id": f"c-{i % 50_000}",
                "sku": f"sku-{i % 97}",
                "quantity": 1 + i % 3,
                "amount_cents": 1000 + i % 9000,
                "currency": "EUR",
            },
        ),
        STEPS[0][1]: serde.encode(STEPS[0][1], {"order_id": oid, "sku": f"sku-{i % 97}", "quantity": 1}),
        STEPS[0][2]: serde.encode(STEPS[0][2], {"reservation_id": f"r-{i}", "order_id": oid}),
        STEPS[1][1]: serde.encode(
            STEPS[1][1], {"order_id": oid, "customer_id": f"c-{i % 50_000}", "amount_cents": 1000, "currency": "EUR"}
        ),
        STEPS[1][2]: serde.encode(STEPS[1][2], {"payment_id": f"p-{i}", "order_id": oid, "amount_cents": 1000}),
        STEPS[2][1]: serde.encode(
            STEPS[2][1], {"order_id": oid, "customer_id": f"c-{i % 50_000}", "sku": "s", "quantity": 1}
        ),
        STEPS[2][2]: serde.encode(STEPS[2][2], {"shipment_id": f"s-{i}", "order_id": oid}),
    }


def workflow_events(serde: AvroSerde, i: int, started_ms: int | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (schema, value) lifecycle events of synthetic workflow `i`, in emission order."""
    shape = shape_of(i)
    wf, wtype = workflow_id(i), TYPES[i % len(TYPES)]
    at = T0_MS + i * 37 if started_ms is None else started_ms
    base = {"workflow_id": wf, "workflow_type": wtype}
    payload = _payloads(serde, i)
    trace = f"00-{i:032x}-{i:016x}-01"

    def ev(name: str, dt: int, **fields: Any) -> tuple[str, dict[str, Any]]:
        return NS + name, {**base, "at_ms": at + dt, **fields}

    yield ev(
        "WorkflowStarted",
        0,
        input_schema="sagabridge.demo.orders.OrderPlaced",
        input=payload["sagabridge.demo.orders.OrderPlaced"],
        parent_workflow_id=None,
        trace_context={"traceparent": trace},
    )
    yield ev("SearchAttributesSet", 0, attributes={"customer_id": f"c-{i % 50_000}", "region": f"r{i % 7}"})
    if shape.outcome == "cancelled":
        yield ev("CancelRequested", 5, reason="customer asked")
        yield ev("WorkflowCancelled", 6, reason="customer asked")
        return
    t = 1
    for seq, (service, command, result) in enumerate(STEPS):
        step = {"seq": seq, "service": service, "command_type": command, "command_id": f"{wf}/{seq}"}
        yield ev("StepScheduled", t, **step, attempt=1, compensation=False, payload=payload[command])
        if seq >= shape.steps_done:
            error = {"error_type": "Unavailable", "message": "try later", "retryable": True, "details": {}}
            if shape.outcome in ("retrying", "parked"):
                yield ev("StepRetrying", t + 40, **step, attempt=1, error=error, retry_at_ms=at + t + 1040)
            if shape.outcome == "parked":
                yield ev("StepScheduled", t + 1040, **step, attempt=2, compensation=False, payload=None)
                yield ev("WorkflowParked", t + 1080, reason="retries exhausted after 2 attempts", seq=seq, error=error)
            if shape.outcome == "waiting":
                yield ev("WorkflowWaiting", t + 1, signals=["approve"], timer_due_ms=at + 86_400_000)
            if shape.outcome == "compensated":
                declined = {"error_type": "PaymentDeclined", "message": "declined", "retryable": False, "details": {}}
                yield ev("StepFailed", t + 30, **step, attempt=1, error=declined)
                yield ev("Compensating", t + 31, reason="saga compensation started", error=None)
                comp = {"seq": 9, "service": "inventory", "command_type": "sagabridge.demo.inventory.ReleaseStock"}
                yield ev("StepScheduled", t + 32, **comp, command_id=f"{wf}/9", attempt=1, compensation=True)
                yield ev(
                    "StepCompleted", t + 60, **comp, command_id=f"{wf}/9", attempt=1, result_schema=None, result=None
                )
                yield ev("WorkflowCompensated", t + 61, error=declined)
            return
        t += 20 + i % 30
        yield ev("StepCompleted", t, **step, attempt=1, result_schema=result, result=payload[result])
        t += 1
    yield ev(
        "WorkflowCompleted",
        t,
        result_schema="sagabridge.demo.orders.OrderFulfilment",
        result=serde.encode(
            "sagabridge.demo.orders.OrderFulfilment",
            {
                "order_id": wf,
                "reservation_id": f"r-{i}",
                "payment_id": f"p-{i}",
                "shipment_id": f"s-{i}",
                "fulfilled_at_ms": at + t,
            },
        ),
    )


def encoded_events(serde: AvroSerde, start: int, count: int) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) records of workflows start .. start+count-1, workflow by workflow."""
    for i in range(start, start + count):
        key = workflow_id(i).encode()
        for schema, value in workflow_events(serde, i):
            yield key, serde.encode(schema, value)
