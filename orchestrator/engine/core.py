"""PartitionEngine: inbox records and the clock in, state changes and outbound records out.

Pure: no Kafka, no RocksDB. The runner owns the consumer, the transactional producer and the
store; it calls handle() per record and fire_due() when next_due_ms() has passed, produces
what they return together with the StateTxn's changelog, and calls mark_committed() or
discard() depending on how the checkpoint ended.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from orchestrator.engine import run_tracing
from orchestrator.engine.cache import LiveRuns, RunCache
from orchestrator.engine.cancel import Cancellation
from orchestrator.engine.control import ControlHandlers
from orchestrator.engine.correlation import Correlation
from orchestrator.engine.correlation_inbound import SignalWithStartMsg, StepOutcomeMsg
from orchestrator.engine.correlation_store import TIMER_BUFFER, CorrelationStore
from orchestrator.engine.executor import Executor
from orchestrator.engine.inbound import (
    CancelMsg,
    ChildFinishedMsg,
    Inbound,
    OperatorMsg,
    QueryMsg,
    SignalMsg,
    StartMsg,
    decode_inbound,
)
from orchestrator.engine.observations import DEAD_LETTERED, EngineRecorder, Observation
from orchestrator.engine.operator import OperatorHandlers
from orchestrator.engine.outbox import CommandRouter, Outbox
from orchestrator.engine.overlay import OverlayTxn
from orchestrator.engine.state_records import StateCodec
from orchestrator.engine.state_txn import StateTxn
from orchestrator.engine.steps import Reply, StepLogic
from orchestrator.engine.topics import EngineTopics
from orchestrator.engine.turn import EngineStats, Turn
from orchestrator.engine.workflow_store import TIMER_WORKFLOW, WorkflowStore
from orchestrator.errors import DecodeError, SchemaRegistryUnavailableError
from orchestrator.serialization import AvroSerde
from orchestrator.tracing import PendingSpans
from orchestrator.transport.dlq import dead_letter, dlq_reason
from orchestrator.transport.records import InboundRecord, OutboundRecord
from orchestrator.workflow import WorkflowRegistry
from orchestrator.workflow.event_data import TimerFiredData

log = logging.getLogger(__name__)

DAY_MS = 24 * 60 * 60 * 1000
_BATCH = 1_000


class PartitionEngine:
    """The engine of one inbox partition. Not thread-safe: one partition, one caller."""

    def __init__(
        self,
        *,
        topics: EngineTopics,
        registry: WorkflowRegistry,
        serde: AvroSerde,
        partition: int,
        cache_size: int = 10_000,
        live_runs: LiveRuns | None = None,
        retention_ms: int = 7 * DAY_MS,
        max_fired_per_call: int = 10_000,
        consumer_group: str | None = None,
        command_router: CommandRouter | None = None,
        recorder: EngineRecorder | None = None,
        history_warn_events: int | None = None,
    ) -> None:
        """`command_router`: native participants' outbound mapping (orchestrator/bridge/outbound.py);
        None: every command is a participant-protocol command. `recorder`: gets what each committed
        checkpoint made true (metrics); None: nothing is collected. `history_warn_events`: the
        history length at which a run logs a warning and is told to continue as new (None: never).
        `live_runs`: the process's bound on cached runs, shared with its other partitions (the
        runner's); None: a cache of its own of `cache_size` runs."""
        self.topics = topics
        self.serde = serde
        self.partition = partition
        self.retention_ms = retention_ms
        self.max_fired_per_call = max_fired_per_call
        self.codec = StateCodec(serde)
        self.cache = RunCache(cache_size, shared=live_runs)
        self.stats = EngineStats()
        self._executor = Executor(registry, self.cache, self.stats, history_warn_events)
        self._executor.consumer_group = consumer_group
        self.pending_spans = PendingSpans()  # recorded at mark_committed, dropped at discard
        self.recorder = recorder
        self._observed: list[Observation] = []  # handed to the recorder at mark_committed, dropped at discard
        self._steps = StepLogic(self._executor, self.stats)
        self._executor.steps = self._steps
        cancellation = Cancellation(self._executor, self._steps)
        self._control = ControlHandlers(self._executor, self.stats, cancellation)
        self._operator = OperatorHandlers(self._executor, self._steps, cancellation)
        self.command_router = command_router
        self.correlation = Correlation(self._executor, self._control, self._steps, serde, topics.dlq)

    # --- inbox --------------------------------------------------------------------------------
    def handle(self, record: InboundRecord, txn: StateTxn, now_ms: int) -> list[OutboundRecord]:
        """Apply one inbox record. Bad records come back as one DLQ record and change nothing.

        Only SchemaRegistryUnavailableError escapes: it is transient, the runner must abort and
        retry rather than dead-letter a good record.
        """
        try:
            msg = decode_inbound(record, self.serde)
        except SchemaRegistryUnavailableError:
            raise
        except DecodeError as exc:
            return self._dead_letter(record, exc)
        overlay = OverlayTxn(txn)
        t = Turn(WorkflowStore(overlay, self.codec), now_ms, self._outbox(), record)
        try:
            self._dispatch(t, msg)
            t.store.write_headers()  # inside: a header that cannot be encoded dead-letters the record
        except SchemaRegistryUnavailableError:
            self._forget(msg.workflow_id)
            raise
        except Exception as exc:  # invalid operator action, undecodable embedded record, or a bug
            self._forget(msg.workflow_id)
            return self._dead_letter(record, exc)
        overlay.flush()
        self._keep(t)
        kind = type(msg).__name__
        self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
        return t.out.records

    def _dispatch(self, t: Turn, msg: Inbound) -> None:
        if isinstance(msg, Reply):
            self._steps.on_reply(t, msg)
        elif isinstance(msg, StartMsg):
            self.correlation.start(t, msg)
        elif isinstance(msg, SignalMsg):
            self.correlation.signal(t, msg)
        elif isinstance(msg, SignalWithStartMsg):
            self.correlation.signal_with_start(t, msg)
        elif isinstance(msg, StepOutcomeMsg):
            self.correlation.step_outcome(t, msg)
        elif isinstance(msg, CancelMsg):
            self._control.cancel(t, msg)
        elif isinstance(msg, QueryMsg):
            self._control.query(t, msg)
        elif isinstance(msg, ChildFinishedMsg):
            self._control.child_finished(t, msg)
        elif isinstance(msg, OperatorMsg):
            self._operator.handle(t, msg)

    def _outbox(self) -> Outbox:
        return Outbox(self.topics, self.serde, self.command_router, observe=self.recorder is not None)

    def _keep(self, t: Turn) -> None:
        """The turn's writes stand: its spans and observations join the checkpoint's (a failed turn's
        are dropped with it)."""
        if t.spans:
            self.pending_spans.defer(_record_all, t.spans)
        if t.out.observed:
            self._observed.extend(t.out.observed)

    def _dead_letter(self, record: InboundRecord, exc: Exception) -> list[OutboundRecord]:
        self.stats.dead_lettered += 1
        if self.recorder is not None:
            self._observed.append((DEAD_LETTERED, {"reason": dlq_reason(exc)}, None))
        return [dead_letter(record, self.topics.dlq, exc)]

    def _forget(self, workflow_id: str) -> None:
        """The run's in-memory state may be ahead of the dropped writes: rebuild it next time."""
        self._executor.drop_deferred()
        self.cache.evict(workflow_id)

    # --- time ---------------------------------------------------------------------------------
    def fire_due(self, txn: StateTxn, now_ms: int) -> list[OutboundRecord]:
        """Timers, retry backoffs, attempt/step timeouts due at or before now_ms, then the
        retention purge. Each due entry is applied atomically on its own."""
        out: list[OutboundRecord] = []
        fired = 0
        base = WorkflowStore(txn, self.codec)
        while fired < self.max_fired_per_call:
            due = base.due_timers(now_ms, min(_BATCH, self.max_fired_per_call - fired))
            if not due:
                break
            for key, timer, kind in due:
                fired += 1
                txn.delete(key)
                overlay = OverlayTxn(txn)
                t = Turn(WorkflowStore(overlay, self.codec), now_ms, self._outbox())
                try:
                    if kind == TIMER_WORKFLOW:
                        acted = self._fire_timer(t, timer.workflow_id, timer.seq, timer.due_ms)
                    elif kind == TIMER_BUFFER:
                        acted = self.correlation.expire(t, timer.workflow_id, timer.seq)
                    else:
                        acted = self._steps.on_due(t, timer.workflow_id, timer.seq)
                    t.store.write_headers()
                except SchemaRegistryUnavailableError:
                    self._forget(timer.workflow_id)
                    raise
                except Exception:  # a bug must not wedge the partition; the entry is dropped
                    self._forget(timer.workflow_id)
                    self.stats.timer_errors += 1
                    continue
                overlay.flush()
                self._keep(t)
                out.extend(t.out.records)
                if acted:
                    self.stats.timers_fired += 1
                else:
                    self.stats.stale_timers += 1
        self._purge(txn, now_ms)
        return out

    def _fire_timer(self, t: Turn, workflow_id: str, seq: int, due_ms: int) -> bool:
        run = self._executor.load(t, workflow_id)
        if run is None or run.header.finished or run.view.open_timers.get(seq) != due_ms:
            return False
        run_tracing.timer_fired(t, run.header, run.view.timer_set_ms.get(seq))
        self._executor.deliver(t, run, TimerFiredData(seq))
        return True

    def _purge(self, txn: StateTxn, now_ms: int) -> None:
        store = WorkflowStore(txn, self.codec)
        while True:
            expired = store.expired(now_ms - self.retention_ms, _BATCH)
            if not expired:
                return
            for entry in expired:
                store.purge(entry.workflow_id, entry.finished_ms)
                CorrelationStore(txn, self.serde).purge(entry.workflow_id)
                self.cache.evict(entry.workflow_id)
                self.stats.purged += 1

    def next_due_ms(self, txn: StateTxn) -> int | None:
        """Earliest time fire_due() has something to do (None: nothing scheduled)."""
        store = WorkflowStore(txn, self.codec)
        candidates = [store.first_timer_due()]
        finished = store.first_retention_finish()
        if finished is not None:
            candidates.append(finished + self.retention_ms)
        present = [c for c in candidates if c is not None]
        return min(present) if present else None

    # --- checkpoint hooks ---------------------------------------------------------------------
    def discard(self, workflow_ids: Iterable[str] | None = None) -> None:
        """After an aborted checkpoint: drop cached runs (None = all touched since the last commit,
        and the spans of that rolled-back work: its re-processing records them)."""
        self.cache.discard(workflow_ids)
        if workflow_ids is None:
            self.pending_spans.abort()
            self._observed.clear()

    def close(self) -> None:
        """The partition left this engine: its cached runs go now, not when the LRU gets to them."""
        self.cache.clear()

    def mark_committed(self) -> None:
        self.cache.committed()
        self.pending_spans.commit()
        if self._observed and self.recorder is not None:
            observed, self._observed = self._observed, []
            try:
                self.recorder.committed(observed)
            except Exception:  # metrics must never fail a committed checkpoint
                log.exception("recording metrics failed; continuing")


def _record_all(spans: PendingSpans) -> None:
    spans.commit()


__all__ = ["EngineTopics", "PartitionEngine"]
