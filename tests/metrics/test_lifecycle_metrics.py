"""Workflow, step and DLQ metrics are a fold over the committed lifecycle events (no broker).

The real engine runs in orchestrator.testing's environment with a LifecycleMetrics recorder; every
figure is checked against the lifecycle events the same turns produced, and an aborted checkpoint
must not be counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from examples.orders.models.inventory import StockReleased, StockReserved
from examples.orders.models.payments import PaymentCharged
from examples.orders.models.shipping import ShipmentCreated
from orchestrator.metrics import metric_names as m
from orchestrator.metrics.lifecycle_metrics import LifecycleMetrics
from orchestrator.testing import WorkflowEnvironment
from orchestrator.transport.records import InboundRecord
from tests.engine.workflows import ENVIRONMENT, INBOX, ORDER, registry
from tests.metrics.points import matching, memory_provider, points, total

RESERVED = StockReserved(reservation_id="r-1", order_id="o-1")
CHARGED = PaymentCharged(payment_id="p-1", order_id="o-1", amount_cents=1999)
SHIPPED = ShipmentCreated(shipment_id="s-1", order_id="o-1")
INVENTORY = {m.STEP_SERVICE: "inventory", m.STEP_COMMAND_TYPE: "sagabridge.demo.inventory.ReserveStock"}


@pytest.fixture
def h(tmp_path: Path) -> Iterator[tuple[WorkflowEnvironment, InMemoryMetricReader]]:
    provider, reader = memory_provider()
    env = WorkflowEnvironment(registry, state_dir=tmp_path, **ENVIRONMENT)
    env.engine.recorder = LifecycleMetrics(provider.get_meter("test"))
    try:
        yield env, reader
    finally:
        env.close()


def only_point(reader: InMemoryMetricReader, name: str, match: dict[str, object]) -> HistogramDataPoint:
    found = matching(reader, name, match)
    assert len(found) == 1, (name, match, points(reader, name))
    assert isinstance(found[0], HistogramDataPoint)
    return found[0]


def test_a_completed_saga_counts_its_start_steps_durations_and_close(
    h: tuple[WorkflowEnvironment, InMemoryMetricReader],
) -> None:
    env, reader = h
    cmd = env.start("order", ORDER, id="o-1").output.commands("inventory")[0]
    env.advance(250)
    pay = env.reply(cmd, RESERVED).commands("payments")[0]
    env.advance(1_000)
    ship = env.reply(pay, CHARGED).commands("shipping")[0]
    env.reply(ship, SHIPPED)

    assert total(reader, m.WORKFLOW_STARTED, {m.WORKFLOW_TYPE: "order"}) == 1
    assert total(reader, m.WORKFLOW_CLOSED, {m.WORKFLOW_TYPE: "order", m.WORKFLOW_STATUS: "completed"}) == 1
    assert total(reader, m.WORKFLOW_CLOSED) == 1
    for service in ("inventory", "payments", "shipping"):
        assert total(reader, m.STEP_SCHEDULED, {m.STEP_SERVICE: service, m.STEP_COMPENSATION: False}) == 1
    reserve = only_point(reader, m.STEP_DURATION, {m.STEP_SERVICE: "inventory"})
    assert (reserve.count, reserve.sum) == (1, 0.25)  # engine time from the command to its settling reply
    assert only_point(reader, m.STEP_DURATION, {m.STEP_SERVICE: "payments"}).sum == 1.0
    assert only_point(reader, m.STEP_DURATION, {m.STEP_OUTCOME: "success", m.STEP_SERVICE: "shipping"}).count == 1
    run = only_point(reader, m.WORKFLOW_DURATION, {m.WORKFLOW_STATUS: "completed"})
    assert (run.count, run.sum) == (1, 1.25)
    assert total(reader, m.STEP_RETRIES) == 0 and total(reader, m.DLQ_RECORDS) == 0


def test_retries_failures_compensations_and_parking_match_the_events(
    h: tuple[WorkflowEnvironment, InMemoryMetricReader],
) -> None:
    env, reader = h
    # o-1: one retry, then the payment is declined for good: the saga compensates
    cmd = env.start("order", ORDER, id="o-1").output.commands("inventory")[0]
    env.reply_failure(cmd, "Unavailable")
    second = env.advance(1_000).commands("inventory")[0]
    pay = env.reply(second, RESERVED).commands("payments")[0]
    release = env.reply_failure(pay, "PaymentDeclined", retryable=False).commands("inventory")[0]
    env.reply(release, StockReleased(reservation_id="r-1"))
    # o-2: every attempt fails: parked after 4; an operator retries and the step succeeds
    cmd = env.start("order", ORDER.model_copy(update={"order_id": "o-2"}), id="o-2").output.commands("inventory")[0]
    for _ in range(3):
        env.reply_failure(cmd, "Unavailable")
        cmd = env.advance(20_000).commands("inventory")[0]
    env.reply_failure(cmd, "Unavailable")
    env.operator("o-2", "RETRY", reason="service back")
    env.reply(env.commands("o-2")[-1], RESERVED, attempt=None)  # a success for the retried step
    env.reply(cmd, RESERVED)  # the old attempt answers late: a duplicate, changes nothing

    events = env.events()
    names = [e.name for e in events]
    assert total(reader, m.WORKFLOW_STARTED) == names.count("WorkflowStarted") == 2
    assert total(reader, m.WORKFLOW_CLOSED, {m.WORKFLOW_STATUS: "compensated"}) == 1
    assert total(reader, m.STEP_RETRIES, {**INVENTORY, m.ERROR_TYPE: "Unavailable"}) == names.count("StepRetrying") == 4
    assert total(reader, m.STEP_SCHEDULED, {m.STEP_COMPENSATION: True}) == 1  # ReleaseStock
    assert total(reader, m.STEP_SCHEDULED) == sum(
        1 for e in events if e.name == "StepScheduled" and e.value["attempt"] == 1
    )
    declined = only_point(reader, m.STEP_DURATION, {m.STEP_OUTCOME: "failure"})
    assert declined.count == 1  # the declined charge, labelled with its error type:
    assert only_point(reader, m.STEP_DURATION, {m.ERROR_TYPE: "PaymentDeclined"}).count == 1
    assert total(reader, m.WORKFLOW_PARKED, {m.WORKFLOW_TYPE: "order", m.ERROR_TYPE: "Unavailable"}) == 1
    assert total(reader, m.WORKFLOW_PARKED) == names.count("WorkflowParked")
    assert total(reader, m.OPERATOR_ACTIONS, {m.OPERATOR_ACTION: "RETRY"}) == 1
    ignored = [e.value["why"] for e in events if e.name == "ReplyIgnored"]
    assert total(reader, m.REPLIES_IGNORED) == len(ignored) >= 1
    for why in set(ignored):
        assert total(reader, m.REPLIES_IGNORED, {m.REPLY_IGNORED_REASON: why}) == ignored.count(why)


def test_dead_letters_count_by_reason(h: tuple[WorkflowEnvironment, InMemoryMetricReader]) -> None:
    env, reader = h
    env.send(InboundRecord(INBOX, 0, 1, b"x", b"not avro at all"))
    env.send(InboundRecord(INBOX, 0, 2, b"y", None))
    dlq = [r for r in env.produced if r.topic == "app.dlq"]
    reasons = [r.header("sb-dlq-reason") for r in dlq]
    assert total(reader, m.DLQ_RECORDS) == len(dlq) == 2
    for reason in set(reasons):
        assert total(reader, m.DLQ_RECORDS, {m.DLQ_REASON: reason}) == reasons.count(reason)


def test_an_aborted_checkpoint_is_not_counted_and_its_redo_is_counted_once(
    h: tuple[WorkflowEnvironment, InMemoryMetricReader],
) -> None:
    env, reader = h
    start = env.records.start("o-1", "order", ORDER, requested_at_ms=env.now_ms)
    env.engine.handle(start, env.txn, env.now_ms)  # handled in an open transaction...
    env.engine.handle(InboundRecord(INBOX, 0, 9, b"x", b"junk"), env.txn, env.now_ms)
    env.abort()  # ...that aborts: the work is dropped and will be redone
    assert total(reader, m.WORKFLOW_STARTED) == 0 and total(reader, m.STEP_SCHEDULED) == 0
    assert total(reader, m.DLQ_RECORDS) == 0
    env.send(start)  # re-processed from the committed offsets, and this time committed
    assert total(reader, m.WORKFLOW_STARTED) == 1 and total(reader, m.STEP_SCHEDULED) == 1
    env.send(start)  # a duplicate start changes nothing, so counts nothing
    assert total(reader, m.WORKFLOW_STARTED) == 1


def test_without_a_recorder_the_engine_collects_nothing(tmp_path: Path) -> None:
    env = WorkflowEnvironment(registry, state_dir=tmp_path, **ENVIRONMENT)
    try:
        out = env.start("order", ORDER, id="o-1").output
        assert out.commands("inventory") and env.engine.recorder is None
        assert env.engine._observed == []
    finally:
        env.close()
