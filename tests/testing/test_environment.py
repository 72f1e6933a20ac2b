"""The test environment: the real engine with fake services and a clock that skips ahead."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from examples.orders.models.inventory import ReleaseStock, ReserveStock, StockReleased, StockReserved
from examples.orders.models.notifications import CustomerNotified
from examples.orders.models.orders import OrderPlaced
from examples.orders.models.payments import ChargePayment, PaymentCharged
from orchestrator.errors import WorkflowNotCompletedError, WorkflowStuckError
from orchestrator.testing import Fail, NoReply, SentCommand, Succeed, WorkflowEnvironment, WorkflowStatus
from orchestrator.workflow import RetryPolicy, WorkflowContext, WorkflowRegistry, workflow

registry = WorkflowRegistry()
ORDER = OrderPlaced(order_id="o-1", customer_id="c-1", sku="sku-1", quantity=2, amount_cents=1999, currency="EUR")
DAY = timedelta(days=1)
BACKOFF = RetryPolicy(
    initial_interval=timedelta(minutes=1), backoff_coefficient=2.0, maximum_interval=timedelta(hours=1)
)


def reserve(order: OrderPlaced) -> ReserveStock:
    return ReserveStock(order_id=order.order_id, sku=order.sku, quantity=order.quantity)


def charge(order: OrderPlaced) -> ChargePayment:
    return ChargePayment(
        order_id=order.order_id, customer_id=order.customer_id, amount_cents=order.amount_cents, currency=order.currency
    )


@workflow("month-later", registry=registry)
async def month_later(ctx: WorkflowContext, order: OrderPlaced) -> StockReserved:
    await ctx.sleep(timedelta(days=30))
    return await ctx.call("inventory", reserve(order), result=StockReserved, retry=BACKOFF)


@workflow("saga", registry=registry)
async def saga(ctx: WorkflowContext, order: OrderPlaced) -> PaymentCharged:
    stage = {"now": "reserving"}
    ctx.set_query_handler("stage", lambda: dict(stage))
    async with ctx.saga() as s:
        stock = await ctx.call(
            "inventory", reserve(order), result=StockReserved, start_to_close=timedelta(seconds=5), retry=BACKOFF
        )
        s.add_compensation("inventory", ReleaseStock(reservation_id=stock.reservation_id, order_id=order.order_id))
        stage["now"] = "approving"
        await ctx.wait_signal("approve", timeout=timedelta(days=2))
        stage["now"] = "charging"
        paid = await ctx.call(
            "payments",
            charge(order),
            result=PaymentCharged,
            retry=RetryPolicy(maximum_attempts=3, non_retryable_error_types=("Declined",)),
        )
    ctx.publish(CustomerNotified(order_id=order.order_id, customer_id=order.customer_id, channel="email", message="ok"))
    return paid


@workflow("fan-out", registry=registry)
async def fan_out(ctx: WorkflowContext, order: OrderPlaced) -> dict[str, str]:
    first, second = await asyncio.gather(
        ctx.child("month-later", order, id=f"{ctx.info.workflow_id}-a", result=StockReserved),
        ctx.child("month-later", order, id=f"{ctx.info.workflow_id}-b", result=StockReserved),
    )
    return {"a": first.reservation_id, "b": second.reservation_id}


RESERVED = StockReserved(reservation_id="r-1", order_id="o-1")
CHARGED = PaymentCharged(payment_id="p-1", order_id="o-1", amount_cents=1999)


@pytest.fixture
def env() -> Iterator[WorkflowEnvironment]:
    with WorkflowEnvironment(registry) as environment:
        yield environment


def test_a_30_day_sleep_and_retries_with_backoff_finish_on_virtual_time(env: WorkflowEnvironment) -> None:
    env.service("inventory", replies=[Fail("Unavailable")] * 4 + [RESERVED])
    started = env.now_ms
    run = env.start("month-later", ORDER, id="m-1")
    assert run.result() == RESERVED
    attempts = [(c.attempt, c.at_ms - started) for c in run.commands("inventory")]
    minute = 60_000
    month = 30 * 86_400_000
    assert attempts == [
        (1, month),
        (2, month + minute),
        (3, month + 3 * minute),
        (4, month + 7 * minute),
        (5, month + 15 * minute),
    ]
    assert env.now_ms - started == month + 15 * minute  # the clock stopped where the run ended
    assert run.event_names().count("StepRetrying") == 4
    assert run.status == WorkflowStatus.COMPLETED


def test_handler_sees_each_attempt_and_signals_queries_and_events_are_reported(env: WorkflowEnvironment) -> None:
    seen: list[tuple[str, int]] = []

    def inventory(cmd: SentCommand) -> StockReserved | Fail:
        seen.append((cmd.command_type, cmd.attempt))
        assert isinstance(cmd.payload, ReserveStock) and cmd.payload.quantity == 2
        return Fail("Busy") if cmd.attempt == 1 else StockReserved(reservation_id="r-7", order_id=cmd.payload.order_id)

    env.service("inventory", inventory)
    env.service("payments", replies=[CHARGED])
    run = env.start("saga", ORDER, id="s-1")
    env.advance(timedelta(minutes=1))  # attempt 1 fails, the retry after 1 minute of backoff succeeds
    assert seen == [("sagabridge.demo.inventory.ReserveStock", 1), ("sagabridge.demo.inventory.ReserveStock", 2)]
    assert run.query("stage") == {"now": "approving"}
    run.signal("approve")
    assert run.result() == CHARGED
    assert [e.name for e in run.published()] == ["CustomerNotified"]
    assert run.published()[0].value["message"] == "ok"
    assert run.event_names()[0] == "WorkflowStarted" and run.event_names()[-1] == "WorkflowCompleted"
    assert "signal_received" in run.kinds()


def test_a_declined_payment_compensates_and_result_raises(env: WorkflowEnvironment) -> None:
    env.service("payments", replies=[Fail("Declined", "card refused")])  # retryable, but the policy says no
    inventory = env.service("inventory", lambda cmd: StockReleased(reservation_id="r-1") if cmd.seq > 0 else RESERVED)
    run = env.start("saga", ORDER, id="s-2")
    env.settle()
    run.signal("approve")
    with pytest.raises(WorkflowNotCompletedError) as ended:
        run.result()
    assert ended.value.status == WorkflowStatus.COMPENSATED
    assert ended.value.error is not None and ended.value.error.error_type == "StepFailed"
    assert [c.command_type.rsplit(".", 1)[1] for c in run.commands("inventory")] == ["ReserveStock", "ReleaseStock"]
    assert len(inventory.received) == 2


def test_a_silent_service_times_out_parks_and_an_operator_retry_resumes(env: WorkflowEnvironment) -> None:
    env.service("inventory", replies=[RESERVED])
    payments = env.service("payments", replies=[NoReply()])
    run = env.start("saga", ORDER, id="s-3")
    env.settle()
    run.signal("approve")
    # no start_to_close on the charge: with nobody answering, the run just waits
    with pytest.raises(WorkflowStuckError, match="a reply from payments"):
        run.result()
    env.service("payments", replies=[Fail("Unavailable")])  # it comes back, but only to fail
    env.reply_failure(payments.received[-1], "Unavailable")  # the answer to attempt 1, by hand
    assert run.wait() == WorkflowStatus.PARKED  # 3 attempts allowed: attempt 3 failed, an operator decides
    with pytest.raises(WorkflowNotCompletedError, match="retries exhausted"):
        run.result()
    env.service("payments", replies=[CHARGED])
    run.retry()
    assert run.result() == CHARGED
    assert [c.attempt for c in run.commands("payments")] == [1, 2, 3, 4]


def test_latency_beyond_the_attempt_timeout_retries_and_the_late_reply_is_ignored(env: WorkflowEnvironment) -> None:
    env.service("inventory", replies=[RESERVED], latency=timedelta(seconds=8))  # start_to_close is 5 s
    run = env.start("saga", ORDER, id="s-4")
    env.advance(timedelta(seconds=20))
    # 0 s attempt 1; 5 s its timeout; 5 s + 1 min backoff... the first reply (8 s) settles the step
    names = run.event_names()
    assert names.count("StepRetrying") == 1 and names.count("StepCompleted") == 1
    assert [c.attempt for c in run.commands("inventory")] == [1]
    assert run.query("stage") == {"now": "approving"}
    env.advance(timedelta(minutes=2))
    assert [c.attempt for c in run.commands("inventory")] == [1]  # the retry never went out: settled first


def test_cancellation_compensates_and_ends_cancelled(env: WorkflowEnvironment) -> None:
    env.service("inventory", lambda cmd: RESERVED if cmd.command_type.endswith("ReserveStock") else None)
    run = env.start("saga", ORDER, id="s-5")
    env.settle()
    run.cancel("customer changed their mind")
    assert run.wait() == WorkflowStatus.CANCELLED
    assert run.commands("inventory")[-1].command_type == "sagabridge.demo.inventory.ReleaseStock"


def test_the_approval_timeout_fires_after_two_virtual_days(env: WorkflowEnvironment) -> None:
    env.service("inventory", lambda cmd: RESERVED if cmd.command_type.endswith("ReserveStock") else None)
    start = env.now_ms
    run = env.start("saga", ORDER, id="s-6")
    with pytest.raises(WorkflowNotCompletedError) as ended:
        run.result()
    assert ended.value.status == WorkflowStatus.COMPENSATED
    assert ended.value.error is not None and ended.value.error.error_type == "WorkflowTimeoutError"
    assert env.now_ms - start == 2 * 86_400_000


def test_child_workflows_run_in_the_same_environment(env: WorkflowEnvironment) -> None:
    env.service("inventory", lambda cmd: StockReserved(reservation_id=f"r-{cmd.workflow_id}", order_id="o-1"))
    run = env.start("fan-out", ORDER, id="f-1")
    assert run.result() == {"a": "r-f-1-a", "b": "r-f-1-b"}
    assert env.run("f-1-a").status == WorkflowStatus.COMPLETED


def test_state_in_rocksdb_survives_a_restart(tmp_path: Path) -> None:
    with WorkflowEnvironment(registry, state_dir=tmp_path) as env:
        env.service("inventory", replies=[RESERVED])
        env.service("payments", replies=[CHARGED])
        run = env.start("saga", ORDER, id="s-7")
        env.settle()
        env.restart()  # a new engine over the reopened store: the run is rebuilt by replay
        replays = env.engine.stats.replays
        run.signal("approve")
        assert env.engine.stats.replays == replays + 1
        assert run.result() == CHARGED
        assert (tmp_path / "app-orchestrator" / "0").is_dir()


def test_canned_success_with_a_dict_names_its_schema(env: WorkflowEnvironment) -> None:
    env.service(
        "inventory",
        replies=[Succeed({"reservation_id": "r-d", "order_id": "o-1"}, "sagabridge.demo.inventory.StockReserved")],
    )
    run = env.start("month-later", ORDER, id="m-2")
    assert run.result() == StockReserved(reservation_id="r-d", order_id="o-1")
