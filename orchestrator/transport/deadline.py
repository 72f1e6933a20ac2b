"""Deadlines the process enforces itself, not ones it trusts librdkafka to honour.

librdkafka's timeouts are requests, not guarantees: `send_offsets_to_transaction` ignores its
timeout (confluentinc/librdkafka#5456) and waits forever while a decommissioned group coordinator
stays cached (#5511). A call that can hang is therefore run here on a helper thread, and the
caller waits on that thread for at most the deadline. A call past its deadline raises
`KafkaCallTimeoutError`; the thread stays blocked inside the client, so the owner must treat the
client as lost (the transactional producer is fenced and recreated, see transport/producer.py).

Calls that must stay on the calling thread (consumer polls, whose rebalance callbacks run on the
polling thread) are wrapped in `CallWatch.guard` instead: a watchdog (engine/watchdog.py) ends the
process when one outlives its deadline by more than a grace period.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

from orchestrator.errors import KafkaCallTimeoutError

T = TypeVar("T")


class CallWatch(Protocol):
    """Something that notices a guarded call still running past its deadline (a watchdog)."""

    def guard(self, operation: str, timeout_s: float) -> AbstractContextManager[None]: ...


class NoWatch:
    """The default for clients used outside the orchestrator loop: librdkafka's timeouts only."""

    @contextlib.contextmanager
    def guard(self, operation: str, timeout_s: float) -> Iterator[None]:
        yield


NO_WATCH: CallWatch = NoWatch()


def call_with_deadline(operation: str, timeout_s: float, fn: Callable[[], T]) -> T:
    """Run `fn` on a helper thread; return its result or re-raise its exception within `timeout_s`.

    Raises KafkaCallTimeoutError when `fn` is still running at the deadline. The helper thread is a
    daemon: an abandoned call never keeps the process from exiting.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(fn())
        except BaseException as exc:  # handed to the caller's thread, which re-raises it
            failure.append(exc)
        finally:
            done.set()

    started = time.monotonic()
    threading.Thread(target=run, name=f"sb-call:{operation}", daemon=True).start()
    if not done.wait(timeout_s):
        raise KafkaCallTimeoutError(operation, timeout_s, time.monotonic() - started)
    if failure:
        raise failure[0]
    return outcome[0]
