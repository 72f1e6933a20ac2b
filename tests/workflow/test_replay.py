"""Replay: rebuilt instances reach the live state, emit nothing, and catch code changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from orchestrator.errors import NonDeterminismError
from orchestrator.workflow import WorkflowContext, WorkflowDefinition, WorkflowInstance, WorkflowRegistry, workflow
from orchestrator.workflow.activation import CompleteWorkflow, EventKind, RecordPatch, ScheduleStep, StartTimer
from tests.workflow.driver import Driver
from tests.workflow.models import Order
from tests.workflow.test_saga import order_saga

reg = WorkflowRegistry()


def _cmd(service: str) -> dict[str, Any]:
    return {"service": service}


def test_replay_of_every_prefix_emits_nothing_and_matches_live_state() -> None:
    d = Driver(order_saga)
    actions: list[Callable[[], object]] = [
        lambda: d.start(Order(order_id="o1").to_avro()),
        lambda: d.complete(0, {"reservation_id": "r1"}),
        lambda: d.complete(1, {"payment_id": "p1"}),
        lambda: d.fire(2),
        lambda: d.fail(3, "NoCarrier"),
        lambda: d.complete(4, {}),
        lambda: d.complete(5, {}),
    ]
    for act in actions:
        act()
        inst, cmds = d.replay()
        assert cmds == []
        assert inst.snapshot() == d.instance.snapshot()
    assert d.instance.finished and inst.result == d.outcome


def test_rebuild_with_a_new_event_at_the_tail_returns_only_the_new_commands() -> None:
    d = Driver(order_saga)
    d.start(Order(order_id="o1").to_avro())
    d.complete(0, {"reservation_id": "r1"})
    # The engine appends a reply to history, finds no cached instance, rebuilds from everything.
    d.history.append(
        d.history[-1].__class__(
            len(d.history),
            EventKind.STEP_COMPLETED,
            d.now_ms,
            {"cmd_seq": 1, "result_schema": None, "result": {"payment_id": "p"}, "attempt": 1},
        )
    )
    _inst, cmds = d.replay()
    assert cmds == [StartTimer(2, d.now_ms + 60_000)]


@workflow("stable-values", registry=reg)
async def stable_values(ctx: WorkflowContext) -> dict[str, Any]:
    seen: list[Any] = [ctx.now_ms(), ctx.random(), str(ctx.uuid())]
    ctx.set_query_handler("seen", lambda: list(seen))
    await ctx.sleep(timedelta(seconds=30))
    seen += [ctx.now_ms(), ctx.random(), str(ctx.uuid()), ctx.now().isoformat()]
    await ctx.wait_signal("end")
    return {"seen": seen}


def test_now_random_uuid_are_stable_under_replay() -> None:
    d = Driver(stable_values)
    d.start()
    d.fire(2)  # cmd 0 and 1 are the side effects
    live = d.instance.query("seen", [])
    for _ in range(3):
        inst, cmds = d.replay()
        assert cmds == [] and inst.query("seen", []) == live
    d.tick(5000)
    d.signal("end")
    inst, _ = d.replay()
    assert inst.result == d.outcome and isinstance(d.outcome, CompleteWorkflow) and d.outcome.result == {"seen": live}


def _variant(name: str, body: Any) -> WorkflowDefinition:
    return workflow(name, registry=WorkflowRegistry())(body)


async def _old(ctx: WorkflowContext) -> None:
    await ctx.call("inventory", _cmd("inventory"), command_type="t.Reserve")
    await ctx.call("payments", _cmd("payments"), command_type="t.Charge")
    await ctx.sleep(60)


def _old_history() -> Driver:
    d = Driver(_variant("v", _old))
    d.start()
    d.complete(0, {})
    d.complete(1, {})
    return d


def test_different_service_is_non_deterministic() -> None:
    async def new(ctx: WorkflowContext) -> None:
        await ctx.call("billing", _cmd("billing"), command_type="t.Reserve")

    with pytest.raises(NonDeterminismError) as err:
        _old_history().replay(_variant("v", new))
    assert err.value.workflow_id == "wf-1" and err.value.cmd_seq == 0
    assert "inventory" in (err.value.expected or "") and "billing" in (err.value.got or "")


def test_different_order_is_non_deterministic() -> None:
    async def new(ctx: WorkflowContext) -> None:
        await ctx.call("payments", _cmd("payments"), command_type="t.Charge")
        await ctx.call("inventory", _cmd("inventory"), command_type="t.Reserve")

    with pytest.raises(NonDeterminismError) as err:
        _old_history().replay(_variant("v", new))
    assert err.value.cmd_seq == 0


def test_fewer_steps_is_non_deterministic() -> None:
    async def new(ctx: WorkflowContext) -> None:
        await ctx.call("inventory", _cmd("inventory"), command_type="t.Reserve")
        await ctx.sleep(60)

    with pytest.raises(NonDeterminismError) as err:
        _old_history().replay(_variant("v", new))
    assert err.value.cmd_seq == 1 and "payments" in (err.value.expected or "")


def test_a_recorded_step_the_code_no_longer_issues_is_detected() -> None:
    async def old(ctx: WorkflowContext) -> None:
        await asyncio.gather(ctx.call("a", {}, command_type="t.A"), ctx.call("b", {}, command_type="t.B"))

    async def new(ctx: WorkflowContext) -> None:
        await ctx.call("a", {}, command_type="t.A")

    d = Driver(_variant("v", old))
    d.start()
    d.complete(0, {})
    d.complete(1, {})
    with pytest.raises(NonDeterminismError) as err:
        d.replay(_variant("v", new))
    assert err.value.cmd_seq == 1 and err.value.got is None


def test_extra_step_where_history_continues_is_detected() -> None:
    async def new(ctx: WorkflowContext) -> None:
        await ctx.call("inventory", _cmd("inventory"), command_type="t.Reserve")
        await ctx.call("audit", {}, command_type="t.Audit")
        await ctx.call("payments", _cmd("payments"), command_type="t.Charge")

    with pytest.raises(NonDeterminismError) as err:
        _old_history().replay(_variant("v", new))
    assert err.value.cmd_seq == 1 and "audit" in (err.value.got or "")


def test_sequential_instead_of_parallel_is_detected() -> None:
    async def old(ctx: WorkflowContext) -> None:
        await asyncio.gather(ctx.call("a", {}, command_type="t.A"), ctx.call("b", {}, command_type="t.B"))

    async def new(ctx: WorkflowContext) -> None:
        await ctx.call("a", {}, command_type="t.A")
        await ctx.call("b", {}, command_type="t.B")

    d = Driver(_variant("v", old))
    d.start()
    d.complete(0, {})
    with pytest.raises(NonDeterminismError) as err:
        d.replay(_variant("v", new))
    assert err.value.cmd_seq == 1


def test_extra_command_after_the_recorded_outcome_is_detected() -> None:
    async def old(ctx: WorkflowContext) -> None:
        await ctx.call("a", {}, command_type="t.A")

    async def new(ctx: WorkflowContext) -> None:
        await ctx.call("a", {}, command_type="t.A")
        await ctx.call("b", {}, command_type="t.B")

    d = Driver(_variant("v", old))
    d.start()
    d.complete(0, {})
    with pytest.raises(NonDeterminismError) as err:
        d.replay(_variant("v", new))
    assert err.value.cmd_seq == 1 and err.value.expected == "completed"


def test_non_determinism_cannot_be_swallowed_by_workflow_code_and_sticks() -> None:
    async def sneaky(ctx: WorkflowContext) -> dict[str, Any]:
        with contextlib.suppress(Exception):
            await ctx.call("billing", {}, command_type="t.Reserve")
        return {"swallowed": True}

    d = _old_history()
    inst = WorkflowInstance(_variant("v", sneaky), d.workflow_id)
    with pytest.raises(NonDeterminismError):
        inst.activate(d.history, d.now_ms, replaying=True)
    assert not inst.finished and inst.result is None
    with pytest.raises(NonDeterminismError):
        inst.activate([], d.now_ms, replaying=False)


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
    d = Driver(_variant("v", _v1))
    d.start()
    d.complete(0, {})
    d.signal("go")  # v1 now waits for step c (cmd 1)
    inst, cmds = d.replay(_variant("v", _v2))
    assert cmds == []  # v2 follows the old path: no check step, no markers re-emitted
    d.instance = inst
    d.definition = _variant("v", _v2)
    [end] = d.complete(1, {})
    assert end == CompleteWorkflow(None, {"v": 2, "late": False, "again": False})


def test_patched_reached_first_at_the_live_edge_takes_the_new_path() -> None:
    d = Driver(_variant("v", _v1))
    d.start()
    d.complete(0, {})  # v1 issued nothing after this event, so the code after it is not history yet
    inst, cmds = d.replay(_variant("v", _v2))
    assert cmds[0] == RecordPatch(1, "extra-check", True)
    assert isinstance(cmds[1], ScheduleStep) and cmds[1].service == "check"
    d.instance = inst
    d.apply(cmds)
    d.complete(2, {})
    cmds = d.signal("go")
    assert cmds[0] == RecordPatch(3, "late-patch", True)
    d.complete(4, {})
    assert d.outcome == CompleteWorkflow(None, {"v": 2, "late": True, "again": True})


def test_patched_is_true_for_new_runs_and_stays_true_on_replay() -> None:
    d = Driver(_variant("v", _v2))
    d.start()
    assert d.complete(0, {})[0] == RecordPatch(1, "extra-check", True)
    d.complete(2, {})
    d.signal("go")
    d.complete(4, {})
    assert d.outcome == CompleteWorkflow(None, {"v": 2, "late": True, "again": True})
    inst, cmds = d.replay()
    assert cmds == [] and inst.result == d.outcome


def test_removing_a_patch_check_later_still_replays() -> None:
    async def v3(ctx: WorkflowContext) -> dict[str, Any]:  # the patch is everywhere now: check removed
        await ctx.call("a", {}, command_type="t.A")
        await ctx.call("check", {}, command_type="t.Check")
        await ctx.wait_signal("go")
        await ctx.call("c", {}, command_type="t.C")
        return {"v": 3}

    d = Driver(_variant("v", _v2))
    d.start()
    d.complete(0, {})
    d.complete(2, {})
    inst, cmds = d.replay(_variant("v", v3))
    assert cmds == [] and inst.snapshot()["signal_waiters"] == {"go": 1}
