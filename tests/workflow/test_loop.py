"""The deterministic loop: plain asyncio works, real time does not, the caller's loop survives."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.errors import WorkflowAuthoringError
from orchestrator.workflow import WorkflowContext, WorkflowRegistry, workflow
from orchestrator.workflow.activation import CompleteWorkflow, FailWorkflow
from tests.workflow.models import environment

reg = WorkflowRegistry()


@workflow("asyncio-primitives", registry=reg)
async def asyncio_primitives(ctx: WorkflowContext, inp: dict[str, Any]) -> dict[str, Any]:
    order: list[str] = []
    event = asyncio.Event()
    queue: asyncio.Queue[int] = asyncio.Queue()

    async def producer() -> None:
        order.append("producer")
        for i in range(3):
            await queue.put(i)
            await asyncio.sleep(0)  # a plain yield is fine: no timer involved
        event.set()

    async def consumer() -> int:
        await event.wait()
        total = 0
        while not queue.empty():
            total += await queue.get()
        order.append("consumer")
        return total

    task = asyncio.create_task(consumer())
    await asyncio.ensure_future(producer())
    total = await task
    step = ctx.call("svc", {"n": total}, command_type="t.Cmd")
    done, pending = await asyncio.wait([step], return_when=asyncio.FIRST_COMPLETED)
    assert not pending
    lock = asyncio.Lock()
    async with lock:
        loop = asyncio.get_running_loop()
        order.append(f"time={loop.time()}")
    return {"total": total, "order": order, "reply": done.pop().result(), "task": asyncio.current_task() is not None}


def test_plain_asyncio_works_deterministically() -> None:
    with environment(reg) as env:
        run = env.start("asyncio-primitives", {}, input_schema="t.Empty")
        assert [c.payload for c in run.new_commands()] == [{"n": 3}]  # type: ignore[union-attr]
        env.advance(2500)
        run.complete_step(0, {"ok": 1}, result_schema="t.Ok")
        [outcome] = run.new_commands()
        assert isinstance(outcome, CompleteWorkflow) and outcome.result == {
            "total": 3,
            "order": ["producer", "consumer", f"time={env.now_ms / 1000.0}"],
            "reply": {"ok": 1},
            "task": True,
        }
        inst, cmds = run.replay()
        assert cmds == [] and inst.result == outcome


@pytest.mark.parametrize("how", ["sleep", "wait_for", "timeout", "call_later", "executor"])
def test_real_time_and_threads_are_refused_with_a_clear_error(how: str) -> None:
    r = WorkflowRegistry()

    @workflow(f"real-time-{how}", registry=r)
    async def real_time(ctx: WorkflowContext) -> None:
        loop = asyncio.get_running_loop()
        if how == "sleep":
            await asyncio.sleep(1)
        elif how == "wait_for":
            await asyncio.wait_for(ctx.sleep(5), timeout=1)
        elif how == "timeout":
            async with asyncio.timeout(1):
                await ctx.sleep(5)
        elif how == "call_later":
            loop.call_later(1, print)
        else:
            await loop.run_in_executor(None, print)

    with environment(r) as env:
        outcome = env.start(f"real-time-{how}", {}, input_schema="t.Empty").outcome
    assert isinstance(outcome, FailWorkflow) and outcome.status == "failed"
    assert outcome.error.error_type == WorkflowAuthoringError.__name__
    assert "ctx.sleep" in outcome.error.message


def test_activation_inside_a_running_loop_restores_it() -> None:
    async def caller() -> None:
        real = asyncio.get_running_loop()
        with environment(reg) as env:
            run = env.start("asyncio-primitives", {}, input_schema="t.Empty")
            assert asyncio.get_running_loop() is real
            run.complete_step(0, {"ok": 1}, result_schema="t.Ok")
            assert asyncio.get_running_loop() is real
            await asyncio.sleep(0)  # the caller's loop still works
            assert run.status.finished

    asyncio.run(caller())
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()  # and nothing leaks outside


def test_contextvars_of_the_engine_do_not_leak_into_workflow_code() -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("engine_var", default="unset")
    r = WorkflowRegistry()

    @workflow("ctxvars", registry=r)
    async def reads_var(ctx: WorkflowContext) -> dict[str, str]:
        return {"seen": var.get()}

    token = var.set("engine-value")
    try:
        with environment(r) as env:
            [outcome] = env.start("ctxvars", {}, input_schema="t.Empty").new_commands()
    finally:
        var.reset(token)
    assert isinstance(outcome, CompleteWorkflow) and outcome.result == {"seen": "unset"}
