"""ctx.set_search_attributes: recorded like any command, replayed without being emitted again.

Histories are recorded by the real engine core (orchestrator.testing)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrator.errors import NonDeterminismError, WorkflowAuthoringError
from orchestrator.testing import WorkflowEnvironment, WorkflowRun
from orchestrator.workflow import WorkflowContext, WorkflowDefinition, WorkflowRegistry, workflow
from orchestrator.workflow.activation import CompleteWorkflow, EventKind, SetSearchAttributes, StartTimer
from tests.workflow.models import START_MS, environment


def _define(body: Any) -> WorkflowDefinition:
    return workflow("attrs", registry=WorkflowRegistry())(body)


def _registry(definition: WorkflowDefinition) -> WorkflowRegistry:
    registry = WorkflowRegistry()
    registry.register(definition)
    return registry


def _start(env: WorkflowEnvironment) -> WorkflowRun:
    return env.start("attrs", {}, input_schema="t.Empty", id="wf-1")


async def _tagged(ctx: WorkflowContext) -> None:
    ctx.set_search_attributes(customer_id="c-42", priority=3, vip=True)
    await ctx.sleep(timedelta(seconds=10))
    ctx.set_search_attributes(stage="shipped", vip=None)


def test_attributes_are_a_recorded_command_in_issue_order() -> None:
    with environment(_registry(_define(_tagged))) as env:
        run = _start(env)
        assert run.new_commands() == [
            SetSearchAttributes(0, {"customer_id": "c-42", "priority": 3, "vip": True}),
            StartTimer(1, START_MS + 10_000),
        ]
        recorded = [e for e in run.history() if e.kind == EventKind.SEARCH_ATTRIBUTES_SET]
        assert [e.data for e in recorded] == [
            {"cmd_seq": 0, "attributes": {"customer_id": "c-42", "priority": 3, "vip": True}}
        ]
        run.fire_timer(1)
        assert run.new_commands()[0] == SetSearchAttributes(2, {"stage": "shipped", "vip": None})


def test_replay_matches_recorded_attributes_and_emits_nothing() -> None:
    with environment(_registry(_define(_tagged))) as env:
        run = _start(env)
        run.fire_timer(1)
        assert isinstance(run.workflow_commands()[-1], CompleteWorkflow)
        inst, cmds = run.replay()
        assert cmds == []
        assert inst.finished


def test_values_may_change_between_run_and_replay_but_not_the_command() -> None:
    with environment(_registry(_define(_tagged))) as env:
        run = _start(env)
        _check_replays(run)


def _check_replays(run: WorkflowRun) -> None:

    async def other_value(ctx: WorkflowContext) -> None:
        ctx.set_search_attributes(customer_id="c-43")  # a value changed: still the same command
        await ctx.sleep(timedelta(seconds=10))

    _inst, cmds = run.replay(_define(other_value))
    assert cmds == []

    async def dropped(ctx: WorkflowContext) -> None:
        await ctx.sleep(timedelta(seconds=10))  # the recorded attributes are no longer set

    with pytest.raises(NonDeterminismError):
        run.replay(_define(dropped))


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({}, "at least one field"),
        ({"bad-name": 1}, "not an identifier"),
        ({"x": [1, 2]}, "is a list"),
        ({"x": float("nan")}, "not finite"),
        ({"x": 2**63}, "64-bit"),
        ({"x": "y" * 300}, "characters long"),
    ],
)
def test_invalid_attributes_are_authoring_errors(fields: dict[str, Any], problem: str) -> None:
    seen: list[str] = []

    async def body(ctx: WorkflowContext) -> None:
        try:
            ctx.set_search_attributes(**fields)
        except WorkflowAuthoringError as exc:
            seen.append(str(exc))

    with environment(_registry(_define(body))) as env:
        _start(env)
    assert len(seen) == 1 and problem in seen[0]
