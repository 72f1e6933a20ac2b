"""Workflow definitions: the ``@workflow`` decorator and the type-name registry."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import UnknownWorkflowTypeError, WorkflowAuthoringError
from orchestrator.workflow.payloads import is_model_type

WorkflowFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class WorkflowDefinition:
    """A named workflow: its ``async def`` and the model its input is decoded into (None: dict)."""

    name: str
    fn: WorkflowFn
    input_type: type[Any] | None
    takes_input: bool


class WorkflowRegistry:
    """Maps workflow type names to definitions; the engine resolves STARTED events through it."""

    def __init__(self) -> None:
        self._definitions: dict[str, WorkflowDefinition] = {}

    def register(self, definition: WorkflowDefinition) -> None:
        """Add a definition. Re-registering the same function is a no-op (module reloads);
        another function under a taken name is an error, since history would run the wrong code."""
        existing = self._definitions.get(definition.name)
        if existing is not None and existing.fn is not definition.fn:
            same_source = (existing.fn.__module__, existing.fn.__qualname__) == (
                definition.fn.__module__,
                definition.fn.__qualname__,
            )
            if not same_source:
                raise WorkflowAuthoringError(
                    f"workflow type {definition.name!r} is already registered by "
                    f"{existing.fn.__module__}.{existing.fn.__qualname__}",
                    "give each workflow a unique name, or use a separate WorkflowRegistry",
                )
        self._definitions[definition.name] = definition

    def get(self, workflow_type: str) -> WorkflowDefinition:
        """The definition registered as `workflow_type`; `UnknownWorkflowTypeError` if none."""
        try:
            return self._definitions[workflow_type]
        except KeyError:
            raise UnknownWorkflowTypeError(workflow_type, self.names()) from None

    def names(self) -> tuple[str, ...]:
        """The registered workflow type names, sorted."""
        return tuple(sorted(self._definitions))

    def __contains__(self, workflow_type: object) -> bool:
        return workflow_type in self._definitions

    def __len__(self) -> int:
        return len(self._definitions)


default_registry = WorkflowRegistry()


def workflow(
    name: str, *, registry: WorkflowRegistry | None = None, input_type: type[Any] | None = None
) -> Callable[[WorkflowFn], WorkflowDefinition]:
    """Declare ``async def fn(ctx, input)`` (or ``fn(ctx)``) as workflow type ``name``.

    The input model is taken from the annotation of the second parameter (``input_type=``
    overrides it); an unannotated or ``dict`` input receives the plain Avro dict.
    """

    def decorate(fn: WorkflowFn) -> WorkflowDefinition:
        if not inspect.iscoroutinefunction(fn):
            raise WorkflowAuthoringError(
                f"workflow {name!r} must be an `async def` function", "declare it with `async def`"
            )
        params = list(inspect.signature(fn).parameters.values())
        if not 1 <= len(params) <= 2:
            raise WorkflowAuthoringError(
                f"workflow {name!r} must take (ctx) or (ctx, input), takes {len(params)} parameters",
                "declare it as `async def fn(ctx: WorkflowContext, input: Model)`",
            )
        takes_input = len(params) == 2
        model = input_type if input_type is not None else (_input_annotation(fn, name) if takes_input else None)
        definition = WorkflowDefinition(name=name, fn=fn, input_type=model, takes_input=takes_input)
        (registry if registry is not None else default_registry).register(definition)
        return definition

    return decorate


def _input_annotation(fn: WorkflowFn, name: str) -> type[Any] | None:
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # a forward reference that cannot be resolved at module level
        raise WorkflowAuthoringError(
            f"cannot resolve the type hints of workflow {name!r} ({exc})",
            "define the input model at module level, or pass @workflow(..., input_type=Model)",
        ) from exc
    param = list(inspect.signature(fn).parameters)[1]
    hint = hints.get(param)
    return hint if is_model_type(hint) else None
