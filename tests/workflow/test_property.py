"""Property: an instance rebuilt by replay reaches exactly the live instance's state.

Hypothesis generates a workflow program (steps, parallel steps, races, sleeps, signal waits with
and without timeouts, side effects, patches, children inside a saga) and an arbitrary order in
which its participants, clients and the clock resolve what the program waits for (including
failures and a cancellation), run through the real engine core (orchestrator.testing). After
every input the recorded history is replayed into a fresh instance, which must emit nothing and
match the engine's live instance: snapshot, query result and outcome. Rebuilding at an earlier
point and continuing live must produce the same commands the live run produced.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.errors import ChildWorkflowFailedError, StepFailedError, WorkflowTimeoutError
from orchestrator.testing import WorkflowEnvironment, WorkflowRun
from orchestrator.workflow import EventKind, WorkflowContext, WorkflowInstance, WorkflowRegistry, workflow
from orchestrator.workflow.activation import CompleteWorkflow, RecordSideEffect, WorkflowCommand
from orchestrator.workflow.instance import RESOLUTION_KINDS
from tests.workflow.models import environment

reg = WorkflowRegistry()


@workflow("kid", registry=reg)
async def kid(ctx: WorkflowContext, inp: dict[str, Any]) -> dict[str, Any]:
    """A child that lives as long as its one step: the test settles the step to end the child."""
    return await ctx.call("kid", {"i": inp["i"]}, command_type="t.Kid") or {}


@workflow("program", registry=reg)
async def program(ctx: WorkflowContext, inp: dict[str, Any]) -> dict[str, Any]:
    log: list[Any] = []
    ctx.set_query_handler("log", lambda: list(log))
    async with ctx.saga() as saga:
        for i, op in enumerate(inp["ops"]):
            kind = op[0]
            try:
                if kind == "step":
                    r = await ctx.call(f"svc{op[1]}", {"i": i}, command_type="t.Step")
                    saga.add_compensation(f"svc{op[1]}", {"i": i}, command_type="t.Undo")
                    log.append(["step", i, r])
                elif kind == "par":
                    calls = [ctx.call("par", {"i": i, "j": j}, command_type="t.Par") for j in range(op[1])]
                    rs = await asyncio.gather(*calls, return_exceptions=True)
                    log.append(["par", i, [r if isinstance(r, dict) else type(r).__name__ for r in rs]])
                elif kind == "race":
                    racers = [ctx.call("race", {"i": i}, command_type="t.Race"), ctx.wait_signal("s")]
                    done, _ = await asyncio.wait(racers, return_when=asyncio.FIRST_COMPLETED)
                    log.append(["race", i, [racers.index(f) for f in done if not f.exception()]])
                elif kind == "sleep":
                    await ctx.sleep(op[1])
                    log.append(["slept", i, ctx.now_ms()])
                elif kind == "signal":
                    log.append(["sig", i, await ctx.wait_signal("s", timeout=op[1])])
                elif kind == "random":
                    log.append(["rand", i, ctx.random(), str(ctx.uuid())])
                elif kind == "patch":
                    log.append(["patch", i, ctx.patched(op[1])])
                elif kind == "child":
                    log.append(["child", i, await ctx.child("kid", {"i": i}, input_schema="t.In")])
            except (StepFailedError, WorkflowTimeoutError, ChildWorkflowFailedError) as exc:
                log.append(["error", i, type(exc).__name__])
    return {"log": log}


ops = st.lists(
    st.one_of(
        st.tuples(st.just("step"), st.integers(0, 2)),
        st.tuples(st.just("par"), st.integers(1, 3)),
        st.tuples(st.just("race")),
        st.tuples(st.just("sleep"), st.integers(0, 120)),
        st.tuples(st.just("signal"), st.none() | st.integers(1, 60)),
        st.tuples(st.just("random")),
        st.tuples(st.just("patch"), st.sampled_from(["p1", "p2"])),
        st.tuples(st.just("child")),
    ),
    max_size=8,
)


def _normalise(cmds: list[WorkflowCommand]) -> list[Any]:
    """Side-effect values are drawn anew by an instance continuing live (and may end up in the
    result): compare their kind and position, not their value."""
    out: list[Any] = []
    for c in cmds:
        if isinstance(c, RecordSideEffect):
            out.append((c.cmd_seq, c.what))
        elif isinstance(c, CompleteWorkflow) and c.result is not None:
            out.append(("complete", [entry[:2] for entry in c.result["log"]]))
        else:
            out.append(c)
    return out


def _open_children(run: WorkflowRun) -> dict[int, str]:
    """The run's children still running: cmd_seq -> child workflow id."""
    children: dict[int, str] = {}
    for event in run.history():
        if event.kind == EventKind.CHILD_STARTED:
            children[int(event.data["cmd_seq"])] = str(event.data["child_id"])
        elif event.kind == EventKind.CHILD_FINISHED:
            children.pop(int(event.data["cmd_seq"]), None)
    return children


