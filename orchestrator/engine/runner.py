"""The orchestrator process: inbox consumer + transactional producer around PartitionEngines.

One thread drives everything (librdkafka heartbeats in its own threads), so workflow
instances need no locks: each inbox partition is processed serially (docs/design.md §1).

Nothing here blocks forever (docs/operations.md):
- every transactional call has a deadline the process enforces (transport/deadline.py); a call
  past it, a fatal producer or consumer error, or a commit whose outcome is unknown is healed in
  the process, the outcome of an uncertain commit read back from Kafka (engine/recovery.py);
- loop-thread calls (polls, committed offsets, seeks, close, the restore consumer) are guarded by
  a watchdog that ends the process (status 70) if one stays blocked past its deadline and grace;
- the loop rewrites a liveness file (engine/liveness.py) that goes stale when it is stuck;
- a broker that keeps refusing our credentials is not an outage: every client reports its errors to
  an AuthenticationWatch (transport/auth_watch.py), and the retries and the loop end the process
  with KafkaAuthenticationError (exit status 2, the settings and the fix named) instead of waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from opentelemetry.metrics import MeterProvider

from orchestrator.admin.topic_specs import verify_copartitioned
from orchestrator.config import OrchestratorSettings
from orchestrator.engine.cache import LiveRuns
from orchestrator.engine.checkpoint import Checkpointer, FaultHook, PartitionSlot
from orchestrator.engine.commit_schedule import CommitSchedule
from orchestrator.engine.core import EngineTopics, PartitionEngine
from orchestrator.engine.liveness import LivenessFile
from orchestrator.engine.outbox import CommandRouter
from orchestrator.engine.recovery import Recovery
from orchestrator.engine.watchdog import StuckHandler, Watchdog, exit_stuck
from orchestrator.errors import (
    ConsumerFatalError,
    GroupDescribeError,
    TransactionAbortableError,
    TransactionFatalError,
)
from orchestrator.metrics import active_provider, installed_pipeline
from orchestrator.metrics.orchestrator_metrics import CheckpointOutcome, OrchestratorMetrics
from orchestrator.serialization import AvroSerde, SchemaRepository, make_serde
from orchestrator.state import PartitionStore, StoreMemory
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.auth_watch import AuthenticationWatch
from orchestrator.transport.consumer import GroupTiming, InboxConsumer
from orchestrator.transport.preflight import verify_connection
from orchestrator.transport.producer import ProducerRegistrar, TransactionalProducer, fence
from orchestrator.transport.records import InboundRecord, OutboundRecord
from orchestrator.transport.restore import ChangelogRestorer, RestoreStats
from orchestrator.workflow import WorkflowRegistry

log = logging.getLogger(__name__)

Clock = Callable[[], int]


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class Orchestrator:
    """Runs workflows for the inbox partitions this instance is assigned."""

    def __init__(
        self,
        settings: OrchestratorSettings,
        registry: WorkflowRegistry,
        serde: AvroSerde | None = None,
        clock: Clock = wall_clock_ms,
        fault_hook: FaultHook | None = None,
        on_stuck: StuckHandler = exit_stuck,
        command_router: CommandRouter | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        """`meter_provider`: record metrics there; None = OTel's global one if metrics are set up
        (orchestrator.metrics.setup_metrics, which `orchestrator run` calls), else none at all."""
        self.settings = settings
        self.registry = registry
        self.serde = serde or make_serde(
            settings.framing, SchemaRepository(settings.schemas_dir), settings.schema_registry_url
        )
        self.clock = clock
        self.slots: dict[int, PartitionSlot] = {}
        # One memory budget for every partition this process owns, however many the group hands it.
        self.live_runs = LiveRuns(settings.cache_size)
        self.store_memory = StoreMemory(settings.rocksdb)
        self._stop = threading.Event()
        self._fault_hook = fault_hook
        self.command_router = command_router  # native participants (orchestrator/bridge/outbound.py)
        self._topics = EngineTopics(
            inbox=settings.inbox_topic,
            events=settings.events_topic,
            dlq=settings.dlq_topic,
            command_topic_template=settings.command_topic_template,
            service_topics=dict(settings.service_topics),
            app=settings.app,
        )
        self._producer: TransactionalProducer | None = None
        self._consumer: InboxConsumer | None = None
        self._checkpointer: Checkpointer | None = None
        self.restore_stats: list[RestoreStats] = []
        self._recoverer = Recovery(self)
        self.recovery = self._recoverer.stats
        self.watchdog = Watchdog(settings.stuck_call_grace_s, on_stuck)
        self.liveness = LivenessFile(settings.liveness_file, settings.liveness_interval_s, self.status)
        self.passes = 0
        self.rollbacks = 0  # aborts + recoveries: a batch in hand is dropped when this moves
        self._admin: KafkaAdmin | None = None
        self._meter_provider = meter_provider
        self.metrics = self._new_metrics(None)  # off until run() resolves the provider
        # Every client gets the same properties: the security settings, then the `kafka` pass-through.
        self._kafka = settings.client_properties()
        self.auth = AuthenticationWatch(settings.bootstrap_servers, component="orchestrator")
        self._registrar = ProducerRegistrar(
            settings.bootstrap_servers,
            settings.transactional_id,
            self._kafka,
            call_timeout_s=settings.kafka_call_timeout_s,
            transaction_timeout_ms=settings.transaction_timeout_ms,
            on_error=self.auth.observe,
            # Records count only at the checkpoint, whose flush sends them at once: batching them
            # for up to an interval costs no latency and cuts produce requests (docs/configuration.md).
            linger_ms=settings.commit_interval_ms,
        )

    # -- lifecycle ---------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish: final checkpoint, leave the group, close stores."""
        self._stop.set()

    def status(self) -> dict[str, Any]:
        """Counters for the liveness file and for operators (a chaos audit reads recovery times here)."""
        stats = self._checkpointer.stats if self._checkpointer is not None else None
        return {
            "instance": self.settings.transactional_id,
            "passes": self.passes,
            "partitions": sorted(self.slots),
            "commits": stats.commits if stats else 0,
            "aborts": stats.aborts if stats else 0,
            "cached_runs": len(self.live_runs),
            "stuck_calls": self.watchdog.stuck_calls,
            **asdict(self.recovery),
            **self._metrics_endpoint(),
        }

    @staticmethod
    def _metrics_endpoint() -> dict[str, str]:
        pipeline = installed_pipeline()
        return {"metrics_url": pipeline.endpoint.url} if pipeline is not None and pipeline.endpoint else {}

    def _new_metrics(self, provider: MeterProvider | None) -> OrchestratorMetrics:
        s = self.settings
        topics = {"inbox_topic": s.inbox_topic, "changelog_topic": s.changelog_topic}
        return OrchestratorMetrics(provider, **topics, group=s.group)

    def _sample_metrics(self) -> None:
        """The gauges' once-a-second snapshot (docs/metrics.md); loop thread only."""
        assert self._consumer is not None and self._checkpointer is not None
        partitions = sorted(self.slots)
        self.metrics.sample(
            owned=len(partitions),
            lag=self._consumer.lag(partitions),
            cached=sum(len(slot.engine.cache) for slot in self.slots.values()),
            totals={**asdict(self.recovery), "changelog_records": self._checkpointer.stats.changelog_records},
        )

    def run(self) -> None:
        s = self.settings
        self.metrics = self._new_metrics(active_provider(self._meter_provider))
        self.watchdog.start()
        self.liveness.beat(force=True)
        try:
            # A refused password or an untrusted CA fails here, typed and naming the setting; past
            # this point broker trouble is waited out as an outage (see _retry).
            with self.watchdog.guard("startup: connection check", s.connect_timeout_s + s.kafka_call_timeout_s):
                verify_connection(s.bootstrap_servers, self._kafka, s.connect_timeout_s, component="orchestrator")
            with self.watchdog.guard("startup: topic check", 3 * s.kafka_call_timeout_s + 10):
                verify_copartitioned(self._kafka_admin(), s.inbox_topic, s.changelog_topic)
            self._producer = self._recoverer.retry("registering the transactional producer", self._new_producer)
            self._consumer = self._new_consumer()
            self._checkpointer = Checkpointer(self._producer, self._consumer, s.changelog_topic, self._fault_hook)
            self._loop()
            self._checkpoint()
        finally:
            self._close()

    def _new_consumer(self) -> InboxConsumer:
        s = self.settings
        return InboxConsumer(
            s.bootstrap_servers,
            s.group,
            s.inbox_topic,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
            extra_config=self._kafka,
            group_instance_id=s.group_instance_id,
            timing=GroupTiming(s.session_timeout_ms, s.heartbeat_interval_ms, s.max_poll_interval_ms),
            call_timeout_s=s.kafka_call_timeout_s,
            watch=self.watchdog,
            on_error=self.auth.observe,
        )

    def _close(self) -> None:
        """Leave the group (its revoke callback makes the final commit), close stores and the producer.
        Bounded: each step is guarded, and the CLI arms a hard deadline over the whole shutdown."""
        s = self.settings
        try:
            if self._consumer is not None:
                self._consumer.close(s.revoke_commit_timeout_s + 2 * s.kafka_call_timeout_s)
        finally:
            for slot in list(self.slots.values()):
                slot.store.close()
            self.slots.clear()
            if self._producer is not None:
                self._producer.close()
            self.watchdog.stop()
            self.metrics.close()

    def _loop(self) -> None:
        assert self._consumer is not None
        s = self.settings
        schedule = CommitSchedule(s.commit_interval_ms, s.commit_idle_ms, s.commit_every)
        next_due: int | None = None  # earliest timer of all slots, as of the end of the last pass
        while not self._stop.is_set():
            self.passes += 1
            self.liveness.beat()
            if self.metrics.due():
                self._sample_metrics()
            pending = self._pending()
            timeout_s = schedule.poll_timeout(pending, self._wake_timeout(schedule.interval_s, next_due))
            try:
                records = self._consumer.poll_batch(500, timeout_s)
            except ConsumerFatalError as exc:
                self._recoverer.replace_consumer(exc)
                continue
            self.metrics.consumed(records)
            self.auth.raise_if_refused()  # an idle loop would otherwise poll a refusing broker forever
            if records:
                schedule.received()
            self._handle(records, schedule)
            next_due = self._fire_timers()
            if schedule.due(self._pending(), len(records)):
                self._checkpoint()
                schedule.committed()

    def _pending(self) -> int:
        return sum(slot.inputs for slot in self.slots.values())

    def _handle(self, records: list[InboundRecord], schedule: CommitSchedule) -> None:
        """Feed a poll batch to the engines; checkpoint in between when the commit interval ends, so
        a large batch never holds the commands of its first records back past the interval."""
        now = self.clock()
        rollbacks = self.rollbacks
        for record in records:
            slot = self.slots.get(record.partition)
            if slot is None:  # revoked in this very poll
                continue
            self._emit(slot.engine.handle(record, slot.txn, now))
            if self.rollbacks != rollbacks:
                return  # rolled back: the rest of the batch is fetched again from the committed offsets
            slot.position = record.offset + 1
            slot.inputs += 1
            if schedule.interval_elapsed():
                self._checkpoint()
                schedule.committed()
                if self.rollbacks != rollbacks:
                    return  # aborted or recovered: the inbox was rewound to the committed offsets
                now = self.clock()

    def _fire_timers(self) -> int | None:
        """Run every timer that is due; returns the earliest timer still to come."""
        now = self.clock()
        next_due: int | None = None
        for slot in self.slots.values():
            due = slot.engine.next_due_ms(slot.txn)
            if due is not None and due <= now:
                self._emit(slot.engine.fire_due(slot.txn, now))
                slot.inputs += 1
                due = slot.engine.next_due_ms(slot.txn)
            if due is not None and (next_due is None or due < next_due):
                next_due = due
        return next_due

    def _wake_timeout(self, interval_s: float, next_due_ms: int | None) -> float:
        """Wake for the next timer or the commit interval, whichever comes first.

        `next_due_ms` is the previous pass's figure (no second scan of every slot's timers); an
        abort or a rebalance since then can make it stale by at most one poll, which is capped by
        the commit interval, and the pass after that poll scans afresh.
        """
        until_due = max(0.0, (next_due_ms - self.clock()) / 1000) if next_due_ms is not None else 1.0
        return min(interval_s, until_due, 1.0)

    def _emit(self, records: list[OutboundRecord]) -> None:
        assert self._producer is not None
        self.metrics.sent(records)
        try:
            self._producer.produce_all(records)
        except TransactionAbortableError as exc:
            log.warning("produce failed (%s); rolling back to the last commit", exc)
            self._abort()
        except TransactionFatalError as exc:
            self._recoverer.replace_producer(exc)

    def _checkpoint(self, timeout_s: float | None = None, leaving: list[int] | None = None) -> None:
        """Commit every dirty partition. `leaving`: partitions being revoked; whatever happens they are
        closed before any rollback, so a rollback never rewinds or resyncs a partition we give away."""
        assert self._checkpointer is not None
        started, commits = time.perf_counter(), self._checkpointer.stats.commits
        try:
            self._checkpointer.commit(list(self.slots.values()), timeout_s)
        except TransactionAbortableError as exc:
            self.metrics.checkpoint(time.perf_counter() - started, CheckpointOutcome.ABORTED)
            log.warning("checkpoint aborted (%s); rewinding to the last commit", exc)
            self._checkpointer.stats.last_error = str(exc)
            self._close_slots(leaving or [])
            self._abort()
        except TransactionFatalError as exc:
            self.metrics.checkpoint(time.perf_counter() - started, CheckpointOutcome.FATAL)
            self._checkpointer.stats.last_error = str(exc)
            self._close_slots(leaving or [])
            self._recoverer.replace_producer(exc)
        else:
            if self._checkpointer.stats.commits != commits:  # not a no-op (nothing was dirty)
                self.metrics.checkpoint(time.perf_counter() - started, CheckpointOutcome.COMMITTED)
            self.recovery.recoveries_since_commit = 0
            self.auth.succeeded()
            self._close_slots(leaving or [])

    def _abort(self) -> None:
        assert self._checkpointer is not None
        self.rollbacks += 1
        try:
            self._checkpointer.abort(list(self.slots.values()))
        except (TransactionAbortableError, TransactionFatalError) as exc:
            self._recoverer.replace_producer(exc)

    # -- clients, and what recovery (engine/recovery.py) rebuilds with ------------------------
    def _new_producer(self) -> TransactionalProducer:
        """A producer registered under our transactional.id (fences any earlier one; see ProducerRegistrar)."""
        return self._registrar.register()

    def _restored(self, stats: RestoreStats) -> None:
        self.restore_stats.append(stats)
        self.metrics.restored(stats.seconds, stats.records)

    def _restore(self, restorer: ChangelogRestorer, store: PartitionStore, partition: int) -> RestoreStats:
        return self._recoverer.retry(f"restore of partition {partition}", lambda: restorer.restore(store, partition))

    def _committed_owners(self, partitions: list[int]) -> dict[int, tuple[int, str | None]]:
        assert self._consumer is not None
        return self._consumer.committed(partitions)

    def _fence_departed_owners(self, committed: dict[int, tuple[int, str | None]]) -> bool:
        """Fence the previous owners of newly assigned partitions that are no longer group members.

        A SIGKILLed instance leaves its transaction open; read_committed readers (the services on
        their command topics, our own restore) wait behind it until the broker aborts it after
        transaction_timeout_ms plus its check interval. Its transactional.id is in the offset
        metadata of its last commit: registering that id aborts the transaction at once. Only for
        owners gone from the group (a live one, losing a partition to a cooperative rebalance, is
        never touched); without static membership liveness cannot be told, so nothing is fenced.
        """
        s = self.settings
        mine = f"{s.group}-"
        owners = {owner for _o, owner in committed.values() if owner and owner.startswith(mine)}
        owners.discard(s.transactional_id)
        if not owners or not s.static_membership:
            return False
        try:
            with self.watchdog.guard("describe consumer group", s.kafka_call_timeout_s + 2):
                live = self._kafka_admin().group_instance_ids(s.group, s.kafka_call_timeout_s)
        except GroupDescribeError as exc:
            log.warning("cannot tell whether %s left the group (%s): not fencing them", owners, exc)
            return False
        departed = sorted(owners - live)
        for owner in departed:
            partitions = sorted(p for p, (_o, who) in committed.items() if who == owner)
            try:
                fence(s.bootstrap_servers, owner, self._kafka, s.kafka_call_timeout_s, on_error=self.auth.observe)
            except (TransactionAbortableError, TransactionFatalError) as exc:
                log.warning("fencing %s (departed, owned %s) failed: %s", owner, partitions, exc)
                continue
            self.recovery.fenced_owners += 1
            log.info("fenced %s, departed owner of %s: its open transaction is aborted now", owner, partitions)
        return bool(departed)

    def _kafka_admin(self) -> KafkaAdmin:
        if self._admin is None:
            self._admin = KafkaAdmin(self.settings.bootstrap_servers, self._kafka, on_error=self.auth.observe)
        return self._admin

    def _consumer_committed(self, partitions: list[int]) -> dict[int, int]:
        assert self._consumer is not None
        return self._consumer.committed_positions(partitions)

    # -- rebalance (docs/design.md §6), incremental: callbacks get only the partitions that change ----
    def _new_engine(self, partition: int) -> PartitionEngine:
        s = self.settings
        return PartitionEngine(
            topics=self._topics,
            registry=self.registry,
            serde=self.serde,
            partition=partition,
            live_runs=self.live_runs,
            retention_ms=s.retention_ms,
            consumer_group=s.group,
            command_router=self.command_router,
            recorder=self.metrics.engine_recorder,
            history_warn_events=s.history_warn_events,
        )

    def _restorer(self) -> ChangelogRestorer:
        s = self.settings
        return ChangelogRestorer(
            s.bootstrap_servers,
            s.changelog_topic,
            self._kafka,
            request_timeout_s=s.kafka_call_timeout_s,
            watch=self.watchdog,
            on_progress=self.liveness.beat,
            on_error=self.auth.observe,
        )

    def _on_assign(self, partitions: list[int]) -> None:
        with self.watchdog.progress("rebalance callback: assign"):
            self._assign_partitions(partitions)

    def _assign_partitions(self, partitions: list[int]) -> None:
        """Restore each added partition from the changelog before its first record is fetched.

        This runs inside poll(), so the partition's fetch only starts after the callback
        returns: in effect the inbox partition is paused while its state is restored. Broker
        trouble during it is retried (bounded per call); the partitions already owned are untouched.
        """
        if not partitions:
            return
        s = self.settings
        started = time.monotonic()
        owners = self._recoverer.retry(
            "committed offsets of new partitions", lambda: self._committed_owners(partitions)
        )
        if self._fence_departed_owners(owners):  # their transactions are decided now: read the offsets again
            owners = self._recoverer.retry(
                "committed offsets of new partitions", lambda: self._committed_owners(partitions)
            )
        committed = {p: offset for p, (offset, _owner) in owners.items()}
        with self._restorer() as restorer:
            for p in partitions:
                store = PartitionStore.open(s.partition_dir(p), p, self.store_memory)
                try:
                    stats = self._restore(restorer, store, p)
                except BaseException:
                    store.close()
                    raise
                self._restored(stats)
                log.info("partition %d restored: %s", p, stats)
                self.slots[p] = PartitionSlot(
                    partition=p,
                    store=store,
                    engine=self._new_engine(p),
                    txn=store.begin(),
                    committed_position=committed.get(p),
                    position=committed.get(p),
                )
        self.recovery.handovers += 1
        self.recovery.last_assign_s = round(time.monotonic() - started, 3)
        self.metrics.handed_over(time.monotonic() - started)
        log.info("assigned %s ready in %.2fs (now own %s)", partitions, self.recovery.last_assign_s, sorted(self.slots))

    def _on_revoke(self, partitions: list[int]) -> None:
        with self.watchdog.progress("rebalance callback: revoke"):
            self._revoke_partitions(partitions)

    def _revoke_partitions(self, partitions: list[int]) -> None:
        """Commit what we have within a bounded deadline, then close the revoked stores explicitly."""
        if not partitions:
            return
        self._checkpoint(self.settings.revoke_commit_timeout_s, leaving=partitions)
        log.info("revoked partitions %s (now own %s)", partitions, sorted(self.slots))

    def _on_lost(self, partitions: list[int]) -> None:
        with self.watchdog.progress("rebalance callback: lost"):
            self._lost_partitions(partitions)

    def _lost_partitions(self, partitions: list[int]) -> None:
        """Another instance may already own these: drop, never commit. The open transaction may
        hold their work, so it is rolled back for every partition, the kept ones rewound."""
        lost = [p for p in partitions if p in self.slots]
        log.warning("lost partitions %s (session expired or fenced): dropping their uncommitted work", lost)
        self._close_slots(lost)
        self._abort()

    def _close_slots(self, partitions: list[int]) -> None:
        for p in partitions:
            slot = self.slots.pop(p, None)
            if slot is not None:
                slot.engine.close()
                slot.store.close()
