"""Spans recorded only when the checkpoint that did the work commits.

The engine handles inputs inside a Kafka transaction; on an abortable error it drops the
buffered state and re-processes the same inputs. Spans emitted eagerly would then show work
twice (or work that never happened). So the engine queues span recordings here while it
handles an input, and runs them after `commit_transaction` (or drops them on abort): spans get
the same exactly-once visibility as the state and the commands. Pass explicit `end_ns` (and
`start_ns`) to the queued calls, so the recorded times are those of the work, not of the commit.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from orchestrator.tracing import active_tracer

log = logging.getLogger(__name__)


class PendingSpans:
    """A per-checkpoint queue of span recordings (not thread-safe: one per partition runner)."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: list[Callable[[], None]] = []

    def defer(self, record: Callable[..., None], /, *args: Any, **kwargs: Any) -> None:
        """Queue `record(*args, **kwargs)` (e.g. close_step_attempt); nothing is queued when tracing is off."""
        if active_tracer.active() is not None:
            self._items.append(functools.partial(record, *args, **kwargs))

    def __len__(self) -> int:
        return len(self._items)

    def commit(self) -> int:
        """Record everything queued (after the transaction committed); returns how many."""
        items, self._items = self._items, []
        for record in items:
            try:
                record()
            except Exception:  # tracing must never fail a committed checkpoint
                log.exception("recording a span failed; continuing")
        return len(items)

    def abort(self) -> None:
        """Drop everything queued: the work is rolled back and will be redone."""
        self._items.clear()
