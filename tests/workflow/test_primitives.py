"""Every primitive, driven live through the real engine core (orchestrator.testing)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.errors import (
    ChildWorkflowFailedError,
    QueryNotFoundError,
    StepFailedError,
    WorkflowAuthoringError,
    WorkflowTimeoutError,
)
from orchestrator.testing import WorkflowEnvironment, WorkflowRun, WorkflowStatus
from orchestrator.workflow import HistoryEvent, RetryPolicy, WorkflowContext, WorkflowRegistry, workflow
from orchestrator.workflow.activation import (
    CancelTimer,
    CompleteWorkflow,
    EventKind,
    FailWorkflow,
    RecordSideEffect,
    ScheduleStep,
    StartChild,
    StartTimer,
)
from tests.workflow.models import (
    START_MS,
    Approval,
    Charge,
    Charged,
    Done,
    Order,
    Release,
    Reserve,
    Reserved,
    environment,
)

reg = WorkflowRegistry()
POLICY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=4, non_retryable_error_types=("Declined",))


@workflow("typed", registry=reg)
async def typed(ctx: WorkflowContext, order: Order) -> Done:
    got = await ctx.call(
        "inventory",
        Reserve(order_id=order.order_id),
        result=Reserved,
        retry=POLICY,
        start_to_close=timedelta(seconds=30),
        schedule_to_close=timedelta(hours=1),
    )
    return Done(summary=f"{order.order_id}:{got.reservation_id}")


@pytest.fixture
def env() -> Iterator[WorkflowEnvironment]:
    with environment(reg) as env:
        yield env


def _started(env: WorkflowEnvironment, workflow_type: str, *, id: str | None = None) -> WorkflowRun:
    """A run of a workflow that takes no input, started now."""
    return env.start(workflow_type, {}, input_schema="t.Empty", id=id)


def test_call_sends_the_model_and_decodes_the_result(env: WorkflowEnvironment) -> None:
    run = env.start("typed", Order(order_id="o1"), input_schema=Order.avro_schema_name)
    [cmd] = run.new_commands()
    assert cmd == ScheduleStep(
        0, "inventory", "test.workflow.Reserve", {"order_id": "o1"}, POLICY, 30_000, 3_600_000, False
    )
    run.complete_step(0, Reserved(reservation_id="r9"))
    [done] = run.new_commands()
    assert done == CompleteWorkflow("test.workflow.Done", {"summary": "o1:r9"})
    assert run.instance.finished and run.instance.result == done


@workflow("catches-step-failure", registry=reg)
async def catches_step_failure(ctx: WorkflowContext) -> dict[str, Any]:
    try:
        await ctx.call("payments", Charge(order_id="o", amount=5), result=Charged)
    except StepFailedError as exc:
        return {
            "service": exc.service,
            "type": exc.command_type,
            "error": exc.error.error_type,
            "message": exc.error.message,
            "attempt": exc.attempt,
        }
    return {}


def test_final_step_failure_raises_step_failed_with_details(env: WorkflowEnvironment) -> None:
    run = _started(env, "catches-step-failure")
    run.fail_step(0, "Unavailable", retryable=True)  # attempt 1 fails transiently: retried after backoff
    env.run_until_idle()
    run.fail_step(0, "Declined", "card refused")  # attempt 2 fails finally
    assert run.outcome == CompleteWorkflow(
        None,
        {
            "service": "payments",
            "type": "test.workflow.Charge",
            "error": "Declined",
            "message": "card refused",
            "attempt": 2,
        },
    )


@workflow("uncaught", registry=reg)
async def uncaught(ctx: WorkflowContext) -> None:
    await ctx.call("payments", Charge(order_id="o", amount=5))


def test_uncaught_exception_fails_the_workflow(env: WorkflowEnvironment) -> None:
    run = _started(env, "uncaught")
    run.fail_step(0, "Declined")
    outcome = run.outcome
    assert isinstance(outcome, FailWorkflow) and outcome.status == "failed"
    assert outcome.error.error_type == "StepFailed" and "Declined" in outcome.error.message


@workflow("parallel", registry=reg)
async def parallel(ctx: WorkflowContext) -> dict[str, Any]:
    a, b, c = await asyncio.gather(
        ctx.call("a", {"i": 1}, command_type="t.A"),
        ctx.call("b", {"i": 2}, command_type="t.B"),
        ctx.call("c", {"i": 3}, command_type="t.C"),
    )
    return {"a": a, "b": b, "c": c}


def test_gather_schedules_all_steps_at_once_in_argument_order(env: WorkflowEnvironment) -> None:
    run = _started(env, "parallel")
    cmds = run.new_commands()
    assert [(c.cmd_seq, c.service) for c in cmds] == [(0, "a"), (1, "b"), (2, "c")]  # type: ignore[union-attr]
    run.complete_step(2, {"v": "c"}, result_schema="t.V")
    assert run.new_commands() == []
    run.complete_step(0, {"v": "a"}, result_schema="t.V")
    assert run.new_commands() == []
    run.complete_step(1, {"v": "b"}, result_schema="t.V")
    assert run.outcome == CompleteWorkflow(None, {"a": {"v": "a"}, "b": {"v": "b"}, "c": {"v": "c"}})


@workflow("sleeper", registry=reg)
async def sleeper(ctx: WorkflowContext) -> dict[str, Any]:
    before = ctx.now_ms()
    await ctx.sleep(timedelta(minutes=5))
    await ctx.sleep(0)  # no timer for a zero sleep
    return {"slept": ctx.now_ms() - before, "at": ctx.now().isoformat()}


def test_sleep_is_a_durable_timer_and_time_comes_from_history(env: WorkflowEnvironment) -> None:
    run = _started(env, "sleeper")
    assert run.new_commands() == [StartTimer(0, START_MS + 300_000)]
    assert len(env.timer_keys()) == 1  # durable: in the store's timer index
    run.fire_timer(0)
    expected_at = datetime.fromtimestamp((START_MS + 300_000) / 1000, tz=UTC).isoformat()
    assert run.outcome == CompleteWorkflow(None, {"slept": 300_000, "at": expected_at})


@workflow("signals", registry=reg)
async def signals(ctx: WorkflowContext) -> dict[str, Any]:
    await ctx.call("svc", {}, command_type="t.Cmd")
    first = await ctx.wait_signal("approve", payload=Approval)
    second = await ctx.wait_signal("approve")
    return {"first": first.approver, "second": second}


def test_signals_arriving_before_anyone_waits_are_buffered_in_order(env: WorkflowEnvironment) -> None:
    run = _started(env, "signals")
    run.new_commands()
    run.signal("approve", Approval(approver="ann"))
    assert run.new_commands() == []
    run.signal("approve", {"approver": "bob"}, payload_schema=Approval.avro_schema_name)
    assert run.new_commands() == []
    assert run.instance.snapshot()["signal_buffer"] == {"approve": [{"approver": "ann"}, {"approver": "bob"}]}
    run.complete_step(0)
    assert run.outcome == CompleteWorkflow(None, {"first": "ann", "second": {"approver": "bob"}})


@workflow("signal-timeout", registry=reg)
async def signal_timeout(ctx: WorkflowContext) -> dict[str, Any]:
    try:
        got = await ctx.wait_signal("approve", timeout=timedelta(hours=1), payload=Approval)
    except WorkflowTimeoutError as exc:
        return {"timed_out": exc.signal_name, "after_s": exc.timeout.total_seconds()}
    return {"approver": got.approver}


def test_signal_wait_times_out_through_a_durable_timer(env: WorkflowEnvironment) -> None:
    run = _started(env, "signal-timeout")
    assert run.new_commands() == [StartTimer(0, START_MS + 3_600_000)]
    run.fire_timer(0)
    assert run.outcome == CompleteWorkflow(None, {"timed_out": "approve", "after_s": 3600.0})


def test_signal_before_timeout_cancels_the_timer(env: WorkflowEnvironment) -> None:
    run = _started(env, "signal-timeout")
    run.new_commands()
    run.signal("approve", Approval(approver="ann"))
    assert run.new_commands() == [CancelTimer(0), CompleteWorkflow(None, {"approver": "ann"})]
    assert run.open_timers() == {} and env.timer_keys() == []


def test_signal_and_timer_in_quick_succession_only_first_counts(env: WorkflowEnvironment) -> None:
    run = _started(env, "signal-timeout")
    fire_at = run.open_timers()[0]
    env.advance_to(fire_at - 1)
    run.signal("approve", Approval(approver="ann"))  # a millisecond before the timeout
    env.advance_to(fire_at)
    assert run.outcome == CompleteWorkflow(None, {"approver": "ann"})
    assert EventKind.TIMER_FIRED not in run.kinds()
    # Had the engine still delivered the timer, the finished instance would change nothing.
    late = HistoryEvent(len(run.history()), EventKind.TIMER_FIRED, fire_at, {"cmd_seq": 0})
    assert run.instance.activate([late], fire_at, replaying=False) == []
    assert run.instance.result == CompleteWorkflow(None, {"approver": "ann"})


@workflow("child-flow", registry=reg)
async def child_flow(ctx: WorkflowContext, order: Order) -> Reserved:
    return await ctx.call("inventory", Reserve(order_id=order.order_id), result=Reserved)


@workflow("reserve-then-charge", registry=reg)
async def reserve_then_charge(ctx: WorkflowContext, order: Order) -> None:
    async with ctx.saga() as saga:
        stock = await ctx.call("inventory", Reserve(order_id=order.order_id), result=Reserved)
        saga.add_compensation("inventory", Release(reservation_id=stock.reservation_id))
        await ctx.call("payments", Charge(order_id=order.order_id, amount=order.amount))


@workflow("parent", registry=reg)
async def parent(ctx: WorkflowContext, order: Order) -> dict[str, Any]:
    first = await ctx.child("child-flow", order, result=Reserved)
    try:
        await ctx.child(reserve_then_charge, Order(order_id="o2"), id="fixed-id")
    except ChildWorkflowFailedError as exc:
        return {"first": first.reservation_id, "failed": [exc.child_id, exc.status, exc.error and exc.error.error_type]}
    return {}


def test_child_workflows_start_with_deterministic_ids_and_report_outcomes(env: WorkflowEnvironment) -> None:
    run = env.start("parent", Order(order_id="o1"), id="p-1")
    [start] = run.new_commands()
    assert start == StartChild(0, "child-flow", "p-1/child-0", "test.workflow.Order", {"order_id": "o1", "amount": 1})
    env.settle()  # the child's start record comes back through the inbox
    env.run("p-1/child-0").complete_step(0, Reserved(reservation_id="r1"))
    env.settle()  # and so does its result
    [second] = run.new_commands()
    assert isinstance(second, StartChild) and second.child_id == "fixed-id"
    assert second.workflow_type == "reserve-then-charge"  # a definition names its own type
    env.settle()
    child = env.run("fixed-id")
    child.complete_step(0, Reserved(reservation_id="r2"))
    child.fail_step(1, "Declined")
    child.complete_step(2)  # the release: the child ends compensated
    env.settle()
    assert child.status == WorkflowStatus.COMPENSATED
    assert run.outcome == CompleteWorkflow(None, {"first": "r1", "failed": ["fixed-id", "compensated", "StepFailed"]})


@workflow("side-effects", registry=reg)
async def side_effects(ctx: WorkflowContext) -> dict[str, Any]:
    values = {
        "r": ctx.random(),
        "u": str(ctx.uuid()),
        "now": ctx.now_ms(),
        "trace": ctx.info.trace_context,
        "started": ctx.info.start_time_ms,
    }
    ctx.set_query_handler("values", lambda: values)
    ctx.set_query_handler("echo", lambda *args: list(args))
    ctx.set_query_handler("model", lambda: Approval(approver="q"))
    await ctx.wait_signal("done")
    return values


def test_side_effects_are_recorded_and_queries_read_state(env: WorkflowEnvironment) -> None:
    run = env.start("side-effects", {}, input_schema="t.Empty", trace_context={"traceparent": "00-abc-def-01"})
    cmds = run.new_commands()
    assert [c.what for c in cmds] == ["random", "uuid"]  # type: ignore[union-attr]
    values = run.instance.query("values", [])
    assert isinstance(values, dict)
    assert 0.0 <= values["r"] < 1.0 and uuid.UUID(values["u"])
    assert cmds == [RecordSideEffect(0, "random", values["r"]), RecordSideEffect(1, "uuid", values["u"])]
    assert values["now"] == values["started"] == START_MS
    assert values["trace"] == {"traceparent": "00-abc-def-01"}
    assert run.query("values") == values  # the same answer through the inbox, as a client asks
    assert run.instance.query("echo", [1, "a"]) == [1, "a"]
    assert run.instance.query("model", []) == {"approver": "q"}
    with pytest.raises(QueryNotFoundError) as err:
        run.instance.query("nope", [])
    assert err.value.name == "nope" and err.value.known == ("echo", "model", "values")


@workflow("query-writes", registry=reg)
async def query_writes(ctx: WorkflowContext) -> None:
    ctx.set_query_handler("bad", lambda: ctx.call("svc", {}, command_type="t.X"))
    ctx.set_query_handler("bad_random", ctx.random)
    await ctx.wait_signal("never")


def test_query_handlers_cannot_issue_commands(env: WorkflowEnvironment) -> None:
    run = _started(env, "query-writes")
    for name in ("bad", "bad_random"):
        with pytest.raises(WorkflowAuthoringError):
            run.instance.query(name, [])
    assert run.instance.snapshot()["next_seq"] == 0
    assert run.workflow_commands() == []


@workflow("bad-result", registry=reg)
async def bad_result(ctx: WorkflowContext) -> int:
    return 42


@workflow("no-schema", registry=reg)
async def no_schema(ctx: WorkflowContext) -> None:
    await ctx.call("svc", {"plain": "dict"})


def test_authoring_mistakes_fail_the_run_with_a_named_error(env: WorkflowEnvironment) -> None:
    outcome = _started(env, "bad-result").outcome
    assert isinstance(outcome, FailWorkflow) and outcome.error.error_type == "InvalidWorkflowResult"
    outcome = _started(env, "no-schema").outcome
    assert isinstance(outcome, FailWorkflow) and outcome.error.error_type == "WorkflowAuthoringError"


def test_invalid_input_fails_the_run(env: WorkflowEnvironment) -> None:
    outcome = env.start("typed", {"wrong": "shape"}, input_schema="t.Wrong").outcome
    assert isinstance(outcome, FailWorkflow) and outcome.status == "failed"
    assert outcome.error.error_type == "ValidationError"


@workflow("background", registry=reg)
async def background(ctx: WorkflowContext) -> dict[str, Any]:
    async def forever() -> None:
        await ctx.call("svc", {}, command_type="t.First")
        await ctx.call("svc", {}, command_type="t.AfterFinish")

    task = asyncio.create_task(forever())
    ctx.set_query_handler("task", lambda: task.done())
    await ctx.sleep(10)
    return {}


def test_background_tasks_outliving_the_workflow_record_nothing_more(env: WorkflowEnvironment) -> None:
    run = _started(env, "background")
    assert [type(c).__name__ for c in run.new_commands()] == ["StartTimer", "ScheduleStep"]
    run.fire_timer(0)
    assert run.new_commands() == [CompleteWorkflow(None, {})]
    run.complete_step(1)
    assert run.new_commands() == []


@workflow("asyncio-cancel", registry=reg)
async def asyncio_cancel(ctx: WorkflowContext) -> dict[str, Any]:
    nap = asyncio.ensure_future(ctx.sleep(timedelta(hours=1)))
    go: asyncio.Future[Any] = ctx.wait_signal("go")
    await asyncio.wait([nap, go], return_when=asyncio.FIRST_COMPLETED)
    nap.cancel()
    await asyncio.sleep(0)
    return {"ok": True}


def test_asyncio_cancelling_a_sleep_cancels_its_durable_timer(env: WorkflowEnvironment) -> None:
    run = _started(env, "asyncio-cancel")
    run.new_commands()
    run.signal("go")
    assert run.new_commands() == [CancelTimer(0), CompleteWorkflow(None, {"ok": True})]
    assert env.timer_keys() == []
    inst, cmds = run.replay()
    assert cmds == [] and inst.result == run.outcome
