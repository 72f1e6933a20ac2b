"""``WorkflowContext``: everything workflow code may use to interact with the world.

Each primitive returns an ``asyncio.Future`` and issues its command immediately (eagerly), so
``asyncio.gather(ctx.call(...), ctx.call(...))`` schedules both steps in argument order and
``ctx.call(...)`` without ``await`` still starts the step. Time, randomness and ids come from
history, never from the machine.
"""

from __future__ import annotations

import asyncio
import math
import random as _random
import re
import uuid as _uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, overload

from orchestrator.errors import ContinueAsNewError, WorkflowAuthoringError, WorkflowCancelledError
from orchestrator.workflow.activation import SearchAttributeValue
from orchestrator.workflow.payloads import R, decoder, encode
from orchestrator.workflow.policy import RetryPolicy
from orchestrator.workflow.runtime import Runtime
from orchestrator.workflow.saga import Saga

if TYPE_CHECKING:
    from orchestrator.workflow.definition import WorkflowDefinition
    from orchestrator.workflow.payloads import Payload

_entropy = _random.SystemRandom()  # only ever consulted live; replay reads the recorded value
# Search attribute names travel in query strings and index keys: keep them identifiers.
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_ATTRIBUTE_TEXT = 256
_LONG = 2**63


@dataclass(frozen=True, slots=True)
class WorkflowInfo:
    """Facts about the run, all from its STARTED event."""

    workflow_id: str
    workflow_type: str
    start_time_ms: int
    trace_context: dict[str, str] = field(default_factory=dict)
    parent_workflow_id: str | None = None
    parent_seq: int | None = None
    run: int = 1  # 1 for the first run of this workflow id, +1 after each ctx.continue_as_new()