def _settle_child(env: WorkflowEnvironment, child_id: str, ok: bool, seq: int) -> None:
    """End a child by settling its open step: success with a result, or a permanent failure."""
    child = env.run(child_id)
    if not env.open_steps(child_id):
        return  # not started yet, or already settling
    if ok:
        child.complete_step(0, {"kid": seq}, result_schema="t.KidDone")
    else:
        child.fail_step(0, "X", "m")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program_ops=ops, data=st.data())
def test_replay_reaches_the_live_state(program_ops: list[tuple[Any, ...]], data: st.DataObject) -> None:
    with environment(reg) as env:
        run = env.start("program", {"ops": [list(op) for op in program_ops]}, input_schema="t.Program", id="wf-1")
        env.settle()
        boundaries = [(len(run.history()), len(run.workflow_commands()))]
        cancelled = False
        for _ in range(40):
            if run.outcome is not None:
                break
            steps = [s.seq for s in env.open_steps(run.id)]
            children = _open_children(run)
            actions: list[tuple[Any, ...]] = [("signal",), ("tick",)]
            actions += [("complete", s) for s in steps] + [("fail", s) for s in steps]
            actions += [("fire", s) for s in run.open_timers()]
            actions += [("child_ok", s) for s in children] + [("child_fail", s) for s in children]
            if not cancelled:
                actions.append(("cancel",))
            act = data.draw(st.sampled_from(actions))
            if act[0] == "signal":
                run.signal("s", {"n": len(run.history())}, payload_schema="t.N")
            elif act[0] == "tick":
                env.advance(data.draw(st.integers(1, 90_000)))
            elif act[0] == "complete":
                run.complete_step(act[1], {"r": act[1]}, result_schema="t.R")
            elif act[0] == "fail":
                run.fail_step(act[1], "Boom")
            elif act[0] == "fire":
                run.fire_timer(act[1])
            elif act[0] in ("child_ok", "child_fail"):
                _settle_child(env, children[act[1]], act[0] == "child_ok", act[1])
            else:
                cancelled = True
                run.cancel("stop")
            env.settle()  # child starts and results travel through the inbox
            boundaries.append((len(run.history()), len(run.workflow_commands())))

            rebuilt, cmds = run.replay()
            assert cmds == []
            live = run.instance
            assert rebuilt.snapshot() == live.snapshot()
            assert rebuilt.query("log", []) == live.query("log", [])
            assert rebuilt.result == live.result == run.outcome

        # Rebuild at an earlier input boundary, then continue live with the remaining events.
        history, commands = run.history(), run.workflow_commands()
        n_events, n_cmds = data.draw(st.sampled_from(boundaries))
        inst = WorkflowInstance(program, run.id)
        assert inst.activate(history[:n_events], env.now_ms, replaying=True) == []
        produced: list[WorkflowCommand] = []
        for event in history[n_events:]:
            if event.kind in RESOLUTION_KINDS:
                produced += inst.activate([event], env.now_ms, replaying=False)
        assert _normalise(produced) == _normalise(commands[n_cmds:])
        assert inst.finished == run.instance.finished
