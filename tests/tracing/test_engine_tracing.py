"""The real engine, runner, client and worker SDK on the real broker produce one trace per workflow.

Each role records with its own in-memory provider (own service.name), as separate processes
would: the client, the orchestrator thread (`using(provider)` around its loop), and the three
services (`Service(tracer_provider=...)`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from examples.orders.models.inventory import ReleaseStock, ReserveStock, StockReleased, StockReserved
from examples.orders.models.orders import OrderPlaced
from examples.orders.models.payments import ChargePayment, PaymentCharged, PaymentRefunded, RefundPayment
from examples.orders.models.shipping import CancelShipment, CreateShipment, ShipmentCancelled, ShipmentCreated
from orchestrator import tracing
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.worker import CommandContext, NonRetryableError, Service
from orchestrator.workflow import WorkflowRegistry
from tests.integration.apps import registry
from tests.integration.harness import (
    App,
    EventLog,
    OrchestratorThread,
    ServiceThread,
    create_app,
    read_committed,
    serde,
)
from tests.integration.services import Flaky, PaymentDeclined

SERVICES = ("inventory", "payments", "shipping")


class AddressRejected(NonRetryableError):
    pass


class Role:
    """One process's tracing: a synchronous in-memory provider named after the role."""

    def __init__(self, name: str) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider: TracerProvider = tracing.create_tracer_provider(name, exporters=[self.exporter], batch=False)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


class TracedOrchestrator(OrchestratorThread):
    """The in-process orchestrator, recording with its role's provider (or with tracing off)."""

    def __init__(self, app: App, reg: WorkflowRegistry, provider: TracerProvider | None) -> None:
        super().__init__(app.settings(), reg)
        self.provider = provider

    def _run(self) -> None:
        if self.provider is None:
            super()._run()
            return
        with tracing.using(self.provider):
            super()._run()

    def replays(self) -> int:
        return sum(slot.engine.stats.replays for slot in list(self.orchestrator.slots.values()))


@dataclass
class Knobs:
    fail_first_reserve: bool = False
    decline: bool = False
    reject_address: bool = False
    calls: list[str] = field(default_factory=list)


def _services(app: App, knobs: Knobs, roles: dict[str, Role] | None) -> list[ServiceThread]:
    def make(name: str) -> Service:
        provider = None if roles is None else roles[name].provider
        return Service(
            name,
            app.bootstrap,
            serde,
            command_topic=app.command_topic(name),
            group_id=f"{app.name}-{name}",
            tracer_provider=provider,
        )

    inventory, payments, shipping = make("inventory"), make("payments"), make("shipping")

    @inventory.handler(ReserveStock)
    def reserve(cmd: ReserveStock, ctx: CommandContext) -> StockReserved:
        knobs.calls.append(f"reserve:{ctx.attempt}")
        if knobs.fail_first_reserve and ctx.attempt == 1:
            raise Flaky("warehouse busy")
        return StockReserved(reservation_id=f"r-{ctx.command_id}", order_id=cmd.order_id)

    @inventory.handler(ReleaseStock)
    def release(cmd: ReleaseStock, ctx: CommandContext) -> StockReleased:
        knobs.calls.append("release")
        return StockReleased(reservation_id=cmd.reservation_id)

    @payments.handler(ChargePayment)
    def charge(cmd: ChargePayment, ctx: CommandContext) -> PaymentCharged:
        knobs.calls.append("charge")
        if knobs.decline:
            raise PaymentDeclined("card declined")
        return PaymentCharged(payment_id="p-1", order_id=cmd.order_id, amount_cents=cmd.amount_cents)

    @payments.handler(RefundPayment)
    def refund(cmd: RefundPayment, ctx: CommandContext) -> PaymentRefunded:
        knobs.calls.append("refund")
        return PaymentRefunded(payment_id=cmd.payment_id, refund_id="ref")

    @shipping.handler(CreateShipment)
    def ship(cmd: CreateShipment, ctx: CommandContext) -> ShipmentCreated:
        knobs.calls.append("ship")
        if knobs.reject_address:
            raise AddressRejected("no such street")
        return ShipmentCreated(shipment_id="s-1", order_id=cmd.order_id)

    @shipping.handler(CancelShipment)
    def cancel(cmd: CancelShipment, ctx: CommandContext) -> ShipmentCancelled:
        return ShipmentCancelled(shipment_id=cmd.shipment_id)

    return [ServiceThread(s).start() for s in (inventory, payments, shipping)]


