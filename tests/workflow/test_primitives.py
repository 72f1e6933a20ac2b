"""Every primitive, driven live through the in-memory engine stand-in."""

from __future__ import annotations

import asyncio
import uuid
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
from orchestrator.workflow import RetryPolicy, WorkflowContext, WorkflowRegistry, workflow
from orchestrator.workflow.activation import (
    CancelTimer,
    CompleteWorkflow,
    FailWorkflow,
    RecordSideEffect,
    ScheduleStep,
    StartChild,
    StartTimer,
)
from tests.workflow.driver import START_MS, Driver
from tests.workflow.models import Approval, Charge, Charged, Done, Order, Reserve, Reserved

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


def test_call_sends_the_model_and_decodes_the_result() -> None:
    d = Driver(typed)
    [cmd] = d.start(Order(order_id="o1").to_avro(), input_schema=Order.avro_schema_name)
    assert cmd == ScheduleStep(
        0, "inventory", "test.workflow.Reserve", {"order_id": "o1"}, POLICY, 30_000, 3_600_000, False
    )
    [done] = d.complete(0, Reserved(reservation_id="r9").to_avro(), Reserved.avro_schema_name)
    assert done == CompleteWorkflow("test.workflow.Done", {"summary": "o1:r9"})
    assert d.instance.finished and d.instance.result == done


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


