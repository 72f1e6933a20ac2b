"""The orchestrator process: inbox consumer + transactional producer around PartitionEngines.

One thread drives everything (librdkafka heartbeats in its own threads), so workflow
instances need no locks: each inbox partition is processed serially (docs/design.md §1).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from orchestrator.admin.topic_specs import verify_copartitioned
from orchestrator.config import OrchestratorSettings
from orchestrator.engine.checkpoint import Checkpointer, FaultHook, PartitionSlot
from orchestrator.engine.core import EngineTopics, PartitionEngine
from orchestrator.engine.outbox import CommandRouter
from orchestrator.errors import TransactionAbortableError, TransactionFatalError
from orchestrator.serialization import AvroSerde, SchemaRepository, make_serde
from orchestrator.state import PartitionStore
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.consumer import InboxConsumer
from orchestrator.transport.producer import TransactionalProducer
from orchestrator.transport.records import OutboundRecord
from orchestrator.transport.restore import ChangelogRestorer
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
        command_router: CommandRouter | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.serde = serde or make_serde(
            settings.framing, SchemaRepository(settings.schemas_dir), settings.schema_registry_url
        )
        self.clock = clock
        self.slots: dict[int, PartitionSlot] = {}
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
        self.restore_stats: list[object] = []

    # -- lifecycle ---------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish: final checkpoint, leave the group, close stores."""
        self._stop.set()

    def run(self) -> None:
        s = self.settings
        verify_copartitioned(KafkaAdmin(s.bootstrap_servers, s.kafka), s.inbox_topic, s.changelog_topic)
        self._producer = TransactionalProducer(s.bootstrap_servers, s.transactional_id, s.kafka)
        self._producer.init()
        self._consumer = InboxConsumer(
            s.bootstrap_servers,
            s.group,
            s.inbox_topic,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
            extra_config=s.kafka,
        )
        self._checkpointer = Checkpointer(self._producer, self._consumer, s.changelog_topic, self._fault_hook)
        try:
            self._loop()
            self._checkpoint()
        finally:
            self._consumer.close()  # triggers on_revoke: final commit + store close
            for slot in list(self.slots.values()):
                slot.store.close()
            self.slots.clear()
            self._producer.close()

    def _loop(self) -> None:
        assert self._consumer is not None
        interval_s = self.settings.commit_interval_ms / 1000
        last_commit = time.monotonic()
        next_due: int | None = None  # earliest timer of all slots, as of the end of the last pass
        while not self._stop.is_set():
            timeout_s = self._poll_timeout(interval_s, next_due)
            if any(s.inputs for s in self.slots.values()):  # work waits for a commit: not past its deadline
                timeout_s = min(timeout_s, max(0.0, last_commit + interval_s - time.monotonic()))
            records = self._consumer.poll_batch(500, timeout_s)
            now = self.clock()
            for record in records:
                slot = self.slots.get(record.partition)
                if slot is None:  # revoked in this very poll
                    continue
                self._emit(slot.engine.handle(record, slot.txn, now))
                slot.position = record.offset + 1
                slot.inputs += 1
            next_due = None
            for slot in self.slots.values():
                due = slot.engine.next_due_ms(slot.txn)
                if due is not None and due <= now:
                    self._emit(slot.engine.fire_due(slot.txn, now))
                    slot.inputs += 1
                    due = slot.engine.next_due_ms(slot.txn)
                if due is not None and (next_due is None or due < next_due):
                    next_due = due
            pending = sum(s.inputs for s in self.slots.values())
            if pending and (time.monotonic() - last_commit >= interval_s or pending >= self.settings.commit_every):
                self._checkpoint()
                last_commit = time.monotonic()

    def _poll_timeout(self, interval_s: float, next_due_ms: int | None) -> float:
        """Wake for the next timer or the commit interval, whichever comes first.

        `next_due_ms` is the previous pass's figure (no second scan of every slot's timers); an
        abort or a rebalance since then can make it stale by at most one poll, which is capped by
        the commit interval, and the pass after that poll scans afresh.
        """
        until_due = max(0.0, (next_due_ms - self.clock()) / 1000) if next_due_ms is not None else 1.0
        return min(interval_s, until_due, 1.0)

    def _emit(self, records: list[OutboundRecord]) -> None:
        assert self._producer is not None
        try:
            self._producer.produce_all(records)
        except TransactionAbortableError:
            self._abort()

    def _checkpoint(self) -> None:
        assert self._checkpointer is not None
        try:
            self._checkpointer.commit(list(self.slots.values()))
        except TransactionFatalError:
            log.error("producer fenced or fatal error: another instance took over %s", self.settings.transactional_id)
            raise
        except TransactionAbortableError as exc:
            log.warning("checkpoint aborted (%s); rewinding to the last commit", exc)
            self._checkpointer.stats.last_error = str(exc)
            self._abort()

    def _abort(self) -> None:
        assert self._checkpointer is not None
        self._checkpointer.abort(list(self.slots.values()))

    # -- rebalance (docs/design.md §6) -----------------------------------------------------------
    def _on_assign(self, partitions: list[int]) -> None:
        """Restore each partition from the changelog before its first record is fetched.

        This runs inside poll(), so the partition's fetch only starts after the callback
        returns: in effect the inbox partition is paused while its state is restored.
        """
        assert self._consumer is not None
        s = self.settings
        committed = self._consumer.committed_positions(partitions)
        restorer = ChangelogRestorer(s.bootstrap_servers, s.changelog_topic, s.kafka)
        try:
            for p in partitions:
                store = PartitionStore.open(s.partition_dir(p), p)
                stats = restorer.restore(store, p)
                self.restore_stats.append(stats)
                log.info("partition %d restored: %s", p, stats)
                engine = PartitionEngine(
                    topics=self._topics,
                    registry=self.registry,
                    serde=self.serde,
                    partition=p,
                    cache_size=s.cache_size,
                    retention_ms=s.retention_ms,
                    consumer_group=s.group,
                    command_router=self.command_router,
                )
                self.slots[p] = PartitionSlot(
                    partition=p,
                    store=store,
                    engine=engine,
                    txn=store.begin(),
                    committed_position=committed.get(p),
                    position=committed.get(p),
                )
        finally:
            restorer.close()

    def _on_revoke(self, partitions: list[int]) -> None:
        """Commit what we have within a bounded deadline, then close the stores explicitly."""
        assert self._checkpointer is not None
        try:
            self._checkpointer.commit(list(self.slots.values()), timeout_s=self.settings.revoke_commit_timeout_s)
        except TransactionAbortableError as exc:
            log.warning("commit on revoke failed (%s); the next owner replays from the last commit", exc)
            self._abort()
        self._close_slots(partitions)

    def _on_lost(self, partitions: list[int]) -> None:
        """Another instance may already own these: drop, never commit."""
        assert self._producer is not None
        with contextlib.suppress(TransactionAbortableError, TransactionFatalError):
            self._producer.abort()
        for slot in self.slots.values():
            slot.txn = slot.store.begin()
            slot.engine.discard(None)
        self._close_slots(partitions)

    def _close_slots(self, partitions: list[int]) -> None:
        for p in partitions:
            slot = self.slots.pop(p, None)
            if slot is not None:
                slot.store.close()
