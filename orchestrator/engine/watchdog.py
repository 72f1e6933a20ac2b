"""The last line of "nothing blocks forever": a thread that ends the process when a guarded call
on the loop's thread outlives its deadline by more than a grace period.

Transactional calls run under deadlines on helper threads (transport/deadline.py) and a late one
is recovered in-process by fencing the producer. Calls that must stay on the loop's thread (the
consumer's poll, whose rebalance callbacks run on the polling thread; committed offsets, seeks,
close, the restore consumer) cannot be abandoned that way, so they are guarded: if one is still
running `grace_s` past its deadline, the watchdog logs which call is stuck and every thread's
stack, then exits with EXIT_STUCK so a supervisor restarts the process. State is safe: RocksDB
only ever holds committed checkpoints, and the restarted instance fences this one's transaction.

Guards nest (a rebalance callback runs inside a poll): time spent in an inner guard is added to
the outer one's deadline, so a long restore is judged by its own guards, not by the poll's. Scopes
that are progress however long they last (`progress()`: a rebalance callback, a retry loop) have no
deadline of their own; the broker calls inside them are guarded one by one.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

EXIT_STUCK = 70  # EX_SOFTWARE: a call stayed blocked past its deadline and grace; restart me

StuckHandler = Callable[[str], None]


def exit_stuck(message: str) -> None:
    """Default reaction: the stacks go to stderr, then the process ends at once (no cleanup: the
    cleanup would call into the same stuck client)."""
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    logging.shutdown()
    os._exit(EXIT_STUCK)


@dataclass
class _Frame:
    operation: str
    timeout_s: float
    started: float
    deadline: float


class Watchdog:
    """Guards calls with deadlines; `start()` runs the checking thread (daemon)."""

    def __init__(self, grace_s: float, on_stuck: StuckHandler = exit_stuck, check_interval_s: float = 0.5) -> None:
        self.grace_s = grace_s
        self.stuck_calls = 0
        self._on_stuck = on_stuck
        self._check_interval_s = check_interval_s
        self._frames: dict[int, list[_Frame]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Watchdog:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sb-watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    @contextlib.contextmanager
    def guard(self, operation: str, timeout_s: float) -> Iterator[None]:
        now = time.monotonic()
        frame = _Frame(operation, timeout_s, now, now + timeout_s)
        stack = self._stack()
        with self._lock:
            stack.append(frame)
        try:
            yield
        finally:
            with self._lock:
                stack.remove(frame)
                if stack:  # the enclosing call does not pay for the time spent in this one
                    stack[-1].deadline += time.monotonic() - frame.started

    def progress(self, operation: str) -> contextlib.AbstractContextManager[None]:
        """A scope that is progress however long it takes (a rebalance callback restoring many
        partitions, a retry loop waiting out a broker outage): its own broker calls are guarded one by
        one, and its time is not charged to the enclosing call (the poll the callback runs in)."""
        return self.guard(operation, math.inf)

    def overdue(self, now: float | None = None) -> list[tuple[str, float]]:
        """(operation, seconds past its deadline) of every innermost guard past its deadline."""
        at = time.monotonic() if now is None else now
        with self._lock:
            tops = [stack[-1] for stack in self._frames.values() if stack]
        return [(f.operation, at - f.deadline) for f in tops if at > f.deadline]

    def _stack(self) -> list[_Frame]:
        ident = threading.get_ident()
        with self._lock:
            return self._frames.setdefault(ident, [])

    def _run(self) -> None:
        while not self._stopped.wait(self._check_interval_s):
            for operation, late_s in self.overdue():
                if late_s > self.grace_s:
                    self._fire(operation, late_s)
                    return

    def _fire(self, operation: str, late_s: float) -> None:
        self.stuck_calls += 1
        message = (
            f"stuck: {operation} is {late_s:.0f}s past its deadline (grace {self.grace_s:.0f}s); ending the "
            f"process with status {EXIT_STUCK} so a supervisor restarts it. State is safe: RocksDB holds only "
            f"committed checkpoints and the restarted instance fences this one's transaction"
        )
        log.critical(message)
        self._on_stuck(message)