def test_final_step_failure_raises_step_failed_with_details() -> None:
    d = Driver(catches_step_failure)
    d.start()
    d.fail(0, "Declined", "card refused", attempt=2)
    assert d.outcome == CompleteWorkflow(
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


def test_uncaught_exception_fails_the_workflow() -> None:
    d = Driver(uncaught)
    d.start()
    d.fail(0, "Declined")
    assert isinstance(d.outcome, FailWorkflow) and d.outcome.status == "failed"
    assert d.outcome.error.error_type == "StepFailed" and "Declined" in d.outcome.error.message


@workflow("parallel", registry=reg)
async def parallel(ctx: WorkflowContext) -> dict[str, Any]:
    a, b, c = await asyncio.gather(
        ctx.call("a", {"i": 1}, command_type="t.A"),
        ctx.call("b", {"i": 2}, command_type="t.B"),
        ctx.call("c", {"i": 3}, command_type="t.C"),
    )
    return {"a": a, "b": b, "c": c}


def test_gather_schedules_all_steps_at_once_in_argument_order() -> None:
    d = Driver(parallel)
    cmds = d.start()
    assert [(c.cmd_seq, c.service) for c in cmds] == [(0, "a"), (1, "b"), (2, "c")]  # type: ignore[union-attr]
    assert d.complete(2, {"v": "c"}) == [] and d.complete(0, {"v": "a"}) == []
    d.complete(1, {"v": "b"})
    assert d.outcome == CompleteWorkflow(None, {"a": {"v": "a"}, "b": {"v": "b"}, "c": {"v": "c"}})


@workflow("sleeper", registry=reg)
async def sleeper(ctx: WorkflowContext) -> dict[str, Any]:
    before = ctx.now_ms()
    await ctx.sleep(timedelta(minutes=5))
    await ctx.sleep(0)  # no timer for a zero sleep
    return {"slept": ctx.now_ms() - before, "at": ctx.now().isoformat()}


def test_sleep_is_a_durable_timer_and_time_comes_from_history() -> None:
    d = Driver(sleeper)
    assert d.start() == [StartTimer(0, START_MS + 300_000)]
    d.fire(0)
    expected_at = datetime.fromtimestamp((START_MS + 300_000) / 1000, tz=UTC).isoformat()
    assert d.outcome == CompleteWorkflow(None, {"slept": 300_000, "at": expected_at})


@workflow("signals", registry=reg)
async def signals(ctx: WorkflowContext) -> dict[str, Any]:
    await ctx.call("svc", {}, command_type="t.Cmd")
    first = await ctx.wait_signal("approve", payload=Approval)
    second = await ctx.wait_signal("approve")
    return {"first": first.approver, "second": second}


def test_signals_arriving_before_anyone_waits_are_buffered_in_order() -> None:
    d = Driver(signals)
    d.start()
    assert d.signal("approve", {"approver": "ann"}) == []
    assert d.signal("approve", {"approver": "bob"}) == []
    assert d.instance.snapshot()["signal_buffer"] == {"approve": [{"approver": "ann"}, {"approver": "bob"}]}
    d.complete(0, {})
    assert d.outcome == CompleteWorkflow(None, {"first": "ann", "second": {"approver": "bob"}})


@workflow("signal-timeout", registry=reg)
async def signal_timeout(ctx: WorkflowContext) -> dict[str, Any]:
    try:
        got = await ctx.wait_signal("approve", timeout=timedelta(hours=1), payload=Approval)
    except WorkflowTimeoutError as exc:
        return {"timed_out": exc.signal_name, "after_s": exc.timeout.total_seconds()}
    return {"approver": got.approver}


def test_signal_wait_times_out_through_a_durable_timer() -> None:
    d = Driver(signal_timeout)
    assert d.start() == [StartTimer(0, START_MS + 3_600_000)]
    d.fire(0)
    assert d.outcome == CompleteWorkflow(None, {"timed_out": "approve", "after_s": 3600.0})


def test_signal_before_timeout_cancels_the_timer() -> None:
    d = Driver(signal_timeout)
    d.start()
    assert d.signal("approve", {"approver": "ann"}) == [CancelTimer(0), CompleteWorkflow(None, {"approver": "ann"})]
    assert d.timers == {}


def test_signal_and_timer_in_quick_succession_only_first_counts() -> None:
    d = Driver(signal_timeout)
    d.start()
    fire_at = d.timers[0]
    d.signal("approve", {"approver": "ann"})  # engine may still have the timer due at the same time
    d.timers[0] = fire_at
    assert d.fire(0) == []  # the workflow already finished; late timer changes nothing
    assert d.outcome == CompleteWorkflow(None, {"approver": "ann"})


@workflow("parent", registry=reg)
async def parent(ctx: WorkflowContext, order: Order) -> dict[str, Any]:
    first = await ctx.child("child-flow", order, result=Reserved)
    try:
        await ctx.child(typed, Order(order_id="o2"), id="fixed-id")
    except ChildWorkflowFailedError as exc:
        return {"first": first.reservation_id, "failed": [exc.child_id, exc.status, exc.error and exc.error.error_type]}
    return {}


def test_child_workflows_start_with_deterministic_ids_and_report_outcomes() -> None:
    d = Driver(parent, workflow_id="p-1")
    [start] = d.start(Order(order_id="o1").to_avro())
    assert start == StartChild(0, "child-flow", "p-1/child-0", "test.workflow.Order", {"order_id": "o1", "amount": 1})
    [second] = d.finish_child(0, "completed", {"reservation_id": "r1"})
    assert isinstance(second, StartChild) and second.child_id == "fixed-id" and second.workflow_type == "typed"
    d.finish_child(1, "compensated", error={"error_type": "StepFailed", "message": "x", "retryable": False})
    assert d.outcome == CompleteWorkflow(None, {"first": "r1", "failed": ["fixed-id", "compensated", "StepFailed"]})


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


def test_side_effects_are_recorded_and_queries_read_state() -> None:
    d = Driver(side_effects)
    cmds = d.start(trace_context={"traceparent": "00-abc-def-01"})
    assert [c.what for c in cmds] == ["random", "uuid"]  # type: ignore[union-attr]
    values = d.instance.query("values", [])
    assert isinstance(values, dict)
    assert 0.0 <= values["r"] < 1.0 and uuid.UUID(values["u"])
    assert cmds == [RecordSideEffect(0, "random", values["r"]), RecordSideEffect(1, "uuid", values["u"])]
    assert values["now"] == values["started"] == START_MS
    assert values["trace"] == {"traceparent": "00-abc-def-01"}
    assert d.instance.query("echo", [1, "a"]) == [1, "a"]
    assert d.instance.query("model", []) == {"approver": "q"}
    with pytest.raises(QueryNotFoundError) as err:
        d.instance.query("nope", [])
    assert err.value.name == "nope" and err.value.known == ("echo", "model", "values")


@workflow("query-writes", registry=reg)
async def query_writes(ctx: WorkflowContext) -> None:
    ctx.set_query_handler("bad", lambda: ctx.call("svc", {}, command_type="t.X"))
    ctx.set_query_handler("bad_random", ctx.random)
    await ctx.wait_signal("never")


def test_query_handlers_cannot_issue_commands() -> None:
    d = Driver(query_writes)
    d.start()
    for name in ("bad", "bad_random"):
        with pytest.raises(WorkflowAuthoringError):
            d.instance.query(name, [])
    assert d.instance.snapshot()["next_seq"] == 0


@workflow("bad-result", registry=reg)
async def bad_result(ctx: WorkflowContext) -> int:
    return 42


@workflow("no-schema", registry=reg)
async def no_schema(ctx: WorkflowContext) -> None:
    await ctx.call("svc", {"plain": "dict"})


def test_authoring_mistakes_fail_the_run_with_a_named_error() -> None:
    d = Driver(bad_result)
    d.start()
    assert isinstance(d.outcome, FailWorkflow) and d.outcome.error.error_type == "InvalidWorkflowResult"
    d = Driver(no_schema)
    d.start()
    assert isinstance(d.outcome, FailWorkflow) and d.outcome.error.error_type == "WorkflowAuthoringError"


def test_invalid_input_fails_the_run() -> None:
    d = Driver(typed)
    d.start({"wrong": "shape"})
    assert isinstance(d.outcome, FailWorkflow) and d.outcome.status == "failed"
    assert d.outcome.error.error_type == "ValidationError"


@workflow("background", registry=reg)
async def background(ctx: WorkflowContext) -> dict[str, Any]:
    async def forever() -> None:
        await ctx.call("svc", {}, command_type="t.First")
        await ctx.call("svc", {}, command_type="t.AfterFinish")

    task = asyncio.create_task(forever())
    ctx.set_query_handler("task", lambda: task.done())
    await ctx.sleep(10)
    return {}


def test_background_tasks_outliving_the_workflow_record_nothing_more() -> None:
    d = Driver(background)
    assert [type(c).__name__ for c in d.start()] == ["StartTimer", "ScheduleStep"]
    assert d.fire(0) == [CompleteWorkflow(None, {})]
    assert d.complete(1, {}) == []


@workflow("asyncio-cancel", registry=reg)
async def asyncio_cancel(ctx: WorkflowContext) -> dict[str, Any]:
    nap = asyncio.ensure_future(ctx.sleep(timedelta(hours=1)))
    go: asyncio.Future[Any] = ctx.wait_signal("go")
    await asyncio.wait([nap, go], return_when=asyncio.FIRST_COMPLETED)
    nap.cancel()
    await asyncio.sleep(0)
    return {"ok": True}


def test_asyncio_cancelling_a_sleep_cancels_its_durable_timer() -> None:
    d = Driver(asyncio_cancel)
    d.start()
    assert d.signal("go") == [CancelTimer(0), CompleteWorkflow(None, {"ok": True})]
    inst, cmds = d.replay()
    assert cmds == [] and inst.result == d.outcome
