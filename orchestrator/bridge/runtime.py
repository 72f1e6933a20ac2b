"""The connector runtime: consume a domain's topics, map, produce to the inbox, exactly once.

Stateless. One consumer group per domain (`<app>-bridge-<domain>`), read_committed; one
transactional producer whose `transactional.id` is `<group>-<instance_id>`, stable, so a restarted
instance fences its zombie. Per checkpoint (every `commit_interval_ms` or `commit_every` events):
the inbox and DLQ records of every event processed since the last checkpoint and the next source
offsets (`send_offsets_to_transaction`) commit in ONE transaction. A crash anywhere replays from
the last committed offsets, and the aborted records were never visible (read_committed), so every
source event takes effect exactly once in the inbox.

Nothing blocks forever, as in the orchestrator (docs/operations.md): transactional calls run under
deadlines the process enforces (transport/producer.py, transport/deadline.py); polls, committed
offsets, seeks and close are guarded by a watchdog (`watch`). A call past its deadline, a fatal
producer error or a commit of unknown outcome is recovered in-process: a new producer under the
same `transactional.id` fences the lost one (deciding its open transaction), the group's committed
offsets are read back (read_committed: stable) and every owned partition is rewound there, so an
uncertain commit is read from Kafka, never guessed. Broker outages are waited out with backoff.

Kafka only through orchestrator/transport/ (SourceConsumer, TransactionalProducer).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from opentelemetry.metrics import MeterProvider

from orchestrator.bridge.mapping import ConnectorConfig, ValueFormat
from orchestrator.bridge.processor import ConnectorStats, EventProcessor
from orchestrator.bridge.routing_hook import EventRouter
from orchestrator.config import OrchestratorSettings
from orchestrator.errors import (
    ConfigurationError,
    InstanceConflictError,
    SchemaRegistryUnavailableError,
    TransactionAbortableError,
    TransactionFatalError,
    TransportError,
)
from orchestrator.metrics import active_provider
from orchestrator.metrics.connector_metrics import ConnectorCounts, ConnectorMetrics
from orchestrator.serialization import AvroSerde, ConfluentSerde, SchemaRepository, SingleObjectSerde, make_serde
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.consumer import GroupTiming
from orchestrator.transport.deadline import NO_WATCH, CallWatch, call_with_deadline
from orchestrator.transport.producer import ProducerRegistrar, TransactionalProducer
from orchestrator.transport.records import OutboundRecord
from orchestrator.transport.source import SourceConsumer, TopicPartitionKey, poll_wait

log = logging.getLogger(__name__)

T = TypeVar("T")
FaultHook = Callable[[str], None]
REGISTRY_BACKOFF_S = 1.0
# Waiting out a broker outage: the pause after each failed attempt (the last one repeats).
RETRY_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
# Recoveries in a row without a commit: another live process shares our transactional.id.
MAX_RECOVERIES_WITHOUT_COMMIT = 5


def connector_group(app: str, domain: str) -> str:
    """The consumer group (and transactional-id prefix) of a domain's connector: stable across
    restarts, so a new instance fences the old one and resumes from its committed offsets."""
    return f"{app}-bridge-{domain}"


def schema_repository(settings: OrchestratorSettings, extra_dirs: Iterable[Path]) -> SchemaRepository:
    """The orchestrator's schemas plus the mapping files' own folders (the domain's events)."""
    roots = [*([settings.schemas_dir] if settings.schemas_dir else []), *extra_dirs]
    return SchemaRepository(roots or None)


def format_serdes(
    settings: OrchestratorSettings, formats: Iterable[ValueFormat], repo: SchemaRepository, needed_by: str
) -> dict[ValueFormat, AvroSerde]:
    """One serde per Avro format in use; Schema Registry framing needs its URL (fails fast without)."""
    wanted = set(formats)
    serdes: dict[ValueFormat, AvroSerde] = {}
    if ValueFormat.AVRO_SINGLE_OBJECT in wanted:
        serdes[ValueFormat.AVRO_SINGLE_OBJECT] = SingleObjectSerde(repo)
    if ValueFormat.AVRO_CONFLUENT in wanted:
        if not settings.schema_registry_url:
            raise ConfigurationError(
                "schema_registry_url",
                f"{needed_by} uses avro-confluent",
                "set SAGABRIDGE_SCHEMA_REGISTRY_URL (or schema_registry_url in the settings file)",
            )
        serdes[ValueFormat.AVRO_CONFLUENT] = ConfluentSerde(repo, settings.schema_registry_url)
    return serdes


def require_topics(settings: OrchestratorSettings, topics: Iterable[str], needed_by: str) -> None:
    """Fail at startup, naming them, when topics the bridge reads or writes do not exist: a missing
    inbox would otherwise abort every transaction, and a missing source would just never deliver.
    Bounded: past `kafka_call_timeout_s` per topic it fails with KafkaCallTimeoutError."""
    admin = KafkaAdmin(settings.bootstrap_servers, settings.client_properties())
    wanted = sorted(set(topics))
    t = settings.kafka_call_timeout_s
    missing = call_with_deadline(
        "topic check",
        t * len(wanted) + 2,
        lambda: [name for name in wanted if admin.partition_count(name, timeout_s=t) is None],
    )
    if missing:
        raise ConfigurationError(
            needed_by,
            f"topic(s) {', '.join(missing)} do not exist",
            "create them (orchestrator topics apply --file topics/<app>.toml) or fix the names in the mapping file",
        )


def cutover_router(
    settings: OrchestratorSettings, config: ConnectorConfig, repo: SchemaRepository, instance: str
) -> EventRouter | None:
    """The file's `[shadow.cutover]` router (orchestrator/shadow), or None for a plain bridge."""
    if not config.shadow.get("cutover"):
        return None
    from orchestrator.shadow.cutover_router import CutoverRouter
    from orchestrator.shadow.settings import shadow_settings

    cutover = shadow_settings(config, f"connector {config.domain}").cutover
    if cutover is None or not cutover.enabled:
        return None
    serde = make_serde(settings.framing, repo, settings.schema_registry_url)
    return CutoverRouter(settings, config, cutover, repo, serde, instance)


class ConnectorRuntime:
    """Runs one domain's mapping until stop(). Not thread-safe: run() drives everything."""

    def __init__(
        self,
        settings: OrchestratorSettings,
        config: ConnectorConfig,
        *,
        inbox_serde: AvroSerde | None = None,
        stats_file: Path | None = None,
        stats_interval_s: float = 30.0,
        fault_hook: FaultHook | None = None,
        watch: CallWatch = NO_WATCH,
        router: EventRouter | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        """`watch` guards the loop thread's broker calls (the orchestrator's or `connectors run`'s
        watchdog); NO_WATCH leaves them to librdkafka's own timeouts (tests, embedding code).
        `router`: a routing hook; by default the cutover router when the file has `[shadow.cutover]`.
        `meter_provider`: report the committed counters there; None = the process-wide one of
        `metrics.setup_metrics` (`orchestrator run`, `connectors run`), if any."""
        app = config.app or settings.app
        self.settings = settings
        self.config = config
        self.group = connector_group(app, config.domain)
        self.transactional_id = f"{self.group}-{settings.instance_id}"
        self.inbox_topic = f"{app}.inbox"
        self.dlq_topic = config.dlq_topic or f"{app}.dlq"
        repo = schema_repository(settings, config.schemas_dir)
        serde = inbox_serde or make_serde(settings.framing, repo, settings.schema_registry_url)
        self.router = router if router is not None else cutover_router(settings, config, repo, self.transactional_id)
        self.processor = EventProcessor(
            config,
            repo,
            serde,
            self.inbox_topic,
            self.dlq_topic,
            format_serdes(settings, (s.format for s in config.sources), repo, f"connector {config.domain!r}"),
            self.router,
        )
        self.stats = ConnectorStats()  # committed counts only
        self.commits = 0
        self.aborts = 0
        self._pending = ConnectorStats()
        self._positions: dict[TopicPartitionKey, int] = {}
        self._stop = threading.Event()
        self._stats_file = stats_file
        self._stats_interval_s = stats_interval_s
        self._fault_hook = fault_hook
        self._watch = watch
        self._producer: TransactionalProducer | None = None
        self._registrar = ProducerRegistrar(
            settings.bootstrap_servers,
            self.transactional_id,
            settings.client_properties(),
            call_timeout_s=settings.kafka_call_timeout_s,
            transaction_timeout_ms=settings.transaction_timeout_ms,
        )
        self._consumer: SourceConsumer | None = None
        self.producer_recoveries = 0
        self._recoveries_since_commit = 0
        self.running = threading.Event()
        self.first_event_at: float | None = None  # time.monotonic() of the first record consumed
        self._meter_provider = meter_provider
        self.metrics: ConnectorMetrics | None = None  # registered by run()

    def stop(self) -> None:
        """Ask run() to finish: it commits what it has, leaves the group and returns (thread-safe)."""
        self._stop.set()

    def run(self) -> None:
        """Consume, map, produce and commit the source offsets in one transaction, until stop().

        Fails fast, before consuming anything, when a topic it reads or writes does not exist.
        A producer that keeps being fenced (another live instance with the same instance id) ends
        it with InstanceConflictError; a fatal consumer error with ConsumerFatalError.
        """
        s = self.settings
        topics = self.config.source_topics
        if not topics:
            raise ConfigurationError(
                f"connector {self.config.domain}", "no trigger or outcome reads any topic", "add a [[trigger]]"
            )
        require_topics(s, [*topics, self.inbox_topic, self.dlq_topic], f"connector {self.config.domain!r}")
        self.metrics = ConnectorMetrics(active_provider(self._meter_provider), self.committed_counts)
        self._producer = self._retry("registering the transactional producer", self._registrar.register)
        if self.router is not None:
            self.router.start()
            topics = sorted({*topics, *self.config.shadow_relayed_topics()})
        self._consumer = SourceConsumer(
            s.bootstrap_servers,
            self.group,
            topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
            extra_config={**s.client_properties(), "auto.offset.reset": self.config.start_from.value},
            timing=GroupTiming(s.session_timeout_ms, s.heartbeat_interval_ms, s.max_poll_interval_ms),
            call_timeout_s=s.kafka_call_timeout_s,
            watch=self._watch,
        )
        log.info("connector %s: %s -> %s (group %s)", self.config.domain, topics, self.inbox_topic, self.group)
        self.running.set()
        try:
            self._loop()
            self._checkpoint()
        finally:
            try:
                self._consumer.close(s.revoke_commit_timeout_s + 2 * s.kafka_call_timeout_s)
            finally:
                self._producer.close()
                if self.router is not None:
                    self.router.close()
                self._write_stats()
            self.running.clear()

    # -- the loop ------------------------------------------------------------------------
    def _loop(self) -> None:
        assert self._consumer is not None
        interval_s = self.settings.commit_interval_ms / 1000
        last_commit = last_stats = time.monotonic()
        while not self._stop.is_set():
            records = self._consumer.poll_batch(500, poll_wait(interval_s, last_commit, bool(self._positions)))
            if records and self.first_event_at is None:
                self.first_event_at = time.monotonic()
            if self.router is not None:
                self.router.poll()
            try:
                for record in records:
                    out = self.processor.process(record, self._pending)
                    self._produce(out)
                    self._positions[(record.topic, record.partition)] = record.offset + 1
            except SchemaRegistryUnavailableError as exc:
                log.warning("schema registry unavailable (%s): rewinding and retrying", exc)
                self._abort()
                self._stop.wait(REGISTRY_BACKOFF_S)
                continue
            except (TransactionAbortableError, TransactionFatalError) as exc:
                self._roll_back("produce failed", exc)
                continue
            now = time.monotonic()
            if self._positions and (
                now - last_commit >= interval_s or self._pending.events >= self.settings.commit_every
            ):
                self._checkpoint()
                last_commit = time.monotonic()
            if now - last_stats >= self._stats_interval_s:
                last_stats = now
                log.info("connector %s: %s", self.config.domain, json.dumps(self.stats.as_json()))
                self._write_stats()

    def _produce(self, records: list[OutboundRecord]) -> None:
        assert self._producer is not None
        self._producer.produce_all(records)

    def _checkpoint(self, timeout_s: float | None = None) -> None:
        """Commit the produced records with the next source offsets: all within `timeout_s`
        (default `kafka_call_timeout_s`), or rewound; counters count only what committed."""
        assert self._producer is not None and self._consumer is not None
        if not self._positions and not self._producer.in_transaction:
            return
        try:
            self._fault("before_commit")
            self._producer.commit(
                self._consumer.offsets(self._positions),
                self._consumer.group_metadata(),
                timeout_s or self.settings.kafka_call_timeout_s,
            )
            self._fault("after_commit")
        except (TransactionAbortableError, TransactionFatalError) as exc:
            self._roll_back("connector checkpoint aborted", exc)
            return
        self._committed(self._pending)

    def _roll_back(self, what: str, exc: TransactionAbortableError | TransactionFatalError) -> None:
        """Back to the last commit: an abortable error aborts and rewinds; a fatal one (a lost or
        fenced producer, a commit of unknown outcome) replaces the producer first (`_recover`)."""
        if isinstance(exc, TransactionFatalError):
            self._recover(exc)
            return
        log.warning("%s (%s): rewinding to the last commit", what, exc)
        self._abort()

    def _committed(self, counts: ConnectorStats) -> None:
        if self.router is not None:
            self.router.committed()
        self.stats.add(counts)
        self._pending = ConnectorStats()
        self._positions.clear()
        self.commits += 1
        self._recoveries_since_commit = 0

    def _abort(self) -> None:
        """Roll the open transaction back and rewind every owned partition to the committed offsets
        (all of them: a batch cut short by a failed produce has fetched records of partitions it
        never reached)."""
        assert self._producer is not None
        self.aborts += 1
        try:
            self._producer.abort()
        except TransactionAbortableError as exc:
            log.warning("abort failed (%s)", exc)
        except TransactionFatalError as exc:
            self._recover(exc)
            return
        self._forget_batch()
        self._positions.clear()
        self._rewind()

    def _forget_batch(self) -> None:
        """The open transaction is gone: its counts, and the routing decisions it carried."""
        self._pending = ConnectorStats()
        if self.router is not None:
            self.router.aborted()

    # -- recovery ----------------------------------------------------------------------
    def _recover(self, cause: TransactionFatalError, rewind: bool = True) -> None:
        """Fence and replace the producer, then read back what the last commit did and rewind.

        The open transaction's outcome is decided by the new producer's init; if the group's
        committed offsets are now exactly our uncommitted positions, that commit landed, and its
        counts are added. `rewind` False (partitions being lost): only the producer is replaced.
        """
        assert self._consumer is not None
        if self._recoveries_since_commit >= MAX_RECOVERIES_WITHOUT_COMMIT:
            raise InstanceConflictError(
                f"connector {self.config.domain!r}: {self._recoveries_since_commit} producer recoveries in a row "
                f"without a commit (last: {cause}); another process probably runs with transactional.id "
                f"{self.transactional_id!r}. Fix: give every instance its own instance_id"
            ) from cause
        self._recoveries_since_commit += 1
        self.producer_recoveries += 1
        self.aborts += 1
        log.warning(
            "connector %s: %s: %s; fencing the producer %s and rewinding to the committed offsets",
            self.config.domain,
            type(cause).__name__,
            cause,
            self.transactional_id,
        )
        old = self._producer
        if old is not None and not old.lost:
            with contextlib.suppress(TransactionAbortableError, TransactionFatalError):
                old.close(1.0)
        self._producer = self._retry("registering a new transactional producer", self._registrar.register)
        pending, positions = self._pending, dict(self._positions)
        self._pending = ConnectorStats()
        self._positions.clear()
        if not rewind and not positions:
            if self.router is not None:
                self.router.aborted()
            return
        consumer = self._consumer
        keys = sorted({*positions, *(consumer.assigned() if rewind else ())})
        committed = self._retry("committed offsets", lambda: consumer.committed(keys))
        if positions and all(committed.get(k) == offset for k, offset in positions.items()):
            log.info("connector %s: the uncertain commit did land; counting it", self.config.domain)
            self._committed(pending)
        elif self.router is not None:
            self.router.aborted()
        if rewind:
            self._rewind(committed)

    def _rewind(self, committed: dict[TopicPartitionKey, int] | None = None) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        keys = consumer.assigned()
        known = (
            committed if committed is not None else self._retry("committed offsets", lambda: consumer.committed(keys))
        )
        consumer.rewind({k: known.get(k) for k in keys})

    def _retry(self, what: str, fn: Callable[[], T]) -> T:
        """Call `fn` until it succeeds, each attempt bounded by its own deadline; broker outages are
        waited out with backoff (a progress scope for the watch). A stop request ends the waiting
        with the last error."""
        with self._watch.guard(f"retrying: {what}", math.inf):
            attempt = 0
            while True:
                try:
                    return fn()
                except TransportError as exc:
                    attempt += 1
                    if self._stop.is_set():
                        raise
                    delay = RETRY_BACKOFF_S[min(attempt - 1, len(RETRY_BACKOFF_S) - 1)]
                    log.warning("connector %s: %s failed (attempt %d: %s); retrying in %.1fs",
                                self.config.domain, what, attempt, exc, delay)  # fmt: skip
                    self._stop.wait(delay)

    # -- rebalance -----------------------------------------------------------------------
    def _on_assign(self, partitions: list[TopicPartitionKey]) -> None:
        log.info("connector %s assigned %s", self.config.domain, partitions)
        if self.router is not None:
            self.router.on_assign()  # where did the previous owner switch? (before its next record)

    def _on_revoke(self, partitions: list[TopicPartitionKey]) -> None:
        """Commit what we have within the revoke deadline; the next owner resumes from there."""
        with self._watch.guard("rebalance callback: revoke", math.inf):
            self._checkpoint(timeout_s=self.settings.revoke_commit_timeout_s)

    def _on_lost(self, partitions: list[TopicPartitionKey]) -> None:
        """Another instance may own these already: never commit, drop the open transaction."""
        assert self._producer is not None
        self._forget_batch()
        self._positions.clear()
        with self._watch.guard("rebalance callback: lost", math.inf):
            try:
                self._producer.abort()
            except TransactionAbortableError as exc:
                log.warning("abort after lost partitions failed (%s)", exc)
            except TransactionFatalError as exc:
                self._recover(exc, rewind=False)

    # -- observability -------------------------------------------------------------------
    def committed_counts(self) -> ConnectorCounts:
        """The committed counters, copied (a metrics scrape reads them from its own thread)."""
        s = self.stats
        return ConnectorCounts(
            domain=self.config.domain,
            events=s.events,
            matched=s.matched,
            filtered=s.filtered,
            dead_lettered=s.dead_lettered,
            by_trigger=dict(s.by_trigger),
            by_reason=dict(s.by_reason),
            commits=self.commits,
            aborts=self.aborts,
            producer_recoveries=self.producer_recoveries,
        )

    def stats_json(self) -> dict[str, object]:
        """The committed counters with the connector's identity (`--stats-file`, the final line of `connectors run`)."""
        return {
            "connector": self.config.domain,
            "group": self.group,
            "commits": self.commits,
            "aborts": self.aborts,
            "producer_recoveries": self.producer_recoveries,
            **self.stats.as_json(),
            **({"cutover": self.router.stats_json()} if self.router is not None else {}),
        }

    def _write_stats(self) -> None:
        if self._stats_file is None:
            return
        tmp = self._stats_file.with_suffix(self._stats_file.suffix + ".tmp")
        tmp.write_text(json.dumps(self.stats_json(), indent=2) + "\n")
        tmp.replace(self._stats_file)

    def _fault(self, stage: str) -> None:
        if self._fault_hook is not None:
            self._fault_hook(stage)


__all__ = ["ConnectorRuntime", "connector_group", "format_serdes", "require_topics", "schema_repository"]
