"""When the runner's loop checkpoints: on the commit interval under load, early once the inbox is idle.

A command the engine emits is invisible to its service (read_committed) until the checkpoint that
carries it commits, so the wait for that checkpoint is part of every step's latency. Committing
only every `commit_interval_ms` (Kafka Streams' schedule) makes a step wait half an interval on
average and a whole one at worst, even when the loop has nothing else to do. So:

- under load (the inbox keeps delivering), a checkpoint every `commit_interval_ms` or
  `commit_every` inputs, whichever comes first: the interval stays the upper bound of batching,
  checked between records too, so one large poll batch cannot hold a commit back past it;
- with work waiting and the inbox quiet for `commit_idle_ms`, the checkpoint is taken at once:
  nothing more is coming to batch with, and waiting would only delay the commands. The records
  that arrive while it commits form the next batch, so batches still grow with the load
  (group commit), and an idle loop with nothing pending never commits at all.

`commit_idle_ms = commit_interval_ms` gives the plain interval schedule back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Monotonic = Callable[[], float]


class CommitSchedule:
    """Tracks the last commit and the last input; the loop asks it how long to poll and when to commit."""

    def __init__(self, interval_ms: int, idle_ms: int, max_inputs: int, clock: Monotonic = time.monotonic) -> None:
        self.interval_s = interval_ms / 1000
        self.idle_s = idle_ms / 1000
        self.max_inputs = max_inputs
        self._clock = clock
        self._last_commit = clock()
        self._last_input = self._last_commit

    def committed(self) -> None:
        """A checkpoint just ended (committed, aborted or recovered): the interval starts again."""
        self._last_commit = self._clock()

    def received(self) -> None:
        """A poll brought inputs: the inbox is not idle."""
        self._last_input = self._clock()

    def poll_timeout(self, pending: int, wake_s: float) -> float:
        """How long the next poll may wait: `wake_s` (timers, housekeeping) unless work is pending,
        then no longer than until the interval ends or the inbox has been idle for `commit_idle_ms`."""
        if not pending:
            return wake_s
        now = self._clock()
        until_interval = self._last_commit + self.interval_s - now
        until_idle = self._last_input + self.idle_s - now
        return max(0.0, min(wake_s, until_interval, until_idle))

    def interval_elapsed(self) -> bool:
        """The interval since the last commit is over (checked between the records of a batch)."""
        return self._clock() - self._last_commit >= self.interval_s

    def due(self, pending: int, polled: int) -> bool:
        """After a pass: commit now? `pending` inputs wait for a checkpoint; `polled` came in this pass."""
        if not pending:
            return False
        if pending >= self.max_inputs or self.interval_elapsed():
            return True
        return not polled and self._clock() - self._last_input >= self.idle_s
