"""A manually driven asyncio event loop for workflow code.

Workflow code is ordinary ``async def``; running it on this loop makes ``asyncio.gather``,
``asyncio.wait``, ``create_task``, ``async with``, ``try/finally`` and cancellation behave as
usual, while scheduling stays deterministic: callbacks run strictly FIFO, nothing happens between
activations, and time only moves when history says so. Real timers and threads are refused.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Coroutine, Generator
from concurrent.futures import Executor
from typing import Any, NoReturn, TypeVar, TypeVarTuple, Unpack

from orchestrator.errors import WorkflowAuthoringError

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")
log = logging.getLogger(__name__)

_SLEEP_FIX = "use `await ctx.sleep(timedelta(...))` (a durable timer) instead of asyncio timers/timeouts"


class DeterministicEventLoop(asyncio.AbstractEventLoop):
    """Runs ready callbacks until none are left (the workflow is blocked), then returns."""

    def __init__(self) -> None:
        # A list, not a deque: a parked run keeps its loop for as long as it is cached, and an
        # empty deque holds a 64-slot block (~600 B) where an empty list holds nothing.
        self._ready: list[asyncio.Handle] = []
        self._now_ms = 0
        self._running = False
        self._closed = False
        self._halted = False

    # --- driving ------------------------------------------------------------------------------
    def advance_to(self, at_ms: int) -> None:
        """Move workflow time to a history event's time (never backwards: clocks may skew)."""
        self._now_ms = max(self._now_ms, at_ms)

    def run_until_blocked(self) -> None:
        """Run every ready callback (and those they schedule) with this loop as the running loop.

        The caller's own loop (if any) is restored afterwards, so this works inside async code.
        """
        if self._running:
            raise RuntimeError("workflow event loop re-entered")
        previous = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        self._running = True
        try:
            while self._ready and not self._halted:
                # FIFO in batches: what a callback schedules runs after everything ready before it
                batch, self._ready = self._ready, []
                for i, handle in enumerate(batch):
                    if self._halted or self._closed:  # halt() / close() drop what is still queued
                        break
                    if handle.cancelled():
                        continue
                    try:
                        handle._run()
                    except BaseException:  # e.g. KeyboardInterrupt: the rest stays queued, in order
                        self._ready[:0] = batch[i + 1 :]
                        raise
        finally:
            self._running = False
            asyncio.events._set_running_loop(previous)

    def halt(self) -> None:
        """Stop running workflow code for good (non-determinism was detected)."""
        self._halted = True
        self._ready.clear()

    @property
    def now_ms(self) -> int:
        return self._now_ms

    # --- the part of the loop API asyncio's futures and tasks use -----------------------------
    def call_soon(
        self, callback: Callable[[Unpack[_Ts]], object], *args: *_Ts, context: contextvars.Context | None = None
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_later(
        self,
        delay: float,
        callback: Callable[[Unpack[_Ts]], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        self._forbid("asyncio.sleep / call_later / wait_for timeouts use real time")

    def call_at(
        self,
        when: float,
        callback: Callable[[Unpack[_Ts]], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        self._forbid("asyncio.timeout / call_at use real time")

    def call_soon_threadsafe(
        self, callback: Callable[[Unpack[_Ts]], object], *args: *_Ts, context: contextvars.Context | None = None
    ) -> asyncio.Handle:
        self._forbid("threads cannot feed a workflow")

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[Unpack[_Ts]], _T], *args: *_Ts
    ) -> asyncio.Future[_T]:
        self._forbid("run_in_executor does I/O outside history")

    def time(self) -> float:
        """Workflow time in seconds (history time, never the wall clock)."""
        return self._now_ms / 1000.0

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(
        self,
        coro: Coroutine[Any, Any, _T] | Generator[Any, None, _T],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[_T]:
        return asyncio.Task(coro, loop=self, name=name, context=context)

    def get_debug(self) -> bool:
        return False

    def is_running(self) -> bool:
        return self._running

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._ready.clear()

    def run_forever(self) -> None:
        self._forbid("the engine drives workflow loops")

    def run_until_complete(self, future: Any) -> Any:
        self._forbid("the engine drives workflow loops")

    def stop(self) -> None:
        self.halt()

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        # Unretrieved exceptions of abandoned futures (e.g. the losers of a gather) are normal here.
        log.debug("workflow loop: %s", context.get("message"), exc_info=context.get("exception"))

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        self.default_exception_handler(context)

    def get_exception_handler(self) -> None:
        return None

    def _forbid(self, what: str) -> NoReturn:
        raise WorkflowAuthoringError(f"not allowed in workflow code: {what}", _SLEEP_FIX)
