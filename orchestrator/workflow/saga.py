"""The saga helper: register an undo for each done step; on failure undo them in reverse.

Compensation steps are ordinary steps marked ``compensation=True`` so cancellation never
interrupts them and the engine can report the run as compensating.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.errors import CompensationFailedError, NonDeterminismError, StepFailedError
from orchestrator.workflow.payloads import encode
from orchestrator.workflow.policy import RetryPolicy

if TYPE_CHECKING:
    from orchestrator.workflow.context import WorkflowContext
    from orchestrator.workflow.payloads import Payload


@dataclass(frozen=True, slots=True)
class Compensation:
    """One registered undo: the command a compensation step sends, and its step options."""

    service: str
    command_type: str
    payload: dict[str, Any]
    retry: RetryPolicy | None
    start_to_close: timedelta | None
    schedule_to_close: timedelta | None


class Saga:
    """``async with ctx.saga() as saga:`` — compensations run in reverse on any exception or
    cancellation escaping the block, then the exception continues (the run ends "compensated",
    or "cancelled" for a cancellation). A cancellation requested while the block's last step was
    in flight, and which that step's success left undelivered, is raised when the block ends, so
    that step is compensated too."""

    def __init__(self, ctx: WorkflowContext, *, parallel: bool = False) -> None:
        self._ctx = ctx
        self._parallel = parallel
        self._compensations: list[Compensation] = []

    @property
    def compensations(self) -> tuple[Compensation, ...]:
        """The compensations registered and not yet run, oldest first."""
        return tuple(self._compensations)

    def add_compensation(
        self,
        service: str,
        command: Payload,
        *,
        command_type: str | None = None,
        retry: RetryPolicy | None = None,
        start_to_close: timedelta | None = None,
        schedule_to_close: timedelta | None = None,
    ) -> None:
        """Register the undo of a step that succeeded (add it right after that step)."""
        ctype, payload = encode(command, command_type, "compensation")
        self._compensations.append(Compensation(service, ctype, payload, retry, start_to_close, schedule_to_close))

    async def compensate(self, original: BaseException | None = None) -> None:
        """Run the registered compensations newest first (or all at once if parallel) and forget
        them. A compensation that fails finally raises ``CompensationFailedError``."""
        batch = list(reversed(self._compensations))
        self._compensations.clear()
        if self._parallel:
            futures = [self._run(c) for c in batch]
            results = await asyncio.gather(*futures, return_exceptions=True)
            for comp, res in zip(batch, results, strict=True):
                if isinstance(res, StepFailedError):
                    raise CompensationFailedError(comp.service, comp.command_type, res.error, original) from res
                if isinstance(res, BaseException):
                    raise res
        else:
            for comp in batch:
                try:
                    await self._run(comp)
                except StepFailedError as exc:
                    raise CompensationFailedError(comp.service, comp.command_type, exc.error, original) from exc
        if batch:
            self._ctx._mark_compensated()

    def _run(self, c: Compensation) -> asyncio.Future[dict[str, Any] | None]:
        return self._ctx.call(
            c.service,
            c.payload,
            command_type=c.command_type,
            retry=c.retry,
            start_to_close=c.start_to_close,
            schedule_to_close=c.schedule_to_close,
            compensation=True,
        )

    async def __aenter__(self) -> Saga:
        self._ctx._saga_entered(self)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:  # never swallows the exception (and type checkers know the block may return)
        # GeneratorExit (an evicted instance being garbage-collected) must not compensate.
        self._ctx._saga_left(self)
        if exc is None:
            cancelled = self._ctx._take_undelivered_cancel()
            if cancelled is not None:  # requested while the block's last step was in flight
                await self.compensate(original=cancelled)
                raise cancelled
            return False
        if isinstance(exc, NonDeterminismError):
            return False
        if isinstance(exc, Exception | asyncio.CancelledError):
            await self.compensate(original=exc)
        return False
