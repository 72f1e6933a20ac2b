"""Every reply can settle its step, on the real broker (issue 14, point 2).

A service that is down when its command is sent finds several attempts of one command id when it
comes back: the first is executed, the rest are answered from its dedupe store. A permanent
failure answered that way must settle the step (a forward step fails and the saga compensates; a
compensation parks the run for an operator) instead of being ignored as late forever.
"""

from __future__ import annotations

import threading

from examples.orders.models.inventory import ReleaseStock, ReserveStock, StockReleased, StockReserved
from examples.orders.models.orders import OrderPlaced
from examples.orders.models.payments import ChargePayment, PaymentCharged
from orchestrator.transport.records import header_value
from orchestrator.worker import CommandContext, NonRetryableError, Service
from tests.integration.apps import registry
from tests.integration.harness import App, EventLog, OrchestratorThread, ServiceThread, make_service


class CardDeclined(NonRetryableError):
    pass


class NothingToRelease(NonRetryableError):
    pass


def _order(order_id: str) -> OrderPlaced:
    return OrderPlaced(order_id=order_id, customer_id="c", sku="sku-1", quantity=1, amount_cents=5, currency="EUR")


def _sent(events: EventLog, workflow_id: str, command: str, attempt: int) -> bool:
    return any(
        e["command_type"].endswith("." + command) and e["attempt"] >= attempt
        for e in events.of(workflow_id, "StepScheduled")
    )


def _wait_for_attempt(events: EventLog, workflow_id: str, command: str, attempt: int) -> None:
    """Until the orchestrator has sent `attempt` of the workflow's `command` step."""
    try:
        events.wait_until(lambda: _sent(events, workflow_id, command, attempt), f"{command} attempt {attempt}")
    except AssertionError as exc:
        ignored = [(e["attempt"], e["why"]) for e in events.of(workflow_id, "ReplyIgnored")]
        raise AssertionError(f"{workflow_id}: {exc}; replies ignored: {ignored}") from None


def test_permanent_failures_answered_after_an_outage_settle_their_steps(app: App, events: EventLog) -> None:
    executed: list[str] = []
    lock = threading.Lock()

    def note(what: str, ctx: CommandContext) -> None:
        with lock:
            executed.append(f"{what}:{ctx.workflow_id}")

    def inventory(service: Service) -> None:
        @service.handler(ReserveStock)
        def reserve(cmd: ReserveStock, ctx: CommandContext) -> StockReserved:
            note("reserve", ctx)
            return StockReserved(reservation_id=f"r-{ctx.command_id}", order_id=cmd.order_id)

        @service.handler(ReleaseStock)
        def release(cmd: ReleaseStock, ctx: CommandContext) -> StockReleased:
            note("release", ctx)
            if cmd.order_id == "refused":
                raise NothingToRelease("the reservation was already consumed")
            return StockReleased(reservation_id=cmd.reservation_id)

    def payments(service: Service) -> None:
        @service.handler(ChargePayment)
        def charge(cmd: ChargePayment, ctx: CommandContext) -> PaymentCharged:
            note("charge", ctx)
            raise CardDeclined("card declined")

    ids = ("declined", "refused")
    stock = ServiceThread(make_service(app, "inventory", inventory)).start()
    orch = OrchestratorThread(app.settings(), registry).start()
    services = [stock]
    try:
        client = app.client()
        for wf in ids:
            client.start("outage-saga", _order(wf), workflow_id=wf)
        for wf in ids:  # payments is down: every charge attempt times out and is sent again
            _wait_for_attempt(events, wf, "ChargePayment", 2)
        stock.stop()  # inventory goes down before the compensations are sent
        services.append(ServiceThread(make_service(app, "payments", payments)).start())
        for wf in ids:  # the declines settle the charges: the saga sends the releases, unanswered
            _wait_for_attempt(events, wf, "ReleaseStock", 2)
        services.append(ServiceThread(make_service(app, "inventory", inventory)).start())
        assert events.wait_for(ids, timeout_s=60) == {"declined": "compensated", "refused": "parked"}
        (parked,) = events.of("refused", "WorkflowParked")
        assert parked["reason"].startswith("compensation failed: NothingToRelease")
    finally:
        orch.stop()
        for svc in services:
            svc.stop()
    # each command id ran once; every later attempt was answered from the dedupe store
    assert sorted(executed) == sorted(f"{what}:{wf}" for what in ("reserve", "charge", "release") for wf in ids)


def test_a_shipment_created_after_the_cancel_is_compensated(app: App, events: EventLog) -> None:
    """Issue 14: shipping was down when the workflow was cancelled; it came back, created the
    shipment, and nobody cancelled it. The run must wait for the step and undo it."""
    from examples.orders.models.shipping import CancelShipment, CreateShipment, ShipmentCancelled, ShipmentCreated
    from tests.integration.services import Behaviour, start_services

    others = start_services(app, Behaviour())
    for svc in others:
        if svc.service.name == "shipping":
            svc.stop()
    shipping_log: list[str] = []

    def shipping(service: Service) -> None:
        @service.handler(CreateShipment)
        def ship(cmd: CreateShipment, ctx: CommandContext) -> ShipmentCreated:
            shipping_log.append(f"create:{ctx.attempt}:{header_value(ctx.headers, 'sb-cancel-requested')}")
            return ShipmentCreated(shipment_id=f"s-{ctx.command_id}", order_id=cmd.order_id)

        @service.handler(CancelShipment)
        def cancel(cmd: CancelShipment, ctx: CommandContext) -> ShipmentCancelled:
            shipping_log.append(f"cancel:{cmd.shipment_id}")
            return ShipmentCancelled(shipment_id=cmd.shipment_id)

    orch = OrchestratorThread(app.settings(), registry).start()
    services = list(others)
    try:
        handle = app.client().start("saga", _order("late-ship"), workflow_id="late-ship")
        _wait_for_attempt(events, "late-ship", "CreateShipment", 1)
        handle.cancel("customer changed their mind")
        events.wait_until(  # asked again, flagged (before the fix: cancelled at once, the shipment forgotten)
            lambda: _sent(events, "late-ship", "CreateShipment", 2) or "late-ship" in events.outcomes(),
            "the shipment's second attempt",
        )
        services.append(ServiceThread(make_service(app, "shipping", shipping)).start())
        assert events.wait_for(["late-ship"], timeout_s=60) == {"late-ship": "cancelled"}
        events.wait_until(  # shipping ran: either its undo too, or its success was ignored
            lambda: len(shipping_log) >= 2 or bool(events.of("late-ship", "ReplyIgnored")),
            "the shipment",
        )
    finally:
        orch.stop()
        for svc in services:
            svc.stop()
    # attempt 1 (sent before the cancel) ran; later, flagged attempts were answered from the store
    assert shipping_log == ["create:1:None", "cancel:s-late-ship/2"]
    ignored = {e["why"] for e in events.of("late-ship", "ReplyIgnored")}
    assert "abandoned" not in ignored
    kinds = [e["command_type"].rsplit(".", 1)[1] for e in events.of("late-ship", "StepCompleted")]
    assert kinds[-3:] == ["CancelShipment", "RefundPayment", "ReleaseStock"]