class WorkflowContext:
    """Handed to the workflow function as its first argument."""

    def __init__(self, runtime: Runtime, info: WorkflowInfo) -> None:
        self._rt = runtime
        self._info = info
        self._open_sagas: list[Saga] = []  # entered and not left: continue_as_new refuses their compensations

    @property
    def info(self) -> WorkflowInfo:
        """Facts about this run (id, type, start time, parent)."""
        return self._info

    @property
    def is_replaying(self) -> bool:
        """True while re-running code whose commands are already in history (skip logging then)."""
        return self._rt.is_replaying

    @property
    def cancel_requested(self) -> bool:
        """True once cancellation was requested (cleanup code may check it)."""
        return self._rt.cancel_requested

    @property
    def history_length(self) -> int:
        """Events in this run's history so far (up to the one being applied; replays the same)."""
        return self._rt.history_length

    @property
    def continue_as_new_suggested(self) -> bool:
        """True once this run's history has reached the engine's `history_warn_events` (as set when
        the run started; recorded, so replay agrees): time to ``continue_as_new``, so that a replay
        after a restart or a cache eviction stays short (docs/workflows.md, "Long workflows")."""
        return self._rt.continue_as_new_suggested

    def continue_as_new(self, input: Payload | None = None, *, input_schema: str | None = None) -> NoReturn:
        """End this run and start this workflow id over with ``input`` and an empty history.

        Like Temporal's: the id never stops existing (the engine does both in one turn, in one
        transaction), the old run's history is deleted, and signals received but not yet taken by
        ``wait_signal`` are delivered to the new run, oldest first. Raises ``ContinueAsNewError``
        (a BaseException: let it propagate out of the workflow function; raised in a background
        task nobody awaits, it ends nothing). Refused with ``ContinueAsNewRefusedError`` while steps
        are in flight, children run, an open saga holds compensations or a cancellation was
        requested; open timers and signal waits are dropped with the code that waits on them.
        """
        self._rt.check_continue_as_new(sum(len(saga.compensations) for saga in self._open_sagas))
        if input is None:
            raise ContinueAsNewError(None, None)
        schema, value = encode(input, input_schema, "continue_as_new input")
        raise ContinueAsNewError(schema, value)

    # --- deterministic time, randomness, ids ------------------------------------------------------
    def now_ms(self) -> int:
        """Engine time (ms since epoch) of the history event being applied."""
        return self._rt.now_ms

    def now(self) -> datetime:
        """``now_ms()`` as an aware UTC datetime."""
        return datetime.fromtimestamp(self._rt.now_ms / 1000.0, tz=UTC)

    def random(self) -> float:
        """A random float in [0, 1), recorded in history so replay sees the same value."""
        return float(self._rt.side_effect("random", _entropy.random))

    def uuid(self) -> _uuid.UUID:
        """A random UUID, recorded in history so replay sees the same value."""
        return _uuid.UUID(str(self._rt.side_effect("uuid", lambda: str(_uuid.uuid4()))))

    def patched(self, patch_id: str) -> bool:
        """Version gate: True on runs that reach this point with the new code, False while
        replaying runs recorded before the patch existed. Keep both branches until no old run
        remains, then delete the check (recorded markers of removed checks are skipped)."""
        return self._rt.patched(patch_id)

    # --- steps ----------------------------------------------------------------------------------
    @overload
    def call(
        self,
        service: str,
        command: Payload,
        *,
        result: type[R],
        command_type: str | None = None,
        retry: RetryPolicy | None = None,
        start_to_close: timedelta | None = None,
        schedule_to_close: timedelta | None = None,
        compensation: bool = False,
    ) -> asyncio.Future[R]: ...

    @overload
    def call(
        self,
        service: str,
        command: Payload,
        *,
        result: None = None,
        command_type: str | None = None,
        retry: RetryPolicy | None = None,
        start_to_close: timedelta | None = None,
        schedule_to_close: timedelta | None = None,
        compensation: bool = False,
    ) -> asyncio.Future[dict[str, Any] | None]: ...

    def call(
        self,
        service: str,
        command: Payload,
        *,
        result: type[Any] | None = None,
        command_type: str | None = None,
        retry: RetryPolicy | None = None,
        start_to_close: timedelta | None = None,
        schedule_to_close: timedelta | None = None,
        compensation: bool = False,
    ) -> asyncio.Future[Any]:
        """Send ``command`` to ``service`` and resolve to its reply (a ``result`` model, or the
        Avro dict). Retries and timeouts run in the engine; a final failure raises ``StepFailedError``.
        ``compensation=True`` marks an undo step: it is never interrupted by cancellation."""
        ctype, payload = encode(command, command_type, "command")
        return self._rt.schedule_step(
            service,
            ctype,
            payload,
            retry if retry is not None else RetryPolicy(),
            _ms_or_none(start_to_close),
            _ms_or_none(schedule_to_close),
            compensation,
            decoder(result),
        )

    # --- events (choreography out) --------------------------------------------------------------
    def publish(self, event: Payload, *, event_type: str | None = None, topic: str | None = None) -> None:
        """Publish ``event`` keyed by this workflow's id, to ``topic`` or the app's events topic.

        It is produced in the same Kafka transaction as the step that led here, exactly once;
        replay never publishes it again."""
        schema, value = encode(event, event_type, "event")
        self._rt.publish(schema, value, topic)

    # --- visibility -----------------------------------------------------------------------------
    def set_search_attributes(self, **fields: SearchAttributeValue) -> None:
        """Index this run by ``fields`` in the visibility store (``customer_id="c-42"``): the list
        API, UI and CLI filter on them. Merged into the fields set before; ``None`` removes one.
        Values are str (up to 256 characters), int, float or bool. Recorded in history, so replay
        matches it and emits nothing again."""
        if not fields:
            raise WorkflowAuthoringError("set_search_attributes() needs at least one field", "pass name=value")
        self._rt.set_search_attributes({name: _attribute(name, value) for name, value in sorted(fields.items())})

    # --- timers and signals ---------------------------------------------------------------------
    def sleep(self, duration: timedelta | float) -> asyncio.Future[None]:
        """Durable timer (seconds or timedelta): survives restarts, recorded in history."""
        return self._rt.sleep(_duration_ms(duration, "sleep"))

    @overload
    def wait_signal(
        self, name: str, *, timeout: timedelta | float | None = None, payload: type[R]
    ) -> asyncio.Future[R]: ...

    @overload
    def wait_signal(
        self, name: str, *, timeout: timedelta | float | None = None, payload: None = None
    ) -> asyncio.Future[dict[str, Any] | None]: ...

    def wait_signal(
        self, name: str, *, timeout: timedelta | float | None = None, payload: type[Any] | None = None
    ) -> asyncio.Future[Any]:
        """The next signal ``name`` (signals that arrived earlier are buffered, oldest first).
        With ``timeout``, raises ``WorkflowTimeoutError`` if none arrives in time."""
        timeout_ms = None if timeout is None else _duration_ms(timeout, "wait_signal timeout")
        return self._rt.wait_signal(name, timeout_ms, decoder(payload))

    # --- children, queries, sagas ---------------------------------------------------------------
    @overload
    def child(
        self,
        workflow: str | WorkflowDefinition,
        input: Payload,
        *,
        id: str | None = None,
        result: type[R],
        input_schema: str | None = None,
    ) -> asyncio.Future[R]: ...

    @overload
    def child(
        self,
        workflow: str | WorkflowDefinition,
        input: Payload,
        *,
        id: str | None = None,
        result: None = None,
        input_schema: str | None = None,
    ) -> asyncio.Future[dict[str, Any] | None]: ...

    def child(
        self,
        workflow: str | WorkflowDefinition,
        input: Payload,
        *,
        id: str | None = None,
        result: type[Any] | None = None,
        input_schema: str | None = None,
    ) -> asyncio.Future[Any]:
        """Start a child workflow and resolve to its result; a child that does not complete raises
        ``ChildWorkflowFailedError``. The default id is derived from this run's id (deterministic)."""
        workflow_type = workflow if isinstance(workflow, str) else workflow.name
        schema, value = encode(input, input_schema, "child input")
        return self._rt.start_child(workflow_type, id, schema, value, decoder(result))

    def set_query_handler(self, name: str, handler: Callable[..., Any]) -> None:
        """Answer queries ``name`` with ``handler(*args)``; it must only read workflow state."""
        if not callable(handler):
            raise WorkflowAuthoringError(f"query handler {name!r} is not callable", "pass a function")
        self._rt.query_handlers[name] = handler

    def saga(self, *, parallel_compensation: bool = False) -> Saga:
        """A saga scope: ``async with ctx.saga() as saga:`` compensates in reverse on failure."""
        return Saga(self, parallel=parallel_compensation)

    def _saga_entered(self, saga: Saga) -> None:
        self._open_sagas.append(saga)

    def _saga_left(self, saga: Saga) -> None:
        if saga in self._open_sagas:
            self._open_sagas.remove(saga)

    def _mark_compensated(self) -> None:
        self._rt.compensated = True

    def _take_undelivered_cancel(self) -> WorkflowCancelledError | None:
        return self._rt.take_undelivered_cancel()


