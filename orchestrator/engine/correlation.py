"""Durable correlation: message-id de-duplication, early signals, signal-with-start, step outcomes.

Everything a connector sends for one workflow arrives on that workflow's inbox partition, so this
is plain per-workflow state in the partition's store, changed in the same turn as the workflow:

- a message id already applied to a workflow changes nothing (counted);
- a signal for a workflow that does not exist yet is dropped (counted), dead-lettered, or
  buffered (`on_missing`); buffered signals are delivered in inbox-offset order right after the
  workflow starts, or dead-lettered with the original bytes when their TTL passes;
- `SignalWithStart` starts the workflow if it is missing, delivers what was buffered, then the
  signal, all in one turn; if the workflow exists only the signal is delivered;
- a `StepOutcome` (a native participant's domain event) settles the earliest open step of that
  service (and command type) like a reply to its current attempt; none open: ignored, recorded.

The control handlers (control.py) and step logic (steps.py) do the actual work; this module only
decides and keeps the correlation state.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.engine.control import ControlHandlers
from orchestrator.engine.correlation_inbound import MissingPolicy, SignalWithStartMsg, StepOutcomeMsg
from orchestrator.engine.correlation_store import CorrelationStore
from orchestrator.engine.executor import Executor
from orchestrator.engine.inbound import SignalMsg, StartMsg, decode_inbound
from orchestrator.engine.outbox import command_id
from orchestrator.engine.state_records import StepRecord
from orchestrator.engine.steps import LATE, StepLogic
from orchestrator.engine.turn import Turn
from orchestrator.engine.view import Run
from orchestrator.errors import SignalBufferFullError, WorkflowNotFoundRecordError
from orchestrator.models.state import BufferedHeader, BufferedSignal
from orchestrator.serialization import AvroSerde
from orchestrator.transport.dlq import DLQ_ERROR
from orchestrator.transport.header_names import DLQ_REASON, DLQ_SOURCE_OFFSET, DLQ_SOURCE_PARTITION, DLQ_SOURCE_TOPIC
from orchestrator.transport.records import InboundRecord, OutboundRecord, make_headers
from orchestrator.workflow import ErrorInfo

DEFAULT_BUFFER_TTL_MS = 10 * 60 * 1000
MAX_BUFFERED_PER_WORKFLOW = 1_000
BUFFER_EXPIRED_REASON = "buffer-ttl-expired"
# A failed StepOutcome without an error record (the bridge always writes one; other writers may
# not): retryable, like a protocol failure reply without its error headers.
UNSPECIFIED_FAILURE = "StepFailed"


@dataclass(slots=True)
class CorrelationStats:
    """What correlation did on this partition, beside the engine's EngineStats."""

    deduplicated: int = 0  # repeated message ids: nothing changed
    buffered: int = 0  # early signals kept for a workflow that did not exist yet
    delivered_from_buffer: int = 0
    buffer_expired: int = 0  # dead-lettered when their TTL passed
    signals_with_start: int = 0  # SignalWithStart records that started their workflow
    outcomes_applied: int = 0
    outcomes_ignored: int = 0  # no open step of that service, or a failure for a step not in flight


