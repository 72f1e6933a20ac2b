"""The orchestrator process's metrics, recorded at the runner's edges (engine/runner.py calls in).

The engine core stays free of I/O and of OTel: it hands committed observations to the shared
`LifecycleMetrics`. What only the runner knows is recorded here: records consumed and sent
(messaging semantic conventions), checkpoint durations, restores and hand-overs, and once a second
(`due`/`sample`, on the loop thread, which alone may touch the consumer and the slots) a snapshot
the gauges report at collection time: consumer lag per partition, partitions owned, runs cached,
and the recovery counters of the hang work as deltas (so they stay monotonic across instances).

Instruments are created once per meter provider and shared by every orchestrator of the process
(OTel refuses a second instrument of one name, and one process is one Prometheus target); the
gauges read each live orchestrator's latest snapshot.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from opentelemetry.metrics import Meter, MeterProvider
from opentelemetry.util.types import AttributeValue

from orchestrator import __version__
from orchestrator.engine.observations import EngineRecorder
from orchestrator.metrics import metric_names as m
from orchestrator.metrics.lifecycle_metrics import LifecycleMetrics
from orchestrator.metrics.messaging_metrics import consumed_counter
from orchestrator.metrics.per_provider import PerProvider
from orchestrator.metrics.tally import Tally, reading_gauge, tally_counter
from orchestrator.transport.records import InboundRecord, OutboundRecord

SAMPLE_INTERVAL_S = 1.0


class CheckpointOutcome(StrEnum):
    """How a checkpoint ended (`sagabridge.checkpoint.outcome`)."""

    COMMITTED = "committed"
    ABORTED = "aborted"  # rolled back: its inputs are re-processed from the committed offsets
    FATAL = "fatal"  # the producer was fenced or failed: an in-process recovery follows


_KAFKA = {m.MESSAGING_SYSTEM: m.SYSTEM_KAFKA}


class _Shared:
    """The instruments of one meter provider."""

    def __init__(self, meter: Meter, consumed: Tally) -> None:
        """`consumed`: the process-wide messaging counter of the same provider (messaging_metrics.py)."""
        self.sources: weakref.WeakSet[OrchestratorMetrics] = weakref.WeakSet()
        self.lifecycle = LifecycleMetrics(meter)
        self.consumed = consumed
        self.sent = tally_counter(
            meter,
            m.MESSAGING_SENT,
            "{message}",
            "Records the orchestrator's transactional producer sent (commands, events, changelog, DLQ, ...), "
            "aborted transactions included.",
            (m.MESSAGING_DESTINATION_NAME,),
            {**_KAFKA, m.MESSAGING_OPERATION_NAME: m.OP_SEND},
        )
        self.checkpoint_keys = {outcome: {m.CHECKPOINT_OUTCOME: outcome.value} for outcome in CheckpointOutcome}
        self.checkpoint_duration = meter.create_histogram(
            m.CHECKPOINT_DURATION,
            "s",
            "One exactly-once checkpoint: changelog produce, offsets, commit, RocksDB apply.",
            explicit_bucket_boundaries_advisory=m.CHECKPOINT_BUCKETS,
        )
        self.restore_duration = meter.create_histogram(
            m.RESTORE_DURATION,
            "s",
            "Restoring one partition's store from the changelog (on assignment or after a recovery).",
            explicit_bucket_boundaries_advisory=m.RESTORE_BUCKETS,
        )
        self.restore_records = tally_counter(
            meter, m.RESTORE_RECORDS, "{record}", "Changelog records applied by restores.", ()
        )
        self.handover_duration = meter.create_histogram(
            m.HANDOVER_DURATION,
            "s",
            "From a partition assignment to its partitions being ready (fencing departed owners, restores).",
            explicit_bucket_boundaries_advisory=m.RESTORE_BUCKETS,
        )
        self.recoveries = tally_counter(
            meter,
            m.PRODUCER_RECOVERIES,
            "{recovery}",
            "In-process producer recoveries: the producer fenced and replaced, every partition resynced.",
            (),
        )
        self.recovery_time = tally_counter(
            meter, m.PRODUCER_RECOVERY_TIME, "s", "Time spent in producer recoveries.", ()
        )
        self.replacements = tally_counter(
            meter,
            m.CONSUMER_REPLACEMENTS,
            "{replacement}",
            "Inbox consumers replaced in-process after a fatal consumer error (a fenced static member, ...).",
            (),
        )
        self.fenced = tally_counter(
            meter,
            m.OWNERS_FENCED,
            "{producer}",
            "Departed previous owners of assigned partitions whose open transaction was fenced at once.",
            (),
        )
        self.retries = tally_counter(
            meter,
            m.BROKER_CALL_RETRIES,
            "{call}",
            "Broker calls retried with backoff while the broker did not answer.",
            (),
        )
        reading_gauge(meter, m.CONSUMER_LAG, "{message}", "Inbox records not yet processed, per partition.", self._lag)
        reading_gauge(meter, m.PARTITIONS_OWNED, "{partition}", "Inbox partitions this process owns.", self._owned)
        reading_gauge(meter, m.WORKFLOW_CACHE_SIZE, "{workflow}", "Live workflow runs cached in memory.", self._cached)
        reading_gauge(
            meter,
            m.LOOP_PASS_AGE,
            "s",
            "Seconds since the orchestrator loop last made a pass (a stuck loop grows it; polls wait up to 1 s).",
            self._age,
        )

    def _lag(self) -> Iterable[tuple[float, dict[str, AttributeValue]]]:
        for source in list(self.sources):
            yield from source.lag_points()

    def _owned(self) -> Iterable[tuple[float, dict[str, AttributeValue]]]:
        sources = list(self.sources)
        return [(sum(s.owned for s in sources), {})] if sources else []

    def _cached(self) -> Iterable[tuple[float, dict[str, AttributeValue]]]:
        sources = list(self.sources)
        return [(sum(s.cached for s in sources), {})] if sources else []

    def _age(self) -> Iterable[tuple[float, dict[str, AttributeValue]]]:
        sources = list(self.sources)
        if not sources:
            return []
        now = time.monotonic()
        return [(round(max(now - s.last_pass for s in sources), 3), {})]


_instruments = PerProvider(
    lambda provider: _Shared(provider.get_meter(m.ORCHESTRATOR_METER, __version__), consumed_counter(provider))
)


class OrchestratorMetrics:
    """One orchestrator's recorder; with `provider=None` (metrics off) every method returns at once."""

    def __init__(self, provider: MeterProvider | None, *, inbox_topic: str, changelog_topic: str, group: str) -> None:
        self.enabled = provider is not None
        self._shared = _instruments.get(provider) if provider is not None else None
        self._inbox = inbox_topic
        self._changelog = changelog_topic
        self._group = group
        self._next_sample = 0.0
        self._seen: dict[str, float] = {}  # the cumulative source figures already added to the tallies
        self.last_pass = time.monotonic()
        self.lag: dict[int, int] = {}
        self.owned = 0
        self.cached = 0
        if self._shared is not None:
            self._shared.sources.add(self)

    @property
    def engine_recorder(self) -> EngineRecorder | None:
        """What each PartitionEngine is handed (None: the engine collects nothing)."""
        return self._shared.lifecycle if self._shared is not None else None

    # --- per batch / per checkpoint ---------------------------------------------------------------
    def consumed(self, records: Sequence[InboundRecord]) -> None:
        """Records one poll delivered."""
        if self._shared is None or not records:
            return
        add, group = self._shared.consumed.add, self._group
        for record in records:
            add((record.topic, str(record.partition), group))

    def sent(self, records: Sequence[OutboundRecord]) -> None:
        """Records handed to the producer."""
        if self._shared is None or not records:
            return
        add = self._shared.sent.add
        for record in records:
            add((record.topic,))

    def checkpoint(self, seconds: float, outcome: CheckpointOutcome) -> None:
        """A checkpoint ended."""
        if self._shared is not None:
            self._shared.checkpoint_duration.record(seconds, self._shared.checkpoint_keys[outcome])

    def restored(self, seconds: float, records: int) -> None:
        """One partition's restore finished."""
        if self._shared is not None:
            self._shared.restore_duration.record(seconds)
            self._shared.restore_records.add((), records)

    def handed_over(self, seconds: float) -> None:
        """Newly assigned partitions are ready."""
        if self._shared is not None:
            self._shared.handover_duration.record(seconds)

    # --- once a second, on the loop thread -------------------------------------------------------
    def due(self) -> bool:
        """Called every loop pass: marks the pass; True when a new snapshot should be sampled."""
        now = time.monotonic()
        self.last_pass = now
        if self._shared is None or now < self._next_sample:
            return False
        self._next_sample = now + SAMPLE_INTERVAL_S
        return True

    def sample(self, *, owned: int, lag: Mapping[int, int], cached: int, totals: Mapping[str, Any]) -> None:
        """The gauges' snapshot, and the growth of the runner's cumulative counters since the last one.

        `totals`: the runner's status figures (`producer_recoveries`, `total_recovery_s`,
        `consumer_replacements`, `fenced_owners`, `retried_calls`, `changelog_records`)."""
        shared = self._shared
        if shared is None:
            return
        self.lag = dict(lag)
        self.owned = owned
        self.cached = cached
        for name, tally in (
            ("producer_recoveries", shared.recoveries),
            ("total_recovery_s", shared.recovery_time),
            ("consumer_replacements", shared.replacements),
            ("fenced_owners", shared.fenced),
            ("retried_calls", shared.retries),
        ):
            grown = self._grown(name, totals.get(name))
            if grown:
                tally.add((), grown)
        grown = self._grown("changelog_records", totals.get("changelog_records"))
        if grown:  # produced by the checkpointer, not through `sent`
            shared.sent.add((self._changelog,), grown)

    def _grown(self, name: str, value: object) -> float:
        if not isinstance(value, int | float):
            return 0
        before = self._seen.get(name, 0)
        self._seen[name] = value
        return value - before if value > before else 0

    def lag_points(self) -> list[tuple[float, dict[str, AttributeValue]]]:
        """This orchestrator's lag gauge points (the collecting thread reads the latest snapshot)."""
        return [
            (
                lag,
                {
                    m.MESSAGING_SYSTEM: m.SYSTEM_KAFKA,
                    m.MESSAGING_DESTINATION_NAME: self._inbox,
                    m.MESSAGING_DESTINATION_PARTITION_ID: str(partition),
                    m.MESSAGING_CONSUMER_GROUP_NAME: self._group,
                },
            )
            for partition, lag in sorted(self.lag.items())
        ]

    def close(self) -> None:
        """The orchestrator stopped: its gauges stop reporting."""
        if self._shared is not None:
            self._shared.sources.discard(self)
