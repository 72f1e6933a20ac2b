"""The app module the orchestrator benchmark processes run: `orchestrator run --app benchmarks.orchestrator_app`.

Its `registry` is benchmarks.workflow's (the 3-step workflow) plus `bench-idle`, a workflow that
only waits for a signal after it starts: the in-flight, idle load of the restore and RSS figures.
"""

from __future__ import annotations

from benchmarks.workflow import registry
from examples.orders.models.orders import OrderPlaced
from orchestrator.workflow import WorkflowContext, workflow

IDLE_WORKFLOW = "bench-idle"
IDLE_SIGNAL = "go"

__all__ = ["IDLE_SIGNAL", "IDLE_WORKFLOW", "idle", "registry"]


@workflow(IDLE_WORKFLOW, registry=registry)
async def idle(ctx: WorkflowContext, order: OrderPlaced) -> None:
    """Started, then parked on a signal that never comes (no timer: nothing fires while it waits)."""
    await ctx.wait_signal(IDLE_SIGNAL)