ORDER = OrderPlaced(order_id="o-1", customer_id="c-1", sku="sku-1", quantity=1, amount_cents=500, currency="EUR")


@pytest.fixture
def app(kafka_admin: KafkaAdmin, kafka_bootstrap: str, tmp_path: Path) -> App:
    return create_app(kafka_admin, kafka_bootstrap, tmp_path)


@pytest.fixture
def events(app: App) -> Iterator[EventLog]:
    log = EventLog(app)
    yield log
    log.close()


@pytest.fixture
def roles() -> Iterator[dict[str, Role]]:
    made = {name: Role(name) for name in ("client", "orchestrator", "orchestrator-2", *SERVICES)}
    yield made
    for role in made.values():
        role.provider.shutdown()


def _stop(threads: list[ServiceThread]) -> None:
    for thread in threads:
        thread.stop()


# --- helpers over the recorded spans ----------------------------------------------------------
def _svc(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


def _attr(span: ReadableSpan, name: str) -> object:
    return (span.attributes or {}).get(name)


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def _trace_ids(spans: list[ReadableSpan]) -> set[str]:
    return {format(s.context.trace_id, "032x") for s in spans}


def test_saga_with_retry_and_compensation_is_one_trace(app: App, events: EventLog, roles: dict[str, Role]) -> None:
    knobs = Knobs(fail_first_reserve=True, reject_address=True)
    threads = _services(app, knobs, roles)
    orch = TracedOrchestrator(app, registry, roles["orchestrator"].provider).start()
    try:
        with tracing.using(roles["client"].provider), tracing.child_span("POST /orders") as request:
            handle = app.client().start("saga", ORDER, workflow_id="traced")
        assert events.wait_for([handle.id], timeout_s=90) == {"traced": "compensated"}
    finally:
        orch.stop()  # the final checkpoint commits, and with it the queued orchestrator spans
        _stop(threads)
    assert knobs.calls == ["reserve:1", "reserve:2", "charge", "ship", "refund", "release"]

    spans = [s for role in roles.values() for s in role.spans()]
    by_id = {s.context.span_id: s for s in spans}
    assert len(by_id) == len(spans)  # no span recorded twice
    assert _trace_ids(spans) == {format(request.get_span_context().trace_id, "032x")}
    assert {_svc(s) for s in spans} == {"client", "orchestrator", *SERVICES}
    assert [s.name for s in spans if s.parent is not None and s.parent.span_id not in by_id] == []

    run = _one(spans, "workflow saga")
    assert run.parent is not None and run.parent.span_id == request.get_span_context().span_id
    assert _attr(run, "sagabridge.workflow.status") == "compensated"
    # the workflow's own failure (what WorkflowCompensated reports), naming the step error that caused it
    assert run.status.status_code is StatusCode.ERROR and _attr(run, "error.type") == "StepFailed"
    assert "AddressRejected" in str(run.status.description)

    # step attempts: children of the run, each the parent of exactly one service handler span
    attempts = sorted(
        (s for s in _children(spans, run) if s.kind is SpanKind.PRODUCER), key=lambda s: s.start_time or 0
    )
    assert [(s.name, _attr(s, "sagabridge.step.attempt")) for s in attempts] == [
        ("step ReserveStock", 1),
        ("step ReserveStock", 2),
        ("step ChargePayment", 1),
        ("step CreateShipment", 1),
        ("compensate RefundPayment", 1),
        ("compensate ReleaseStock", 1),
    ]
    assert [s.status.status_code for s in attempts] == [
        StatusCode.ERROR,
        StatusCode.UNSET,
        StatusCode.UNSET,
        StatusCode.ERROR,
        StatusCode.UNSET,
        StatusCode.UNSET,
    ]
    assert [_attr(s, "error.type") for s in attempts] == ["Flaky", None, None, "AddressRejected", None, None]
    assert [_attr(s, "sagabridge.step.compensation") for s in attempts] == [False] * 4 + [True] * 2
    services = ("inventory", "inventory", "payments", "shipping", "payments", "inventory")
    for attempt, service in zip(attempts, services, strict=True):
        topic = app.command_topic(service)
        assert (
            _attr(attempt, "messaging.system"),
            _attr(attempt, "messaging.destination.name"),
            _attr(attempt, "messaging.operation.type"),
        ) == ("kafka", topic, "send")
        (handler,) = _children(spans, attempt)
        assert (_svc(handler), handler.kind, handler.name) == (service, SpanKind.CONSUMER, f"process {topic}")
        assert _attr(handler, "messaging.consumer.group.name") == f"{app.name}-{service}"
        assert _attr(handler, "messaging.kafka.message.key") == "traced"
        assert _attr(handler, "messaging.operation.type") == "process"
        (reply,) = _children(spans, handler)
        assert (reply.kind, reply.name) == (SpanKind.PRODUCER, f"send {app.name}.inbox")
        assert [link.context.span_id for link in attempt.links] == [reply.context.span_id]
        assert attempt.end_time is not None and reply.end_time is not None and attempt.end_time >= reply.end_time
    failed_handlers = [h for a in attempts for h in _children(spans, a) if h.status.status_code is StatusCode.ERROR]
    assert [_attr(h, "error.type") for h in failed_handlers] == ["Flaky", "AddressRejected"]

    timer = _one(spans, "timer retry ReserveStock")
    assert timer.parent is not None and timer.parent.span_id == run.context.span_id
    assert attempts[0].end_time is not None and timer.start_time is not None
    assert timer.start_time >= attempts[0].end_time - 1_000_000  # set when the first attempt failed

    activations = [s for s in spans if s.name == "workflow.activate saga"]
    assert all(a.parent is not None and a.parent.span_id == run.context.span_id for a in activations)
    reasons = sorted(str(_attr(a, "sagabridge.activation.reason")) for a in activations)
    # the failed first reserve causes no activation (the engine retries on its own): only its attempt links it
    assert reasons == ["started", *["step_completed"] * 4, "step_failed"]
    consumed = [a for a in activations if a.kind is SpanKind.CONSUMER]
    assert len(consumed) == len(activations)  # every activation here was caused by an inbox record
    assert all(
        _attr(a, "messaging.destination.name") == f"{app.name}.inbox"
        and _attr(a, "messaging.consumer.group.name") == f"{app.name}-orchestrator"
        for a in consumed
    )


def test_restart_mid_workflow_keeps_the_trace_and_replay_records_nothing(
    app: App, events: EventLog, roles: dict[str, Role]
) -> None:
    threads = _services(app, Knobs(), roles)
    first = TracedOrchestrator(app, registry, roles["orchestrator"].provider).start()
    try:
        handle = app.client().start("await-go", ORDER, workflow_id="restarted")
        deadline = time.monotonic() + 60
        while not events.of(handle.id, "StepCompleted"):  # reserve done; now waiting for "go"
            assert time.monotonic() < deadline, "reserve never completed"
            events.poll()
        first.stop()
        second = TracedOrchestrator(app, registry, roles["orchestrator-2"].provider)
        second.start()
        try:
            handle.signal("go")
            assert events.wait_for([handle.id], timeout_s=60) == {"restarted": "completed"}
            assert second.replays() >= 1  # the new process rebuilt the run from history
        finally:
            second.stop()
    finally:
        _stop(threads)

    before, after = roles["orchestrator"].spans(), roles["orchestrator-2"].spans()
    spans = [s for role in roles.values() for s in role.spans()]
    assert len(_trace_ids(spans)) == 1  # the client reserved the run; both processes continued it
    assert len({s.context.span_id for s in spans}) == len(spans)
    assert sorted(s.name for s in before) == [
        "step ReserveStock",
        "workflow.activate await-go",
        "workflow.activate await-go",
    ]
    # after the restart: only the live work; the replayed reserve step and activations are not repeated
    assert sorted(s.name for s in after) == [
        "signal go",
        "step ChargePayment",
        "workflow await-go",
        "workflow.activate await-go",
        "workflow.activate await-go",
    ]
    run = _one(after, "workflow await-go")
    assert run.parent is None  # the client had no span of its own: the run is the trace's root
    assert all(s.parent is not None and s.parent.span_id == run.context.span_id for s in before + after if s is not run)
    (first_started,) = [s for s in before if _attr(s, "sagabridge.activation.reason") == "started"]
    assert run.start_time is not None and first_started.start_time is not None
    assert run.start_time <= first_started.start_time  # the run span starts when the client reserved it


def test_tracing_off_records_and_propagates_nothing(app: App, events: EventLog) -> None:
    assert tracing.setup_tracing("sagabridge-orchestrator") is None  # no OTEL_* configured (conftest)
    assert not tracing.tracing_enabled()
    threads = _services(app, Knobs(fail_first_reserve=True, decline=True), None)
    orch = TracedOrchestrator(app, registry, None).start()
    try:
        handle = app.client().start("saga", ORDER, workflow_id="untraced")
        assert events.wait_for([handle.id], timeout_s=90) == {"untraced": "compensated"}
    finally:
        orch.stop()
        _stop(threads)
    (started,) = events.of(handle.id, "WorkflowStarted")
    assert started["trace_context"] == {}
    records = [
        r
        for topic in (app.command_topic("inventory"), f"{app.name}.inbox")
        for r in read_committed(app.bootstrap, topic, idle_s=1.0)
    ]
    assert records and all(r.header("traceparent") is None for r in records)


# --- the engine alone (real RocksDB store, test clock): checkpoint visibility ------------------
def test_an_aborted_checkpoint_records_no_spans_and_its_redo_records_them_once(tmp_path: Path) -> None:
    from orchestrator.testing import WorkflowEnvironment
    from tests.engine.workflows import ORDER as ENGINE_ORDER
    from tests.engine.workflows import registry as engine_registry

    role = Role("orchestrator")
    with WorkflowEnvironment(engine_registry, state_dir=tmp_path) as env:
        try:
            with tracing.using(role.provider):
                record = env.records.start("o-1", "order", ENGINE_ORDER, requested_at_ms=env.now_ms)
                env.engine.handle(record, env.txn, env.now_ms)  # handled, then the checkpoint aborts
                env.abort()  # what the runner does when the transaction aborts
                assert role.spans() == [] and len(env.engine.pending_spans) == 0
                out = env.send(record)  # re-processed and committed
                assert [s.name for s in role.spans()] == ["workflow.activate order"]
                (cmd,) = out.commands()
                run = env.header("o-1").trace_context
                assert tracing.trace_id_hex(run) == tracing.trace_id_hex(
                    {"traceparent": cmd.header("traceparent") or ""}
                )
                assert cmd.header("traceparent") != run["traceparent"]  # the attempt's span, not the run's
        finally:
            role.provider.shutdown()


def test_a_run_started_with_tracing_off_gets_a_trace_on_its_next_live_activation(tmp_path: Path) -> None:
    from examples.orders.models.inventory import StockReserved as Reserved
    from orchestrator.testing import WorkflowEnvironment
    from tests.engine.workflows import ORDER as ENGINE_ORDER
    from tests.engine.workflows import registry as engine_registry

    role = Role("orchestrator")
    with WorkflowEnvironment(engine_registry, state_dir=tmp_path) as env:
        try:
            (cmd,) = env.start("order", ENGINE_ORDER, id="o-1").output.commands()
            assert env.header("o-1").trace_context == {} and cmd.header("traceparent") is None
            with tracing.using(role.provider):
                (pay,) = env.reply(cmd, Reserved(reservation_id="r-1", order_id="o-1")).commands()
            run = env.header("o-1").trace_context
            assert tracing.START_NS in run and pay.header("traceparent") is not None
            assert tracing.trace_id_hex(run) == tracing.trace_id_hex({"traceparent": pay.header("traceparent") or ""})
            (activation,) = role.spans()  # the attempt opened with tracing off is never recorded
            assert activation.parent is not None and format(activation.parent.span_id, "016x") in run["traceparent"]
        finally:
            role.provider.shutdown()
