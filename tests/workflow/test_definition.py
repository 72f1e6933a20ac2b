"""@workflow and the registry."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.errors import UnknownWorkflowTypeError, WorkflowAuthoringError
from orchestrator.workflow import WorkflowContext, WorkflowRegistry, default_registry, workflow
from tests.workflow.models import Order


def test_decorator_registers_and_reads_the_input_model() -> None:
    reg = WorkflowRegistry()

    @workflow("with-input", registry=reg)
    async def with_input(ctx: WorkflowContext, order: Order) -> None: ...

    @workflow("no-input", registry=reg)
    async def no_input(ctx: WorkflowContext) -> None: ...

    @workflow("dict-input", registry=reg)
    async def dict_input(ctx: WorkflowContext, raw: dict[str, Any]) -> None: ...

    assert reg.get("with-input").input_type is Order and reg.get("with-input").takes_input
    assert not reg.get("no-input").takes_input
    assert reg.get("dict-input").input_type is None
    assert reg.names() == ("dict-input", "no-input", "with-input") and len(reg) == 3
    assert "no-input" in reg and "with-input" not in default_registry


def test_unknown_type_names_the_known_ones() -> None:
    reg = WorkflowRegistry()
    workflow("known", registry=reg)(_noop)
    with pytest.raises(UnknownWorkflowTypeError) as err:
        reg.get("missing")
    assert err.value.workflow_type == "missing" and err.value.known == ("known",)


async def _noop(ctx: WorkflowContext) -> None: ...


async def _other(ctx: WorkflowContext) -> None: ...


def test_a_name_cannot_be_taken_by_two_functions_but_reregistering_is_fine() -> None:
    reg = WorkflowRegistry()
    first = workflow("dup", registry=reg)(_noop)
    workflow("dup", registry=reg)(_noop)  # module reload: same function
    assert reg.get("dup") == first
    with pytest.raises(WorkflowAuthoringError):
        workflow("dup", registry=reg)(_other)


def test_bad_signatures_are_rejected() -> None:
    reg = WorkflowRegistry()

    def not_async(ctx: WorkflowContext) -> None: ...

    async def too_many(ctx: WorkflowContext, a: int, b: int) -> None: ...

    with pytest.raises(WorkflowAuthoringError):
        workflow("sync", registry=reg)(not_async)  # type: ignore[arg-type]
    with pytest.raises(WorkflowAuthoringError):
        workflow("many", registry=reg)(too_many)


def test_explicit_input_type_overrides_annotations() -> None:
    reg = WorkflowRegistry()

    @workflow("explicit", registry=reg, input_type=Order)
    async def explicit(ctx: WorkflowContext, raw: UnresolvableName) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    assert explicit.input_type is Order
    with pytest.raises(WorkflowAuthoringError):

        @workflow("unresolvable", registry=reg)
        async def unresolvable(ctx: WorkflowContext, raw: UnresolvableName) -> None: ...  # type: ignore[name-defined]  # noqa: F821