def _attribute(name: str, value: object) -> SearchAttributeValue:
    if not _ATTRIBUTE_NAME.match(name):
        raise WorkflowAuthoringError(
            f"search attribute name {name!r} is not an identifier", "use letters, digits and '_' (at most 64)"
        )
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -_LONG <= value < _LONG:
            raise WorkflowAuthoringError(
                f"search attribute {name}={value} is out of the 64-bit range", "store it as str"
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise WorkflowAuthoringError(f"search attribute {name}={value} is not finite", "pass a finite number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_ATTRIBUTE_TEXT:
            raise WorkflowAuthoringError(
                f"search attribute {name} is {len(value)} characters long", f"keep it under {MAX_ATTRIBUTE_TEXT}"
            )
        return value
    raise WorkflowAuthoringError(
        f"search attribute {name} is a {type(value).__name__}", "pass a str, int, float, bool or None"
    )


def _ms_or_none(delta: timedelta | None) -> int | None:
    return None if delta is None else _duration_ms(delta, "timeout")


def _duration_ms(duration: timedelta | float, what: str) -> int:
    if isinstance(duration, timedelta):
        return int(duration / timedelta(milliseconds=1))
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        return int(duration * 1000)
    raise WorkflowAuthoringError(
        f"{what} must be a timedelta or seconds, got {duration!r}", "pass timedelta(seconds=...)"
    )
