"""ctx.set_search_attributes: recorded like any command, replayed without being emitted again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrator.errors import NonDeterminismError, WorkflowAuthoringError
from orchestrator.workflow import WorkflowContext, WorkflowDefinition, WorkflowRegistry, workflow
from orchestrator.workflow.activation import EventKind, SetSearchAttributes, StartTimer
from tests.workflow.driver import Driver


def _define(body: Any) -> WorkflowDefinition:
    return workflow("attrs", registry=WorkflowRegistry())(body)


async def _tagged(ctx: WorkflowContext) -> None:
    ctx.set_search_attributes(customer_id="c-42", priority=3, vip=True)
    await ctx.sleep(timedelta(seconds=10))
    ctx.set_search_attributes(stage="shipped", vip=None)


def test_attributes_are_a_recorded_command_in_issue_order() -> None:
    d = Driver(_define(_tagged))
    cmds = d.start()
    assert cmds == [
        SetSearchAttributes(0, {"customer_id": "c-42", "priority": 3, "vip": True}),
        StartTimer(1, d.now_ms + 10_000),
    ]
    assert d.history[1].kind == EventKind.SEARCH_ATTRIBUTES_SET
    assert d.history[1].data == {"cmd_seq": 0, "attributes": {"customer_id": "c-42", "priority": 3, "vip": True}}
    cmds = d.fire(1)
    assert cmds[0] == SetSearchAttributes(2, {"stage": "shipped", "vip": None})


def test_replay_matches_recorded_attributes_and_emits_nothing() -> None:
    d = Driver(_define(_tagged))
    d.start()
    d.fire(1)
    inst, cmds = d.replay()
    assert cmds == []
    assert inst.finished


def test_values_may_change_between_run_and_replay_but_not_the_command() -> None:
    d = Driver(_define(_tagged))
    d.start()

    async def other_value(ctx: WorkflowContext) -> None:
        ctx.set_search_attributes(customer_id="c-43")  # a value changed: still the same command
        await ctx.sleep(timedelta(seconds=10))

    _inst, cmds = d.replay(_define(other_value))
    assert cmds == []

    async def dropped(ctx: WorkflowContext) -> None:
        await ctx.sleep(timedelta(seconds=10))  # the recorded attributes are no longer set

    with pytest.raises(NonDeterminismError):
        d.replay(_define(dropped))


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

    Driver(_define(body)).start()
    assert len(seen) == 1 and problem in seen[0]
