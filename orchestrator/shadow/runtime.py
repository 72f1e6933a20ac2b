"""`orchestrator shadow run`: observe a domain read-only, cases in RocksDB + a compacted changelog.

One consumer in the group `<app>-shadow-<domain>` reads the domain topics AND the observations
topic; one transactional producer writes what both stages produce. Per checkpoint, in ONE
transaction (the engine's checkpoint, design.md §5):

  1. observations of the domain events read since the last checkpoint (keyed by case id, so the
     observations topic is the domain re-partitioned by case);
  2. the changelog records of the cases those observations changed, per observations partition;
  3. the next offsets of every topic read (domain and observations);
  4. commit; only then the case writes go to each partition's RocksDB with the changelog offset.

So a case partition moves with its observations partition (restored from the changelog on
assign, like the engine's), instances share the work by partition, and a crash anywhere replays
from the last commit with nothing counted twice. Nothing is ever written to the domain's topics.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.admin.topic_specs import TopicRole, TopicSet, TopicSpec, apply, verify_copartitioned
from orchestrator.bridge.mapping import ConnectorConfig
from orchestrator.bridge.runtime import format_serdes, schema_repository
from orchestrator.config import OrchestratorSettings
from orchestrator.errors import (
    DecodeError,
    MalformedRecordError,
    SchemaRegistryUnavailableError,
    TransactionAbortableError,
    TransactionFatalError,
)
from orchestrator.models.shadow import Observation
from orchestrator.serialization import AvroSerde, make_serde
from orchestrator.shadow.case_store import Applied, CaseStore
from orchestrator.shadow.names import ShadowNames
from orchestrator.shadow.observe import Observer
from orchestrator.shadow.settings import ShadowSettings
from orchestrator.shadow.stats import ShadowStats
from orchestrator.state import PartitionStore, PendingTxn, partition_path
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.dlq import dead_letter
from orchestrator.transport.producer import TransactionalProducer
from orchestrator.transport.records import InboundRecord
from orchestrator.transport.restore import ChangelogRestorer
from orchestrator.transport.source import SourceConsumer, TopicPartitionKey, poll_wait

log = logging.getLogger(__name__)

REGISTRY_BACKOFF_S = 1.0
WEEK_MS = 7 * 24 * 3600 * 1000


def shadow_topics(names: ShadowNames, partitions: int) -> TopicSet:
    """Observations and changelog are co-partitioned (the case store restores by partition)."""
    return TopicSet(
        app=names.app,
        topics=(
            TopicSpec(
                name=names.observations,
                role=TopicRole.INBOX,
                partitions=partitions,
                config={"cleanup.policy": "delete", "retention.ms": str(WEEK_MS)},
            ),
            TopicSpec(
                name=names.changelog,
                role=TopicRole.CHANGELOG,
                partitions=partitions,
                config={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
            ),
            TopicSpec(
                name=names.dlq,
                role=TopicRole.DLQ,
                partitions=1,
                config={"cleanup.policy": "delete", "retention.ms": str(4 * WEEK_MS)},
            ),
        ),
    )


def ensure_shadow_topics(settings: OrchestratorSettings, names: ShadowNames, partitions: int) -> int:
    """Create what is missing (idempotent), then insist on co-partitioning; returns the partitions."""
    admin = KafkaAdmin(settings.bootstrap_servers, settings.client_properties())
    report = apply(admin, shadow_topics(names, partitions))
    for line in report.lines():
        log.info("shadow topics: %s", line)
    return verify_copartitioned(admin, names.observations, names.changelog)


def _time_order(record: InboundRecord) -> int:
    return record.timestamp_ms


@dataclass
class CaseSlot:
    """One assigned observations partition: its store and the writes since the last checkpoint."""

    partition: int
    store: PartitionStore
    txn: PendingTxn
    cases: CaseStore
    dirty: bool = False

    def reset(self, serde: AvroSerde) -> None:
        """A fresh transaction (after a commit or an abort), and a case store over it."""
        self.txn = self.store.begin()
        self.cases = CaseStore(self.txn, serde)
        self.dirty = False


class ShadowRuntime:
    """Runs shadow mode for one domain until stop(). Not thread-safe: run() drives everything."""

    def __init__(
        self,
        settings: OrchestratorSettings,
        config: ConnectorConfig,
        shadow: ShadowSettings,
        *,
        stats_file: Path | None = None,
        stats_interval_s: float = 30.0,
    ) -> None:
        self.settings = settings
        self.config = config
        self.shadow = shadow
        self.names = ShadowNames(config.app or settings.app, config.domain)
        repo = schema_repository(settings, config.schemas_dir)
        self.serde: AvroSerde = make_serde(settings.framing, repo, settings.schema_registry_url)
        self.observer = Observer(
            config,
            shadow,
            repo,
            self.serde,
            self.names.observations,
            self.names.dlq,
            format_serdes(settings, (s.format for s in config.sources), repo, f"shadow {config.domain!r}"),
        )
        self.grace_ms = int(shadow.grace.total_seconds() * 1000)
        self.stats = ShadowStats()  # committed counts only
        self.commits = 0
        self.aborts = 0
        self.slots: dict[int, CaseSlot] = {}
        self.running = threading.Event()
        self.first_event_at: float | None = None
        self._pending = ShadowStats()
        self._positions: dict[TopicPartitionKey, int] = {}
        self._stop = threading.Event()
        self._stats_file = stats_file
        self._stats_interval_s = stats_interval_s
        self._producer: TransactionalProducer | None = None
        self._consumer: SourceConsumer | None = None

    def stop(self) -> None:
        """Ask run() to commit what it has, leave the group and return (thread-safe)."""
        self._stop.set()

    @property
    def source_topics(self) -> list[str]:
        """Every declared source: shadow sees the whole choreography, not just what the workflow maps."""
        return [s.topic for s in self.config.sources]

    def run(self) -> None:
        """Consume, observe, fold into cases and commit exactly once per checkpoint, until stop()."""
        s = self.settings
        self._producer = TransactionalProducer(
            s.bootstrap_servers, self.names.transactional_id(s.instance_id), s.client_properties()
        )
        self._producer.init()
        self._consumer = SourceConsumer(
            s.bootstrap_servers,
            self.names.group,
            [*self.source_topics, self.names.observations],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
            extra_config={**s.client_properties(), "auto.offset.reset": "earliest"},
        )
        log.info("shadow %s: %s -> %s (group %s)", self.config.domain, self.source_topics, self.names.prefix,
                 self.names.group)  # fmt: skip
        self.running.set()
        try:
            self._loop()
            self._checkpoint()
        finally:
            # on_revoke: final commit + stores closed, within the revoke deadline
            self._consumer.close(s.revoke_commit_timeout_s + 2 * s.kafka_call_timeout_s)
            for slot in list(self.slots.values()):
                slot.store.close()
            self.slots.clear()
            self._producer.close()
            self._write_stats()
            self.running.clear()

    # -- the loop ------------------------------------------------------------------------
    def _loop(self) -> None:
        assert self._consumer is not None and self._producer is not None
        interval_s = self.settings.commit_interval_ms / 1000
        last_commit = last_stats = time.monotonic()
        while not self._stop.is_set():
            records = self._consumer.poll_batch(500, poll_wait(interval_s, last_commit, bool(self._positions)))
            if records and self.first_event_at is None:
                self.first_event_at = time.monotonic()
            try:
                for record in self._in_processing_order(records):
                    self._handle(record)
                    key = (record.topic, record.partition)
                    self._positions[key] = max(self._positions.get(key, 0), record.offset + 1)
            except SchemaRegistryUnavailableError as exc:
                log.warning("schema registry unavailable (%s): rewinding and retrying", exc)
                self._abort()
                self._stop.wait(REGISTRY_BACKOFF_S)
                continue
            except TransactionAbortableError as exc:
                log.warning("produce failed (%s): rewinding to the last commit", exc)
                self._abort()
                continue
            now = time.monotonic()
            if self._positions and (
                now - last_commit >= interval_s or self._pending.events + self._pending.applied >= 5_000
            ):
                self._checkpoint()
                last_commit = time.monotonic()
            if now - last_stats >= self._stats_interval_s:
                last_stats = now
                log.info("shadow %s: %s", self.config.domain, json.dumps(self.stats_json()))
                self._write_stats()

    def _in_processing_order(self, records: list[InboundRecord]) -> list[InboundRecord]:
        """A batch's domain records in time order (reading several topics from a backlog would
        interleave them arbitrarily; stable, so equal times keep offset order), then its
        observations in offset order (their order is the cases' arrival order)."""
        observations = [r for r in records if r.topic == self.names.observations]
        domain = [r for r in records if r.topic != self.names.observations]
        return sorted(domain, key=_time_order) + observations

    def _handle(self, record: InboundRecord) -> None:
        assert self._producer is not None
        if record.topic != self.names.observations:
            self._producer.produce_all(self.observer.observe(record, self._pending))
            return
        slot = self.slots.get(record.partition)
        if slot is None:  # revoked in this very poll
            return
        try:
            if record.value is None:
                raise MalformedRecordError("observation without a value")
            value = self.serde.decode(record.value, Observation.avro_schema_name).value
            observation = Observation.from_avro(value)
        except SchemaRegistryUnavailableError:
            raise
        except (DecodeError, ValueError) as exc:  # not ours (someone wrote to our topic): set it aside
            self._pending.dead_lettered += 1
            self._producer.produce(dead_letter(record, self.names.dlq, exc))
            return
        result = slot.cases.apply(observation, self.grace_ms, record.value)
        slot.dirty = True
        p = self._pending
        if result.applied is Applied.DUPLICATE:
            p.duplicates += 1
            return
        p.applied += 1
        p.cases += int(result.applied is Applied.NEW_CASE)
        p.out_of_order += int(result.out_of_order)
        p.late += int(result.late)

    def _checkpoint(self, timeout_s: float = 30.0) -> None:
        assert self._producer is not None and self._consumer is not None
        dirty = [slot for slot in self.slots.values() if slot.dirty]
        if not self._positions and not dirty and not self._producer.in_transaction:
            return
        try:
            for slot in dirty:
                slot.cases.flush()
                self._producer.produce_all(slot.txn.changelog_records(self.names.changelog, slot.partition))
            self._producer.commit(self._consumer.offsets(self._positions), self._consumer.group_metadata(), timeout_s)
        except TransactionFatalError:
            log.error("shadow producer fenced or fatal: another instance took over")
            raise
        except TransactionAbortableError as exc:
            log.warning("shadow checkpoint aborted (%s); rewinding", exc)
            self._abort()
            return
        for slot in dirty:
            slot.store.apply(slot.txn, self._producer.delivered.get((self.names.changelog, slot.partition)))
            slot.reset(self.serde)
        self.stats.add(self._pending)
        self._pending = ShadowStats()
        self._positions.clear()
        self.commits += 1

    def _abort(self) -> None:
        assert self._producer is not None and self._consumer is not None
        self.aborts += 1
        try:
            self._producer.abort()
        except TransactionAbortableError as exc:
            log.warning("abort failed (%s)", exc)
        self._drop_pending()
        self._positions.clear()
        # Every owned partition, not only the batch's: a batch cut short has fetched past them too.
        keys = self._consumer.assigned()
        committed = self._consumer.committed(keys)
        self._consumer.rewind({k: committed.get(k) for k in keys})  # None: nothing committed, the beginning

    def _drop_pending(self) -> None:
        for slot in self.slots.values():
            slot.reset(self.serde)
        self._pending = ShadowStats()

    # -- rebalance (design.md §6) ----------------------------------------------------------
    def _on_assign(self, partitions: list[TopicPartitionKey]) -> None:
        """Restore each observations partition's cases before its first record is fetched."""
        mine = [p for t, p in partitions if t == self.names.observations]
        if not mine:
            return
        s = self.settings
        restorer = ChangelogRestorer(s.bootstrap_servers, self.names.changelog, s.client_properties())
        try:
            for p in mine:
                store = PartitionStore.open(partition_path(s.state_dir, self.names.group, p), p)
                stats = restorer.restore(store, p)
                log.info("shadow partition %d restored: %s", p, stats)
                txn = store.begin()
                self.slots[p] = CaseSlot(p, store, txn, CaseStore(txn, self.serde))
        finally:
            restorer.close()

    def _on_revoke(self, partitions: list[TopicPartitionKey]) -> None:
        """Commit within the revoke deadline, then close the revoked partitions' stores."""
        self._checkpoint(timeout_s=self.settings.revoke_commit_timeout_s)
        self._close([p for t, p in partitions if t == self.names.observations])

    def _on_lost(self, partitions: list[TopicPartitionKey]) -> None:
        """Another instance may own these already: never commit, drop the open transaction."""
        assert self._producer is not None
        try:
            self._producer.abort()
        except (TransactionAbortableError, TransactionFatalError) as exc:
            log.warning("abort after lost partitions failed (%s)", exc)
        self._drop_pending()
        self._positions.clear()
        self._close([p for t, p in partitions if t == self.names.observations])

    def _close(self, partitions: list[int]) -> None:
        for p in partitions:
            slot = self.slots.pop(p, None)
            if slot is not None:
                slot.store.close()

    # -- observability -------------------------------------------------------------------
    def stats_json(self) -> dict[str, object]:
        """The committed counters with the domain and group (`--stats-file`, the final line of `shadow run`)."""
        return {
            "domain": self.config.domain,
            "group": self.names.group,
            "commits": self.commits,
            "aborts": self.aborts,
            "partitions": sorted(self.slots),
            **self.stats.as_json(),
        }

    def _write_stats(self) -> None:
        if self._stats_file is None:
            return
        tmp = self._stats_file.with_suffix(self._stats_file.suffix + ".tmp")
        tmp.write_text(json.dumps(self.stats_json(), indent=2) + "\n")
        tmp.replace(self._stats_file)


__all__ = ["CaseSlot", "ShadowRuntime", "ensure_shadow_topics", "shadow_topics"]
