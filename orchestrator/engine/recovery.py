"""The runner's in-process recovery: what a restart would heal, healed without one (docs/operations.md).

- A transactional call past its deadline, a fatal producer error, or a commit whose outcome is
  unknown: a new producer under the same transactional.id fences the old one (its
  init_transactions aborts the open transaction, or completes one the broker had already decided
  to commit), then every owned partition is resynced from Kafka as if freshly assigned: the
  changelog tail restored, the group's committed offsets read back, the inbox rewound. So the
  outcome of an uncertain commit is read from Kafka, never guessed.
- A fatal consumer error (a fenced static member): the partitions are dropped with the old member,
  the transaction rolled back, and a new consumer joins under the same group.instance.id.
- Broker calls made meanwhile wait out an outage with backoff, each attempt bounded by its own
  deadline; refused credentials are not an outage and end the waiting at once.

Repeated recoveries that never get back to a successful commit, or a member fenced again and again,
mean another process runs with our instance id: InstanceConflictError ends the process.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from orchestrator.errors import (
    ChangelogRestoreError,
    ConsumerFatalError,
    InstanceConflictError,
    TransactionAbortableError,
    TransactionFatalError,
    TransportError,
)

if TYPE_CHECKING:
    from orchestrator.engine.runner import Orchestrator

log = logging.getLogger(__name__)

T = TypeVar("T")

# Recoveries in a row without one successful commit in between: past this, something other than a
# broker outage fences us each time (another process with our instance id), so we stop.
MAX_RECOVERIES_WITHOUT_COMMIT = 5
# Fenced static member replaced this many times within minutes of each other: a real duplicate.
MAX_CONSUMER_FENCES = 3
RETRY_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
# Errors that mean "the broker is not answering (yet)": retried with backoff, never fatal.
_RETRIABLE = (TransportError, ChangelogRestoreError)


@dataclass
class RecoveryStats:
    """What the process did to heal itself; logged, and published in the liveness file."""

    producer_recoveries: int = 0
    recoveries_since_commit: int = 0
    last_recovery_cause: str | None = None
    last_recovery_s: float | None = None
    total_recovery_s: float = 0.0
    consumer_replacements: int = 0
    fenced_owners: int = 0
    retried_calls: int = 0
    handovers: int = 0
    last_assign_s: float | None = None


class Recovery:
    """Replaces the runner's lost clients and resyncs its partitions; the runner's loop thread only."""

    def __init__(self, runner: Orchestrator) -> None:
        self._runner = runner
        self.stats = RecoveryStats()
        self._last_consumer_replacement: float | None = None
        self._consumer_fence_streak = 0

    def replace_consumer(self, cause: ConsumerFatalError) -> None:
        """A fatal consumer error: do what a restart would, in-process. The partitions are gone with
        the old member: drop them (never commit), roll the transaction back, join again under the
        same group.instance.id (the broker then replaces the stale member and, sticky, gives the
        partitions back). A member fenced again and again within minutes is a real duplicate."""
        r = self._runner
        assert r._consumer is not None and r._checkpointer is not None
        rec = self.stats
        now = time.monotonic()
        recent = self._last_consumer_replacement is not None and now - self._last_consumer_replacement < 120
        self._consumer_fence_streak = self._consumer_fence_streak + 1 if recent and cause.fenced_instance else 1
        if self._consumer_fence_streak > MAX_CONSUMER_FENCES:
            raise InstanceConflictError(
                f"the group member {r.settings.group_instance_id!r} was fenced {self._consumer_fence_streak} times "
                f"within minutes ({cause}); another process runs with instance id {r.settings.instance_id!r}. "
                f"Fix: give every instance its own instance_id"
            ) from cause
        self._last_consumer_replacement = now
        rec.consumer_replacements += 1
        rec.last_recovery_cause = f"{type(cause).__name__}: {cause}"
        log.warning(
            "recovery: %s; dropping partitions %s and joining again as %s",
            rec.last_recovery_cause,
            sorted(r.slots),
            r.settings.group_instance_id,
        )
        r._close_slots(sorted(r.slots))
        r._abort()
        r._consumer.abandon(r.settings.kafka_call_timeout_s)
        r._consumer = r._new_consumer()
        r._checkpointer.consumer = r._consumer
        r.liveness.beat(force=True)

    def replace_producer(self, cause: BaseException) -> None:
        """Fence and replace the producer, then resync every owned partition from Kafka."""
        r = self._runner
        assert r._checkpointer is not None
        rec = self.stats
        if rec.recoveries_since_commit >= MAX_RECOVERIES_WITHOUT_COMMIT:
            raise InstanceConflictError(
                f"{rec.recoveries_since_commit} producer recoveries in a row without a successful commit "
                f"(last: {cause}); another process probably runs with instance id "
                f"{r.settings.instance_id!r}. Fix: give every instance its own instance_id"
            ) from cause
        r.rollbacks += 1
        rec.producer_recoveries += 1
        rec.recoveries_since_commit += 1
        rec.last_recovery_cause = f"{type(cause).__name__}: {cause}"
        number, started = rec.producer_recoveries, time.monotonic()
        log.warning(
            "recovery #%d: %s; fencing the producer %s and resyncing partitions %s from Kafka",
            number,
            rec.last_recovery_cause,
            r.settings.transactional_id,
            sorted(r.slots),
        )
        old = r._producer
        if old is not None and not old.lost:
            with contextlib.suppress(TransactionAbortableError, TransactionFatalError):
                old.close(1.0)
        r._producer = self.retry("registering a new transactional producer", r._new_producer)
        r._checkpointer.producer = r._producer
        self._resync(sorted(r.slots))
        elapsed = time.monotonic() - started
        rec.last_recovery_s = round(elapsed, 3)
        rec.total_recovery_s = round(rec.total_recovery_s + elapsed, 3)
        log.warning("recovery #%d done in %.2fs: producer re-registered, partitions resynced", number, elapsed)
        r.liveness.beat(force=True)

    def _resync(self, partitions: list[int]) -> None:
        """Treat owned partitions as freshly assigned: drop every in-memory run and buffered write,
        restore the changelog tail (whatever an uncertain commit did commit), read the committed
        inbox offsets back and seek there."""
        r = self._runner
        assert r._consumer is not None
        if not partitions:
            return
        committed = self.retry("committed offsets", lambda: r._consumer_committed(partitions))
        with r._restorer() as restorer:
            for p in partitions:
                slot = r.slots[p]
                slot.txn = slot.store.begin()
                stats = r._restore(restorer, slot.store, p)
                r._restored(stats)
                slot.engine.close()  # its runs leave the process-wide cache bound (LiveRuns)
                slot.engine = r._new_engine(p)
                slot.committed_position = slot.position = committed.get(p)
                slot.inputs = 0
        r._consumer.rewind({p: committed.get(p) for p in partitions})

    def retry(self, what: str, fn: Callable[[], T]) -> T:
        """Call `fn` until it succeeds; broker unavailability is waited out (the promise is to survive
        outages of the broker), each attempt bounded by its own deadline, with backoff. A stop request
        ends the waiting with the last error."""
        with self._runner.watchdog.progress(f"retrying: {what}"):
            return self._retry_loop(what, fn)

    def _retry_loop(self, what: str, fn: Callable[[], T]) -> T:
        r = self._runner
        attempt = 0
        while True:
            try:
                return fn()
            except _RETRIABLE as exc:
                r.auth.raise_if_refused()  # refused credentials are not an outage: waiting cannot fix them
                attempt += 1
                self.stats.retried_calls += 1
                if r._stop.is_set():
                    raise
                delay = RETRY_BACKOFF_S[min(attempt - 1, len(RETRY_BACKOFF_S) - 1)]
                log.warning("%s failed (attempt %d: %s); retrying in %.1fs", what, attempt, exc, delay)
                r.liveness.beat()
                r._stop.wait(delay)
