"""`WorkflowEnvironment`: the real engine core in-process, with fake services and a skipping clock.

It drives `PartitionEngine.handle / fire_due / next_due_ms` exactly as the runner does, over an
in-memory store (or a real RocksDB when a ``state_dir`` is given), and commits after every call
the way a checkpoint would. What Kafka would carry is kept in process: commands go to the fake
services declared for them, their replies come back to the inbox after their latency, records
the engine addresses to its own inbox (child workflows) are delivered back. The clock is
virtual: `advance()` moves it by a fixed amount, firing every timer at its own due time;
`WorkflowRun.result()` skips from one due instant to the next until the run ends, so a 30-day
sleep or an hour of retry backoff costs milliseconds.
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from orchestrator.engine import EngineTopics, PartitionEngine, keys
from orchestrator.engine.control import QUERY_RESULT_SCHEMA
from orchestrator.engine.state_records import Header, StepRecord
from orchestrator.engine.workflow_store import WorkflowStore
from orchestrator.errors import QueryFailedError, TimeSkipLimitError
from orchestrator.models.control import OperatorActionType
from orchestrator.serialization import AvroSerde, SchemaRepository, SingleObjectSerde
from orchestrator.state import PartitionStore, PendingTxn, partition_path
from orchestrator.testing.histories import RecordedHistory, histories_in_store
from orchestrator.testing.inbox import InboxRecords, Payload
from orchestrator.testing.memory_store import MemoryStore
from orchestrator.testing.outputs import EmittedEvent, Output, SentCommand, emitted_event, sent_command
from orchestrator.testing.run import WorkflowRun
from orchestrator.testing.services import Fail, FakeService, Handler, HandlerResult, NoReply, Succeed
from orchestrator.transport import header_names
from orchestrator.transport.records import InboundRecord, OutboundRecord
from orchestrator.workflow import HistoryEvent, WorkflowRegistry, default_registry
from orchestrator.workflow.status import WorkflowStatus

DEFAULT_START_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z: a fixed start, so runs are reproducible
DEFAULT_HORIZON = timedelta(days=3660)
DEFAULT_MAX_TURNS = 100_000


class _Store(Protocol):
    def begin(self) -> PendingTxn: ...

    def apply(self, txn: PendingTxn, changelog_offset: int | None) -> None: ...

    def get(self, key: bytes) -> bytes | None: ...

    def close(self) -> None: ...


_Delivery = tuple[int, int, Callable[[], InboundRecord]]


def _ms(value: timedelta | float) -> int:
    if isinstance(value, timedelta):
        return int(value / timedelta(milliseconds=1))
    return int(value)


def _start_ms(value: datetime | int | None) -> int:
    if value is None:
        return DEFAULT_START_MS
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value)


class WorkflowEnvironment:
    """One application's engine on one partition, in process. Not thread-safe (neither is a partition).

    ``schemas`` are the application's schema folders (the built-in `sagabridge.*` ones are always
    included), so commands and results are encoded against the same Avro schemas as in
    production: a command its schema rejects fails the step here too.
    """

    def __init__(
        self,
        registry: WorkflowRegistry | None = None,
        *,
        app: str = "app",
        schemas: Path | Sequence[Path] | None = None,
        serde: AvroSerde | None = None,
        state_dir: Path | None = None,
        start_time: datetime | int | None = None,
        partition: int = 0,
        cache_size: int = 1_000,
        history_warn_events: int | None = 10_000,
        retention: timedelta = timedelta(days=7),
        command_topic_template: str = "{service}.commands",
        service_topics: Mapping[str, str] | None = None,
        loopback: bool = True,
    ) -> None:
        self.registry = registry if registry is not None else default_registry
        self.app = app
        self.serde: AvroSerde = serde if serde is not None else SingleObjectSerde(SchemaRepository(schemas))
        self.topics = EngineTopics(
            inbox=f"{app}.inbox",
            events=f"{app}.events",
            dlq=f"{app}.dlq",
            command_topic_template=command_topic_template,
            service_topics=dict(service_topics or {}),
        )
        self.partition = partition
        self.cache_size = cache_size
        self.history_warn_events = history_warn_events
        self.retention_ms = _ms(retention)
        self.loopback = loopback
        self.state_dir = state_dir
        # The engine answers queries on the events topic only (engine/control.py), as in production.
        self.query_topic = self.topics.events
        self.records = InboxRecords(self.serde, self.topics.inbox, partition)
        self.store: _Store = self._open_store()
        self.txn: PendingTxn = self.store.begin()
        self.engine = self._new_engine()
        self.now_ms = _start_ms(start_time)
        self.produced: list[OutboundRecord] = []  # everything, in order
        self.sent: list[SentCommand] = []  # every command attempt the engine sent
        self.emitted: list[EmittedEvent] = []  # lifecycle events and ctx.publish events
        self.turns = 0  # engine calls so far
        self._services: dict[str, FakeService] = {}
        self._service_by_topic: dict[str, str] = {}
        self._queue: list[_Delivery] = []
        self._order = itertools.count()
        self._changelog_offset = 0
        self._queries = itertools.count(1)

    # --- set-up -------------------------------------------------------------------------------
    def _open_store(self) -> _Store:
        if self.state_dir is None:
            return MemoryStore()
        return PartitionStore.open(
            partition_path(self.state_dir, f"{self.app}-orchestrator", self.partition), self.partition
        )

    def _new_engine(self) -> PartitionEngine:
        return PartitionEngine(
            topics=self.topics,
            registry=self.registry,
            serde=self.serde,
            partition=self.partition,
            cache_size=self.cache_size,
            retention_ms=self.retention_ms,
            history_warn_events=self.history_warn_events,
        )

    def service(
        self,
        name: str,
        handler: Handler | None = None,
        *,
        replies: Iterable[HandlerResult] | None = None,
        latency: timedelta = timedelta(0),
    ) -> FakeService:
        """Declare a fake participant for ``name``: every command sent to it gets a reply.

        Give a ``handler(command) -> model | None | Succeed | Fail | NoReply`` or canned ``replies``
        (one per attempt, the last repeats). Services not declared never answer: reply to their
        commands by hand with `reply()` / `reply_failure()`, or let their timeouts fire.
        """
        fake = FakeService(name, handler, replies, latency)
        self._services[name] = fake
        self._service_by_topic[self.topics.command_topic(name)] = name
        return fake

    def close(self) -> None:
        """Close the environment's RocksDB store (explicitly, never by garbage collection)."""
        self.store.close()

    def __enter__(self) -> WorkflowEnvironment:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- clock --------------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        """The environment's clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now_ms / 1000, tz=UTC)

    def settle(self) -> Output:
        """Process everything due now (queued replies, child records, due timers) without moving the
        clock: what happens "immediately" after an input with zero-latency fakes."""
        return self._run_instant()

    def advance(self, duration: timedelta | int) -> Output:
        """Move the clock by ``duration`` (ms or timedelta), firing timers, deadlines, retries and
        delayed replies at their own due times on the way, and retention purges."""
        target = self.now_ms + _ms(duration)
        out = self._run_instant()
        while (due := self._next_instant(include_retention=True)) is not None and due <= target:
            self.now_ms = max(self.now_ms, due)
            out.extend(self._run_instant())
        self.now_ms = max(self.now_ms, target)
        out.extend(self._run_instant())
        return out

    def advance_to(self, when: datetime | int) -> Output:
        """Move the clock to ``when`` (aware datetime or epoch ms), as `advance()` would; a time in
        the past leaves the clock where it is and processes what is due now."""
        return self.advance(max(0, _start_ms(when) - self.now_ms))

    def run_until_idle(self, *, horizon: timedelta = DEFAULT_HORIZON, max_turns: int = DEFAULT_MAX_TURNS) -> Output:
        """Skip time until nothing is scheduled any more (every run finished, parked or waiting for
        input). Retention purges are not waited for."""
        return self.skip_until(lambda: False, "the environment", horizon=horizon, max_turns=max_turns)

    def skip_until(
        self,
        done: Callable[[], bool],
        what: str,
        *,
        horizon: timedelta = DEFAULT_HORIZON,
        max_turns: int = DEFAULT_MAX_TURNS,
    ) -> Output:
        """Jump from one due instant to the next until ``done()`` or nothing is scheduled."""
        limit_ms = self.now_ms + _ms(horizon)
        first_turn = self.turns
        out = self._run_instant()
        while not done():
            due = self._next_instant(include_retention=False)
            if due is None:
                break
            if due > limit_ms:
                raise TimeSkipLimitError(what, f"a horizon of {horizon}")
            if self.turns - first_turn > max_turns:
                raise TimeSkipLimitError(what, f"{max_turns} engine calls")
            self.now_ms = max(self.now_ms, due)
            out.extend(self._run_instant())
        return out

    def _next_instant(self, *, include_retention: bool) -> int | None:
        candidates = [self._queue[0][0]] if self._queue else []
        due = (
            self.engine.next_due_ms(self.txn)
            if include_retention
            else WorkflowStore(self.txn, self.engine.codec).first_timer_due()
        )
        if due is not None:
            candidates.append(due)
        return min(candidates) if candidates else None

    def _run_instant(self, max_turns: int = DEFAULT_MAX_TURNS) -> Output:
        """Deliver every queued record and fire every engine entry due at the current instant."""
        out = self._output([])
        first_turn = self.turns
        while True:
            if self.turns - first_turn > max_turns:  # e.g. zero-backoff retries against a zero-latency fake
                raise TimeSkipLimitError(f"the instant {self.now.isoformat()}", f"{max_turns} engine calls")
            if self._queue and self._queue[0][0] <= self.now_ms:
                _, _, make = heapq.heappop(self._queue)
                out.extend(self.send(make()))
                continue
            due = self.engine.next_due_ms(self.txn)
            if due is None or due > self.now_ms:
                return out
            out.extend(self._call(lambda: self.engine.fire_due(self.txn, self.now_ms)))

    # --- inputs -------------------------------------------------------------------------------
    def send(self, record: InboundRecord) -> Output:
        """Apply one inbox record now (then checkpoint). Anything the engine rejects comes back as
        a DLQ record in the output."""
        return self._call(lambda: self.engine.handle(record, self.txn, self.now_ms))

    def start(
        self,
        workflow_type: str,
        input: Payload,
        *,
        id: str | None = None,
        input_schema: str | None = None,
        trace_context: Mapping[str, str] | None = None,
    ) -> WorkflowRun:
        """Start a workflow now; the run's ``output`` holds what the start produced."""
        workflow_id = id if id is not None else f"{workflow_type}-{next(self._order)}"
        record = self.records.start(
            workflow_id,
            workflow_type,
            input,
            input_schema=input_schema,
            trace_context=trace_context,
            requested_at_ms=self.now_ms,
        )
        return WorkflowRun(self, workflow_id, self.send(record))

    def run(self, workflow_id: str) -> WorkflowRun:
        """A handle on an existing run (started earlier, or by a parent as a child)."""
        return WorkflowRun(self, workflow_id, self._output([]))

    def signal(
        self, workflow_id: str, name: str, payload: Payload | None = None, *, payload_schema: str | None = None
    ) -> Output:
        """Send signal `name` to a workflow, as a client would; the records the engine produced."""
        return self.send(self.records.signal(workflow_id, name, payload, payload_schema=payload_schema))

    def cancel(self, workflow_id: str, reason: str = "cancelled by the test") -> Output:
        """Ask a workflow to cancel, as a client would; the records the engine produced."""
        return self.send(self.records.cancel(workflow_id, reason))

    def query(self, workflow_id: str, name: str) -> Any:
        """Ask the run's query handler ``name`` (through the inbox, as a client does)."""
        query_id = f"q{next(self._queries)}"
        out = self.send(self.records.query(workflow_id, name, query_id=query_id, reply_topic=self.query_topic))
        for record in out.to_topic(self.query_topic):
            schema, answer = out.decode(record)
            if schema == QUERY_RESULT_SCHEMA and answer["query_id"] == query_id:
                if not answer["ok"]:
                    raise QueryFailedError(workflow_id, name, str(answer.get("error")))
                return json.loads(answer["result_json"])
        raise QueryFailedError(workflow_id, name, "the engine produced no answer")

    def operator(
        self,
        workflow_id: str,
        action: OperatorActionType | str,
        *,
        seq: int | None = None,
        result: Payload | None = None,
        result_schema: str | None = None,
        operator: str = "tester",
        reason: str = "",
    ) -> Output:
        """An operator's decision for a parked run: RETRY, SKIP (with the step's result), COMPENSATE, CANCEL."""
        record = self.records.operator(
            workflow_id, action, seq=seq, result=result, result_schema=result_schema, operator=operator, reason=reason
        )
        return self.send(record)

    def reply(
        self,
        command: SentCommand | OutboundRecord,
        result: Payload | None = None,
        *,
        result_schema: str | None = None,
        attempt: int | None = None,
    ) -> Output:
        """Answer a command by hand, with success (``attempt`` defaults to the command's own)."""
        wf, cid, sent_attempt = _identity(command)
        record = self.records.success(
            wf, cid, sent_attempt if attempt is None else attempt, result, result_schema=result_schema
        )
        return self.send(record)

    def reply_failure(
        self,
        command: SentCommand | OutboundRecord,
        error_type: str = "Unavailable",
        message: str = "failed by the test",
        *,
        retryable: bool = True,
        attempt: int | None = None,
    ) -> Output:
        """Answer a command by hand, with a failure."""
        wf, cid, sent_attempt = _identity(command)
        record = self.records.failure(
            wf, cid, sent_attempt if attempt is None else attempt, error_type, message, retryable=retryable
        )
        return self.send(record)

    # --- process life -------------------------------------------------------------------------
    def restart(self, registry: WorkflowRegistry | None = None) -> None:
        """A new engine over the same committed state, as after a crash or a deploy: every run is
        rebuilt by replay on its next input. Pass ``registry`` to deploy new workflow code."""
        if registry is not None:
            self.registry = registry
        self.txn = self.store.begin()
        if isinstance(self.store, PartitionStore):  # prove the state survives the process
            path = self.store.path
            self.store.close()
            self.store = PartitionStore.open(path, self.partition)
            self.txn = self.store.begin()
        self.engine = self._new_engine()

    def evict(self, *workflow_ids: str) -> None:
        """Drop runs from the engine's cache: their next input rebuilds them by replay."""
        self.engine.discard(list(workflow_ids))

    def abort(self) -> None:
        """Drop everything since the last checkpoint, as an aborted Kafka transaction would."""
        self.txn = self.store.begin()
        self.engine.discard(None)

    # --- inspection ---------------------------------------------------------------------------
    def decode(self, record: OutboundRecord) -> tuple[str, dict[str, Any]]:
        """(schema name, value) of any record the engine produced."""
        return self._output([]).decode(record)

    def header(self, workflow_id: str) -> Header:
        """The stored header of a workflow (`TestingError` if there is none)."""
        header = WorkflowStore(self.txn, self.engine.codec).header(workflow_id)
        if header is None:
            raise KeyError(f"no workflow {workflow_id!r} in the store (never started, or purged)")
        return header

    def status(self, workflow_id: str) -> WorkflowStatus:
        """The workflow's current status."""
        return WorkflowStatus(self.header(workflow_id).status)

    def history(self, workflow_id: str) -> list[HistoryEvent]:
        """The workflow's recorded history, oldest first."""
        return WorkflowStore(self.txn, self.engine.codec).history(workflow_id)

    def kinds(self, workflow_id: str) -> list[str]:
        """The kinds of the workflow's history events, in order."""
        return [e.kind for e in self.history(workflow_id)]

    def open_steps(self, workflow_id: str) -> list[StepRecord]:
        """The workflow's open steps (their store records)."""
        return WorkflowStore(self.txn, self.engine.codec).steps(workflow_id)

    def keys_of(self, workflow_id: str) -> list[bytes]:
        """Every store key of one workflow (to check that a purge left nothing behind)."""
        esc = keys.escape_id(workflow_id).encode()
        return [key for key, _ in self.txn.scan(b"", b"\xff") if esc in key.split(b"/")]

    def timer_keys(self) -> list[bytes]:
        """Every key of the timer index, in due order."""
        return [key for key, _ in self.txn.scan(keys.TIMER, keys.prefix_end(keys.TIMER))]

    def recorded_histories(self) -> list[RecordedHistory]:
        """Every workflow history in the store, as the replayer and `replay export` read them."""
        return list(histories_in_store(self.txn, self.serde))

    def commands(self, workflow_id: str | None = None, service: str | None = None) -> list[SentCommand]:
        """Every command attempt sent so far, optionally of one workflow and/or one service."""
        return [
            c
            for c in self.sent
            if (workflow_id is None or c.workflow_id == workflow_id) and (service is None or c.service == service)
        ]

    def events(self, workflow_id: str | None = None, name: str | None = None) -> list[EmittedEvent]:
        """Every event produced so far (lifecycle and published), optionally filtered."""
        return [
            e
            for e in self.emitted
            if (workflow_id is None or e.workflow_id == workflow_id) and (name is None or e.name == name)
        ]

    # --- internals ----------------------------------------------------------------------------
    def _output(self, records: Iterable[OutboundRecord]) -> Output:
        return Output(records, self.serde, self.topics)

    def _call(self, engine_call: Callable[[], list[OutboundRecord]]) -> Output:
        records = engine_call()
        self.turns += 1
        self._changelog_offset += 1
        self.store.apply(self.txn, self._changelog_offset)
        self.txn = self.store.begin()
        self.engine.mark_committed()
        self.produced.extend(records)
        for record in records:
            self._route(record)
        return self._output(records)

    def _route(self, record: OutboundRecord) -> None:
        """Where Kafka would take a record: a fake service, back to this inbox, or the event log."""
        if record.topic == self.topics.dlq:  # a DLQ copy keeps its headers: never route it as a command
            return
        if record.header(header_names.COMMAND_TYPE) is not None:
            service = self._service_by_topic.get(record.topic) or _service_of(record.topic, self.topics)
            sent = sent_command(record, service, self.serde, self.now_ms)
            self.sent.append(sent)
            fake = self._services.get(service)
            if fake is not None and record.topic == self.topics.command_topic(service):
                self._answer(fake, sent)
        elif record.topic == self.topics.inbox:
            if self.loopback:
                self._deliver_at(self.now_ms, lambda: self.records.redeliver(record))
        else:
            event = emitted_event(record, self.serde, self.now_ms)
            if event is not None and event.schema != QUERY_RESULT_SCHEMA:  # an answer, not an event
                self.emitted.append(event)

    def _answer(self, fake: FakeService, command: SentCommand) -> None:
        reply = fake.respond(command)
        at = self.now_ms + _ms(fake.latency)
        wf, cid, attempt = command.workflow_id, command.command_id, command.attempt
        if isinstance(reply, NoReply):
            return
        if isinstance(reply, Succeed):
            result, schema = reply.result, reply.schema
            self._deliver_at(at, lambda: self.records.success(wf, cid, attempt, result, result_schema=schema))
        elif isinstance(reply, Fail):
            failure = reply
            self._deliver_at(
                at,
                lambda: self.records.failure(
                    wf,
                    cid,
                    attempt,
                    failure.error_type,
                    failure.message,
                    retryable=failure.retryable,
                    details=failure.details,
                ),
            )

    def _deliver_at(self, at_ms: int, make: Callable[[], InboundRecord]) -> None:
        heapq.heappush(self._queue, (at_ms, next(self._order), make))


def _identity(command: SentCommand | OutboundRecord) -> tuple[str, str, int]:
    if isinstance(command, SentCommand):
        return command.workflow_id, command.command_id, command.attempt
    wf, cid, attempt = (
        command.header(header_names.WORKFLOW_ID),
        command.header(header_names.COMMAND_ID),
        command.header(header_names.ATTEMPT),
    )
    if wf is None or cid is None or attempt is None:
        raise ValueError(f"record on {command.topic} is not a command (no sb-workflow-id/sb-command-id/sb-attempt)")
    return wf, cid, int(attempt)


def _service_of(topic: str, topics: EngineTopics) -> str:
    """The service a command topic belongs to (declared overrides first, then the template)."""
    for service, override in topics.service_topics.items():
        if override == topic:
            return service
    prefix, _, suffix = topics.command_topic_template.partition("{service}")
    if topic.startswith(prefix) and topic.endswith(suffix):
        return topic[len(prefix) : len(topic) - len(suffix)]
    return topic
