"""Replay: rebuilt instances reach the live state, emit nothing, and catch code changes.

Histories are recorded by the real engine core (orchestrator.testing); code changes are
deployed mid-flight with ``env.restart(registry=...)``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from orchestrator.errors import NonDeterminismError
from orchestrator.testing import WorkflowEnvironment, WorkflowRun
from orchestrator.workflow import WorkflowContext, WorkflowDefinition, WorkflowInstance, WorkflowRegistry, workflow
from orchestrator.workflow.activation import CompleteWorkflow, RecordPatch, ScheduleStep, StartTimer
from tests.workflow.models import Charged, Order, Reserved, environment
from tests.workflow.test_saga import reg as saga_registry

reg = WorkflowRegistry()


def _cmd(service: str) -> dict[str, Any]:
    return {"service": service}


def _variant(name: str, body: Any) -> WorkflowDefinition:
    return workflow(name, registry=WorkflowRegistry())(body)


def _registry(definition: WorkflowDefinition) -> WorkflowRegistry:
    registry = WorkflowRegistry()
    registry.register(definition)
    return registry


def _start(env: WorkflowEnvironment, workflow_type: str = "v") -> WorkflowRun:
    return env.start(workflow_type, {}, input_schema="t.Empty", id="wf-1")


def test_replay_of_every_prefix_emits_nothing_and_matches_live_state() -> None:
    with environment(saga_registry) as env:
        run = env.start("order-saga", Order(order_id="o1"), id="wf-1")
        actions: list[Callable[[], object]] = [
            lambda: None,  # the start itself
            lambda: run.complete_step(0, Reserved(reservation_id="r1")),
            lambda: run.complete_step(1, Charged(payment_id="p1")),
            lambda: run.fire_timer(2),
            lambda: run.fail_step(3, "NoCarrier"),
            lambda: run.complete_step(4),
            lambda: run.complete_step(5),
        ]
        for act in actions:
            act()
            inst, cmds = run.replay()
            assert cmds == []
            assert inst.snapshot() == run.instance.snapshot()
        assert run.instance.finished and inst.result == run.outcome


def test_rebuild_with_a_new_event_at_the_tail_returns_only_the_new_commands() -> None:
    with environment(saga_registry) as env:
        run = env.start("order-saga", Order(order_id="o1"))
        run.complete_step(0, Reserved(reservation_id="r1"))
        run.new_commands()
        cached = run.instance
        env.evict(run.id)  # the engine appends the next reply to history, finds no cached instance,
        run.complete_step(1, Charged(payment_id="p"))  # and rebuilds it from everything
        assert run.instance is not cached
        assert run.new_commands() == [StartTimer(2, env.now_ms + 60_000)]


@workflow("stable-values", registry=reg)
async def stable_values(ctx: WorkflowContext) -> dict[str, Any]:
    seen: list[Any] = [ctx.now_ms(), ctx.random(), str(ctx.uuid())]
    ctx.set_query_handler("seen", lambda: list(seen))
    await ctx.sleep(timedelta(seconds=30))
    seen += [ctx.now_ms(), ctx.random(), str(ctx.uuid()), ctx.now().isoformat()]
    await ctx.wait_signal("end")
    return {"seen": seen}


def test_now_random_uuid_are_stable_under_replay() -> None:
    with environment(reg) as env:
        run = _start(env, "stable-values")
        run.fire_timer(2)  # cmd 0 and 1 are the side effects
        live = run.instance.query("seen", [])
        for _ in range(3):
            inst, cmds = run.replay()
            assert cmds == [] and inst.query("seen", []) == live
        env.restart()  # a new engine rebuilds the run by replay to answer
        assert run.query("seen") == live
        env.advance(5000)
        run.signal("end")
        inst, _ = run.replay()
        outcome = run.outcome
        assert inst.result == outcome and isinstance(outcome, CompleteWorkflow) and outcome.result == {"seen": live}


async def _old(ctx: WorkflowContext) -> None:
    await ctx.call("inventory", _cmd("inventory"), command_type="t.Reserve")
    await ctx.call("payments", _cmd("payments"), command_type="t.Charge")
    await ctx.sleep(60)


def _old_history(env: WorkflowEnvironment) -> WorkflowRun:
    run = _start(env)
    run.complete_step(0)
    run.complete_step(1)
    return run


def _old_env() -> WorkflowEnvironment:
    return environment(_registry(_variant("v", _old)))


def test_different_service_is_non_deterministic() -> None:
    async def new(ctx: WorkflowContext) -> None:
        await ctx.call("billing", _cmd("billing"), command_type="t.Reserve")

    with _old_env() as env, pytest.raises(NonDeterminismError) as err:
        _old_history(env).replay(_variant("v", new))
    assert err.value.workflow_id == "wf-1" and err.value.cmd_seq == 0
    assert "inventory" in (err.value.expected or "") and "billing" in (err.value.got or "")


def test_different_order_is_non_deterministic() -> None:
    async def new(ctx: WorkflowContext) -> None:
        await ctx.call("payments", _cmd("payments"), command_type="t.Charge")
        await ctx.call("inventory", _cmd("inventory"), command_type="t.Reserve")

    with _old_env() as env, pytest.raises(NonDeterminismError) as err:
        _old_history(env).replay(_variant("v", new))
    assert err.value.cmd_seq == 0


def test_fewer_steps_is_non_deterministic() -> None:
    async def new(ctx: WorkflowContext) -> None:
        await ctx.call("inventory", _cmd("inventory"), command_type="t.Reserve")
        await ctx.sleep(60)

    with _old_env() as env, pytest.raises(NonDeterminismError) as err:
        _old_history(env).replay(_variant("v", new))
    assert err.value.cmd_seq == 1 and "payments" in (err.value.expected or "")


def test_a_recorded_step_the_code_no_longer_issues_is_detected() -> None:
    async def old(ctx: WorkflowContext) -> None:
        await asyncio.gather(ctx.call("a", {}, command_type="t.A"), ctx.call("b", {}, command_type="t.B"))

    async def new(ctx: WorkflowContext) -> None:
        await ctx.call("a", {}, command_type="t.A")

    with environment(_registry(_variant("v", old))) as env:
        run = _start(env)
        run.complete_step(0)
        run.complete_step(1)
        with pytest.raises(NonDeterminismError) as err:
            run.replay(_variant("v", new))
    assert err.value.cmd_seq == 1 and err.value.got is None


def test_extra_step_where_history_continues_is_detected() -> None:
    async def new(ctx: WorkflowContext) -> None:
        await ctx.call("inventory", _cmd("inventory"), command_type="t.Reserve")
        await ctx.call("audit", {}, command_type="t.Audit")
        await ctx.call("payments", _cmd("payments"), command_type="t.Charge")

    with _old_env() as env, pytest.raises(NonDeterminismError) as err:
        _old_history(env).replay(_variant("v", new))
    assert err.value.cmd_seq == 1 and "audit" in (err.value.got or "")


def test_sequential_instead_of_parallel_is_detected() -> None:
    async def old(ctx: WorkflowContext) -> None:
        await asyncio.gather(ctx.call("a", {}, command_type="t.A"), ctx.call("b", {}, command_type="t.B"))

    async def new(ctx: WorkflowContext) -> None:
        await ctx.call("a", {}, command_type="t.A")
        await ctx.call("b", {}, command_type="t.B")

    with environment(_registry(_variant("v", old))) as env:
        run = _start(env)
        run.complete_step(0)
        with pytest.raises(NonDeterminismError) as err:
            run.replay(_variant("v", new))
    assert err.value.cmd_seq == 1


def test_extra_command_after_the_recorded_outcome_is_detected() -> None:
    async def old(ctx: WorkflowContext) -> None:
        await ctx.call("a", {}, command_type="t.A")

    async def new(ctx: WorkflowContext) -> None:
        await ctx.call("a", {}, command_type="t.A")
        await ctx.call("b", {}, command_type="t.B")

    with environment(_registry(_variant("v", old))) as env:
        run = _start(env)
        run.complete_step(0)
        with pytest.raises(NonDeterminismError) as err:
            run.replay(_variant("v", new))
    assert err.value.cmd_seq == 1 and err.value.expected == "completed"


def test_non_determinism_cannot_be_swallowed_by_workflow_code_and_sticks() -> None:
    async def sneaky(ctx: WorkflowContext) -> dict[str, Any]:
        with contextlib.suppress(Exception):
            await ctx.call("billing", {}, command_type="t.Reserve")
        return {"swallowed": True}

    with _old_env() as env:
        run = _old_history(env)
        inst = WorkflowInstance(_variant("v", sneaky), run.id)
        with pytest.raises(NonDeterminismError):
            inst.activate(run.history(), env.now_ms, replaying=True)
        assert not inst.finished and inst.result is None
        with pytest.raises(NonDeterminismError):
            inst.activate([], env.now_ms, replaying=False)


# --- versioning with ctx.patched -------------------------------------------------------------


async def _v1(ctx: WorkflowContext) -> dict[str, Any]:
    await ctx.call("a", {}, command_type="t.A")
    await ctx.wait_signal("go")
    await ctx.call("c", {}, command_type="t.C")
    return {"v": 1}


async def _v2(ctx: WorkflowContext) -> dict[str, Any]:
    await ctx.call("a", {}, command_type="t.A")
    if ctx.patched("extra-check"):
        await ctx.call("check", {}, command_type="t.Check")
    await ctx.wait_signal("go")
    late = ctx.patched("late-patch")
    again = ctx.patched("extra-check")
    await ctx.call("c", {}, command_type="t.C")
    return {"v": 2, "late": late, "again": again}


def test_patched_is_false_when_replaying_history_from_before_the_patch() -> None:
    v2 = _variant("v", _v2)
    with environment(_registry(_variant("v", _v1))) as env:
        run = _start(env)
        run.complete_step(0)
        run.signal("go")  # v1 now waits for step c (cmd 1)
        _inst, cmds = run.replay(v2)
        assert cmds == []  # v2 follows the old path: no check step, no markers re-emitted
        run.new_commands()
        env.restart(registry=_registry(v2))  # deploy v2 while the run is in flight
        run.complete_step(1)
        [end] = run.new_commands()
    assert end == CompleteWorkflow(None, {"v": 2, "late": False, "again": False})


def test_patched_reached_first_at_the_live_edge_takes_the_new_path() -> None:
    v2 = _variant("v", _v2)
    with environment(_registry(_variant("v", _v1))) as env:
        run = _start(env)
        run.complete_step(0)  # v1 issued nothing after this event, so the code after it is not history yet
        _inst, cmds = run.replay(v2)
        assert cmds[0] == RecordPatch(1, "extra-check", True)
        assert isinstance(cmds[1], ScheduleStep) and cmds[1].service == "check"
        run.new_commands()
        env.restart(registry=_registry(v2))  # deploy v2: the next input rebuilds the run with it
        run.signal("go")
        cmds = run.new_commands()
        assert cmds[0] == RecordPatch(1, "extra-check", True)
        assert isinstance(cmds[1], ScheduleStep) and cmds[1].service == "check"
        run.complete_step(2)  # the buffered "go" now resolves the wait
        cmds = run.new_commands()
        assert cmds[0] == RecordPatch(3, "late-patch", True)
        run.complete_step(4)
        assert run.outcome == CompleteWorkflow(None, {"v": 2, "late": True, "again": True})


def test_patched_is_true_for_new_runs_and_stays_true_on_replay() -> None:
    with environment(_registry(_variant("v", _v2))) as env:
        run = _start(env)
        run.new_commands()
        run.complete_step(0)
        assert run.new_commands()[0] == RecordPatch(1, "extra-check", True)
        run.complete_step(2)
        run.signal("go")
        run.complete_step(4)
        assert run.outcome == CompleteWorkflow(None, {"v": 2, "late": True, "again": True})
        inst, cmds = run.replay()
        assert cmds == [] and inst.result == run.outcome


def test_removing_a_patch_check_later_still_replays() -> None:
    async def v3(ctx: WorkflowContext) -> dict[str, Any]:  # the patch is everywhere now: check removed
        await ctx.call("a", {}, command_type="t.A")
        await ctx.call("check", {}, command_type="t.Check")
        await ctx.wait_signal("go")
        await ctx.call("c", {}, command_type="t.C")
        return {"v": 3}

    with environment(_registry(_variant("v", _v2))) as env:
        run = _start(env)
        run.complete_step(0)
        run.complete_step(2)
        inst, cmds = run.replay(_variant("v", v3))
        assert cmds == [] and inst.snapshot()["signal_waiters"] == {"go": 1}


@workflow("many-values", registry=reg)
async def many_values(ctx: WorkflowContext) -> None:
    for _ in range(MANY):
        ctx.uuid()
    await ctx.wait_signal("end")


MANY = 300


def test_a_replayed_run_keeps_none_of_the_history_it_replayed() -> None:
    """A run cached after its replay may wait for months: what it holds must not grow with the
    history it was rebuilt from (each recorded command is dropped once re-issued)."""
    with environment(reg) as env:
        run = env.start("many-values", {}, input_schema="t.Empty", id="wf-1")
        definition = reg.get("many-values")
        gc.collect()
        tracemalloc.start()
        try:
            history = run.history()  # MANY side effects, each an event with its data and payload
            recorded, _ = tracemalloc.get_traced_memory()
            instance = WorkflowInstance(definition, run.id)
            assert instance.activate(history, env.now_ms, replaying=True) == []
            assert instance.awaited_signals() == ("end",)
            del history
            gc.collect()
            with_instance, _ = tracemalloc.get_traced_memory()
            del instance
            gc.collect()
            without, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert with_instance - without < recorded / 8, (with_instance - without, recorded)