class Correlation:
    """The connectors' inbox records, applied in the engine turn of the workflow they name."""

    def __init__(
        self,
        executor: Executor,
        control: ControlHandlers,
        steps: StepLogic,
        serde: AvroSerde,
        dlq_topic: str,
        max_buffered: int = MAX_BUFFERED_PER_WORKFLOW,
    ) -> None:
        self.ex = executor
        self.control = control
        self.steps = steps
        self.serde = serde
        self.dlq_topic = dlq_topic
        self.max_buffered = max_buffered
        self.stats = CorrelationStats()

    def _store(self, t: Turn) -> CorrelationStore:
        return CorrelationStore(t.store.txn, self.serde)

    def _duplicate(self, t: Turn, workflow_id: str, message_id: str | None) -> bool:
        if message_id is not None and self._store(t).seen(workflow_id, message_id):
            self.stats.deduplicated += 1
            return True
        return False

    def _remember(self, t: Turn, workflow_id: str, message_id: str | None) -> None:
        if message_id is not None:
            self._store(t).remember(workflow_id, message_id)

    # --- starts and signals -------------------------------------------------------------------
    def start(self, t: Turn, msg: StartMsg) -> None:
        if self._duplicate(t, msg.workflow_id, msg.message_id):
            return
        existed = t.store.header(msg.workflow_id) is not None
        self.control.start(t, msg)
        if not existed:
            self._remember(t, msg.workflow_id, msg.message_id)
            self._deliver_buffered(t, msg.workflow_id)

    def signal(self, t: Turn, msg: SignalMsg) -> None:
        if self._duplicate(t, msg.workflow_id, msg.message_id):
            return
        if t.store.header(msg.workflow_id) is not None:
            self._remember(t, msg.workflow_id, msg.message_id)
            self.control.signal(t, msg)
        elif msg.on_missing is MissingPolicy.BUFFER:
            self._buffer(t, msg)
        elif msg.on_missing is MissingPolicy.DLQ:
            raise WorkflowNotFoundRecordError(msg.workflow_id, f"signal {msg.name!r}")
        else:
            self.control.signal(t, msg)  # drops and counts it, as before connectors existed

    def signal_with_start(self, t: Turn, msg: SignalWithStartMsg) -> None:
        """Atomic: the start, the buffered signals and this signal are one turn's writes."""
        if self._duplicate(t, msg.workflow_id, msg.message_id):
            return
        if t.store.header(msg.workflow_id) is None:
            start = StartMsg(
                workflow_id=msg.workflow_id,
                workflow_type=msg.workflow_type,
                input_schema=msg.input_schema,
                input=msg.input,
                input_bytes=msg.input_bytes,
                parent_workflow_id=None,
                parent_seq=None,
                trace_context=msg.trace_context,
            )
            self.control.start(t, start)
            self.stats.signals_with_start += 1
            self._deliver_buffered(t, msg.workflow_id)
        self._remember(t, msg.workflow_id, msg.message_id)
        self.control.signal(
            t, SignalMsg(msg.workflow_id, msg.signal_name, msg.payload_schema, msg.payload, msg.payload_bytes)
        )

    def _buffer(self, t: Turn, msg: SignalMsg) -> None:
        record = t.record
        assert record is not None and record.value is not None  # signals only come from the inbox
        store = self._store(t)
        if store.count(msg.workflow_id, self.max_buffered) >= self.max_buffered:
            raise SignalBufferFullError(msg.workflow_id, self.max_buffered)
        ttl = msg.buffer_ttl_ms if msg.buffer_ttl_ms is not None else DEFAULT_BUFFER_TTL_MS
        store.buffer(
            BufferedSignal(
                workflow_id=msg.workflow_id,
                inbox_offset=record.offset,
                message_id=msg.message_id,
                buffered_at_ms=t.now_ms,
                expires_at_ms=t.now_ms + max(0, ttl),
                key=record.key,
                value=record.value,
                headers=[BufferedHeader(name=k, value=v) for k, v in record.headers],
                source_topic=record.topic,
                source_partition=record.partition,
            )
        )
        if msg.message_id is not None:
            store.remember(msg.workflow_id, msg.message_id)
        self.stats.buffered += 1

    def _deliver_buffered(self, t: Turn, workflow_id: str) -> None:
        store = self._store(t)
        for entry in store.buffered(workflow_id):
            store.remove(entry)
            original = InboundRecord(
                topic=entry.source_topic,
                partition=entry.source_partition,
                offset=entry.inbox_offset,
                key=entry.key,
                value=entry.value,
                headers=tuple((h.name, h.value) for h in entry.headers),
            )
            msg = decode_inbound(original, self.serde)
            assert isinstance(msg, SignalMsg)  # only SignalWorkflow records are ever buffered
            self.control.signal(t, msg)
            self.stats.delivered_from_buffer += 1

    # --- TTL ------------------------------------------------------------------------------------
    def expire(self, t: Turn, workflow_id: str, inbox_offset: int) -> bool:
        """A buffered signal's TTL passed: dead-letter the original record. False: already gone."""
        store = self._store(t)
        entry = store.entry(workflow_id, inbox_offset)
        if entry is None:
            return False
        store.remove(entry)
        if entry.message_id is not None:
            store.forget(workflow_id, entry.message_id)
        waited = entry.expires_at_ms - entry.buffered_at_ms
        reason = f"workflow {workflow_id!r} did not start within the signal's buffer TTL of {waited} ms"
        extra = make_headers(
            [
                (DLQ_REASON, BUFFER_EXPIRED_REASON),
                (DLQ_SOURCE_TOPIC, entry.source_topic),
                (DLQ_SOURCE_PARTITION, str(entry.source_partition)),
                (DLQ_SOURCE_OFFSET, str(entry.inbox_offset)),
                (DLQ_ERROR, reason),
            ]
        )
        original = tuple((h.name, h.value) for h in entry.headers)
        t.out.add(OutboundRecord(topic=self.dlq_topic, key=entry.key, value=entry.value, headers=original + extra))
        self.stats.buffer_expired += 1
        return True

    # --- native step outcomes -----------------------------------------------------------------
    def step_outcome(self, t: Turn, msg: StepOutcomeMsg) -> None:
        """Settle the open step the outcome names, by the rules of a protocol reply (steps.py).

        A domain event carries no attempt number, so it answers the attempt in flight: a
        success completes the step and a permanent failure fails it whatever its state; a
        retryable failure counts only while an attempt is in flight. A cancel holds in-flight
        forward steps for exactly this answer (cancel.py). Anything else is recorded as a
        `ReplyIgnored` with the protocol's labels, an abandoned success counted for an operator.
        """
        if self._duplicate(t, msg.workflow_id, msg.message_id):
            return
        run = self.ex.load(t, msg.workflow_id)
        if run is None:
            self.stats.outcomes_ignored += 1
            return
        self._remember(t, msg.workflow_id, msg.message_id)
        step = None if run.header.finished else self._open_step(t, run, msg)
        if step is None:
            seqs = [seq for seq, target in run.view.scheduled_steps.items() if _names(msg, *target)]
            self._ignored(t, run, msg, self.steps.why_settled(run, seqs, msg.success), max(seqs, default=None))
        elif msg.success:
            self.stats.outcomes_applied += 1
            self.steps.complete(t, run, step, msg.result_schema, msg.result, msg.result_bytes, step.attempt)
        else:
            error = msg.error or ErrorInfo(UNSPECIFIED_FAILURE, "", True)
            if self.steps.settle_failure(t, run, step, error, current_attempt=True):
                self.stats.outcomes_applied += 1
            else:
                self._ignored(t, run, msg, LATE, step.seq)

    @staticmethod
    def _open_step(t: Turn, run: Run, msg: StepOutcomeMsg) -> StepRecord | None:
        """The earliest open step the outcome names: a service's steps settle in the order sent."""
        h = run.header
        open_steps = t.store.steps(h.workflow_id, h.run_first_seq)
        candidates = [s for s in open_steps if _names(msg, s.service, s.command_type)]
        return min(candidates, key=lambda s: s.seq) if candidates else None

    def _ignored(self, t: Turn, run: Run, msg: StepOutcomeMsg, why: str, seq: int | None) -> None:
        self.stats.outcomes_ignored += 1
        wf = run.header.workflow_id
        step = None if seq is None else t.store.step(wf, seq)
        t.out.event(
            "ReplyIgnored",
            run.header,
            t.now_ms,
            command_id=command_id(wf, seq) if seq is not None else f"{wf}/{msg.service}",
            attempt=step.attempt if step is not None else 0,
            status="success" if msg.success else "failure",
            why=why,
        )


def _names(msg: StepOutcomeMsg, service: str, command_type: str) -> bool:
    """The outcome is for steps of `service` (of `command_type`, when the mapping restricts it)."""
    return service == msg.service and (msg.command_type is None or command_type == msg.command_type)


__all__ = ["DEFAULT_BUFFER_TTL_MS", "Correlation", "CorrelationStats"]
