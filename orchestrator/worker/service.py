"""`Service("payments")`: handlers per command type over the plain participant protocol.

A command flagged `sb-cancel-requested: true` whose id has no stored outcome is declined
(a permanent `WorkflowCancelled` failure, remembered as its outcome) instead of executed: the
workflow is being cancelled and would only have to undo it.

Delivery guarantee (documented in docs/protocol.md): at-least-once execution. Offsets are
committed only after the replies of a batch are acknowledged by the broker, so a crash
mid-handler redelivers the command and the handler may run again; the in-memory dedupe store
prevents re-execution only while the process lives. Handlers with external side effects
should use `ctx.command_id` as their idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from confluent_kafka import Producer, TopicPartition
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span

from orchestrator import topic_names, tracing
from orchestrator.errors import ConfigurationError, DecodeError, RepliesNotDeliveredError
from orchestrator.models.protocol import StepError
from orchestrator.serialization import AvroModel, AvroSerde
from orchestrator.transport import header_names
from orchestrator.transport.client_config import client_config_problem
from orchestrator.transport.consumer import close_within, consume_available, to_inbound
from orchestrator.transport.dlq import DLQ_ERROR
from orchestrator.transport.kafka_clients import new_consumer, new_producer
from orchestrator.transport.records import Headers, InboundRecord, make_headers
from orchestrator.worker.dedupe import DedupeStore, StoredReply
from orchestrator.worker.handler_errors import UndecodableCommandError, UnknownCommandError, error_type, is_retryable
from orchestrator.workflow.activation import ErrorInfo

log = logging.getLogger(__name__)

C = TypeVar("C", bound=AvroModel)
Handler = Callable[[Any, "CommandContext"], AvroModel | Awaitable[AvroModel]]
Reply = tuple[str, bytes, bytes, Headers]  # topic, key, value, headers

ERROR_SCHEMA = StepError.avro_schema_name
DECLINED_ERROR = "WorkflowCancelled"  # sb-error-type of a command declined because of sb-cancel-requested
CLOSE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class CommandContext:
    """What a handler knows about the command besides its body."""

    workflow_id: str
    command_id: str
    attempt: int
    command_type: str
    headers: Headers


@dataclass(frozen=True)
class _Registration:
    model: type[AvroModel]
    handler: Handler


@dataclass
class ServiceStats:
    """Counters of what the service did with the commands it consumed."""

    executed: int = 0
    succeeded: int = 0
    failed: int = 0
    deduplicated: int = 0
    declined: int = 0  # commands flagged sb-cancel-requested that had not run: answered without running
    dead_lettered: int = 0


class Service:
    """A participant: command handlers of one service, run over the plain participant protocol."""

    def __init__(
        self,
        name: str,
        bootstrap_servers: str,
        serde: AvroSerde,
        *,
        command_topic: str | None = None,
        group_id: str | None = None,
        concurrency: int = 8,
        dedupe_capacity: int = 100_000,
        non_retryable: tuple[type[BaseException], ...] = (),
        dlq_topic: str | None = None,
        extra_config: Mapping[str, str] | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        """`tracer_provider`: record this service's spans there (several services in one process,
        tests); None = the process-wide one from `tracing.setup_tracing`, if any."""
        command_topic = command_topic or topic_names.command_topic(
            topic_names.DEFAULT_COMMAND_TOPIC_TEMPLATE, app="", service=name
        )
        _check_settings(name, command_topic, dlq_topic, concurrency, dedupe_capacity, extra_config or {})
        self.name = name
        self.command_topic = command_topic
        self.group_id = group_id or f"{name}-service"
        self.serde = serde
        self.concurrency = concurrency
        self.non_retryable = non_retryable
        self.dlq_topic = dlq_topic
        self.stats = ServiceStats()
        self._bootstrap = bootstrap_servers
        self._extra = dict(extra_config or {})
        self._handlers: dict[str, _Registration] = {}
        self._dedupe = DedupeStore(dedupe_capacity)
        self._stop = threading.Event()
        self._tracer_provider = tracer_provider

    # -- registration ------------------------------------------------------------------
    def handler(self, command: type[C]) -> Callable[[Handler], Handler]:
        """Register a sync or async handler for one command record type."""

        def register(fn: Handler) -> Handler:
            self._handlers[command.avro_schema_name] = _Registration(command, fn)
            return fn

        return register

    # -- running -----------------------------------------------------------------------
    def stop(self) -> None:
        """Ask `run()` to finish the batch in hand, commit and leave the group."""
        self._stop.set()

    def run(self, poll_timeout_s: float = 0.5) -> None:
        """Consume until stop(): finishes the batch in hand, commits, leaves the group."""
        scope = contextlib.nullcontext() if self._tracer_provider is None else tracing.using(self._tracer_provider)
        with scope:  # the loop's tasks copy this context, so every handler records with it
            asyncio.run(self._run(poll_timeout_s))

    async def _run(self, poll_timeout_s: float) -> None:
        consumer = new_consumer(self._bootstrap, self.group_id, self._extra)
        producer = new_producer(self._bootstrap, self._extra)
        consumer.subscribe([self.command_topic])
        semaphore = asyncio.Semaphore(self.concurrency)
        try:
            while not self._stop.is_set():
                messages = await asyncio.to_thread(consume_available, consumer, 100, poll_timeout_s)
                records = [to_inbound(m) for m in messages if m.error() is None]
                if not records:
                    continue
                replies = await self._handle_batch(semaphore, records)
                for record, reply in zip(records, replies, strict=True):
                    if reply is not None:
                        topic, key, value, reply_headers = reply
                        producer.produce(topic, key=key, value=value, headers=list(reply_headers))
                    elif self.dlq_topic is not None:
                        self._dead_letter(producer, record)
                remaining = producer.flush(30)
                if remaining:
                    raise RepliesNotDeliveredError(f"{remaining} replies not acknowledged; offsets not committed")
                positions: dict[tuple[str, int], int] = {}
                for record in records:
                    positions[(record.topic, record.partition)] = record.offset + 1
                # Asynchronous: a synchronous commit waits without a deadline while the group
                # coordinator is away (a broker restart). The replies are already acknowledged, so a
                # commit that fails only means these commands are redelivered, and answered again.
                consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in positions.items()], asynchronous=True)
        finally:
            producer.flush(10)
            close_within(consumer, CLOSE_TIMEOUT_S)

    async def _handle_batch(self, semaphore: asyncio.Semaphore, records: list[InboundRecord]) -> list[Reply | None]:
        """Handle a batch: records of one command id in offset order, one after the other (a later
        attempt must find the earlier one's stored outcome, never run beside it), the rest
        concurrently."""
        replies: list[Reply | None] = [None] * len(records)
        chains: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            chains.setdefault(record.header(header_names.COMMAND_ID) or f"#{i}", []).append(i)

        async def run_chain(indexes: list[int]) -> None:
            for i in indexes:
                async with semaphore:
                    replies[i] = await self.handle(records[i])

        await asyncio.gather(*(run_chain(indexes) for indexes in chains.values()))
        return replies

    async def handle(self, record: InboundRecord) -> Reply | None:
        """Execute (or answer from the dedupe store) one command; returns the reply to produce, or
        None for a record that cannot be answered (see `unanswerable`)."""
        problem = unanswerable(record)
        if problem is not None:
            log.warning("%s: record at %s/%d cannot be answered: %s", self.name, record.topic, record.offset, problem)
            return None
        workflow_id = record.header(header_names.WORKFLOW_ID) or ""
        command_id = record.header(header_names.COMMAND_ID) or ""
        reply_to = record.header(header_names.REPLY_TO) or ""
        attempt = int(record.header(header_names.ATTEMPT) or "")
        key = _raw_header(record, header_names.WORKFLOW_ID)
        # echoed byte for byte: the orchestrator matches them exactly (docs/protocol.md §3)
        echo = tuple(
            (name, _raw_header(record, name))
            for name in (header_names.WORKFLOW_ID, header_names.COMMAND_ID, header_names.ATTEMPT)
        )
        stored = self._dedupe.lookup(command_id, attempt)
        if stored is not None:  # answers this delivery: its attempt, its trace context
            self.stats.deduplicated += 1
            return reply_to, key, stored.value, echo + stored.status + _trace_headers(record)
        if record.header(header_names.CANCEL_REQUESTED) == "true":  # not executed yet: it never will be
            self.stats.declined += 1
            value, status = self._failure(DECLINED_ERROR, "the workflow is being cancelled; not executed", False)
            self._dedupe.remember(command_id, StoredReply(attempt, True, value, status))
            return reply_to, key, value, echo + status + _trace_headers(record)
        with tracing.process_span(
            record.topic,
            headers=record.headers,
            group=self.group_id,
            key=record.key,
            partition=record.partition,
            offset=record.offset,
            message_id=f"{command_id}/{attempt}",
        ) as span:
            ctx = CommandContext(
                workflow_id, command_id, attempt, record.header(header_names.COMMAND_TYPE) or "", record.headers
            )
            value, status, final = await self._execute(record, ctx, span)
            trace = _trace_headers(record)
            if span.is_recording():  # the reply continues from a `send` span, a child of the handler's
                with tracing.producer_span(
                    reply_to, key=key, message_id=f"{command_id}/{attempt}", body_size=len(value)
                ) as send:
                    trace = tuple((k, v) for k, v in tracing.inject_headers(send))
        self._dedupe.remember(command_id, StoredReply(attempt, final, value, status))
        return reply_to, key, value, echo + status + trace

    async def _execute(self, record: InboundRecord, ctx: CommandContext, span: Span) -> tuple[bytes, Headers, bool]:
        """Run the handler inside its process span: (reply body, status headers, final outcome?)."""
        try:
            try:
                decoded = self.serde.decode(record.value or b"")
            except DecodeError as exc:
                raise UndecodableCommandError(f"{exc.reason}: {exc}") from exc
            registration = self._handlers.get(decoded.schema_name)
            if registration is None:
                raise UnknownCommandError(f"{self.name} has no handler for {decoded.schema_name}")
            command = registration.model.from_avro(decoded.value)
            ctx = replace(ctx, command_type=decoded.schema_name)
            self.stats.executed += 1
            outcome = registration.handler(command, ctx)
            result = await outcome if inspect.isawaitable(outcome) else outcome
            value = self.serde.encode(result.avro_schema_name, result.to_avro())
            self.stats.succeeded += 1
            return value, make_headers([(header_names.REPLY_STATUS, header_names.STATUS_SUCCESS)]), True
        except Exception as exc:  # every handler failure becomes a protocol reply, never a crash
            retryable = is_retryable(exc, self.non_retryable)
            if span.is_recording():
                tracing.mark_error(span, error_type(exc), str(exc)[:1000], exc)
            self.stats.failed += 1
            value, status = self._failure(error_type(exc), str(exc), retryable)
            return value, status, not retryable

    def _failure(self, kind: str, message: str, retryable: bool) -> tuple[bytes, Headers]:
        """A failure reply: the StepError body and the headers (which the orchestrator reads first)."""
        value = self.serde.encode(ERROR_SCHEMA, ErrorInfo(kind, message, retryable).to_avro())
        status = make_headers(
            [
                (header_names.REPLY_STATUS, header_names.STATUS_FAILURE),
                (header_names.ERROR_TYPE, kind),
                (header_names.ERROR_MESSAGE, message[:1000]),
                (header_names.RETRYABLE, "true" if retryable else "false"),
            ]
        )
        return value, status

    def _dead_letter(self, producer: Producer, record: InboundRecord) -> None:
        assert self.dlq_topic is not None
        self.stats.dead_lettered += 1
        extra = make_headers(
            {
                header_names.DLQ_REASON: "missing-protocol-headers",
                DLQ_ERROR: unanswerable(record) or "",
                header_names.DLQ_SOURCE_TOPIC: record.topic,
                header_names.DLQ_SOURCE_PARTITION: str(record.partition),
                header_names.DLQ_SOURCE_OFFSET: str(record.offset),
            }
        )
        producer.produce(self.dlq_topic, key=record.key, value=record.value, headers=list(record.headers + extra))


def _check_settings(
    name: str,
    command_topic: str,
    dlq_topic: str | None,
    concurrency: int,
    dedupe_capacity: int,
    extra_config: Mapping[str, str],
) -> None:
    """Fail at construction, naming the parameter and the fix, not at the first poll."""
    if not name or topic_names.topic_name_problem(name) is not None:
        raise ConfigurationError("Service(name)", f"{name!r} is not a service name", "use letters, digits, . _ -")
    for param, topic in (("command_topic", command_topic), ("dlq_topic", dlq_topic)):
        problem = None if topic is None else topic_names.topic_name_problem(topic)
        if problem is not None:
            raise ConfigurationError(f"Service({param})", f"the topic {problem}", "pass the topic's exact name")
    if concurrency < 1:
        raise ConfigurationError("Service(concurrency)", f"{concurrency} handlers at once", "pass 1 or more")
    if dedupe_capacity < 1:
        raise ConfigurationError(
            "Service(dedupe_capacity)", f"{dedupe_capacity} remembered outcomes", "pass 1 or more (default 100000)"
        )
    problem = client_config_problem({k: str(v) for k, v in extra_config.items()})
    if problem is not None:
        raise ConfigurationError("Service(extra_config)", f"librdkafka refuses it: {problem}", "fix or remove it")


def unanswerable(record: InboundRecord) -> str | None:
    """Why a command cannot be answered, or None. Answerable = the headers a reply needs:
    sb-workflow-id, sb-command-id and sb-reply-to non-empty, sb-attempt a positive integer
    (docs/protocol.md §2). Bad or missing bytes are answered (UndecodableCommand), not this."""
    for name in (header_names.WORKFLOW_ID, header_names.COMMAND_ID, header_names.REPLY_TO, header_names.ATTEMPT):
        if not record.header(name):
            return f"no {name} header"
    attempt = record.header(header_names.ATTEMPT) or ""
    if not (attempt.isascii() and attempt.isdigit() and int(attempt) >= 1):
        return f"{header_names.ATTEMPT} {attempt!r} is not a positive integer"
    return None


def _raw_header(record: InboundRecord, name: str) -> bytes:
    found = b""
    for key, value in record.headers:
        if key == name:
            found = value
    return found


def _trace_headers(record: InboundRecord) -> Headers:
    """The command's W3C trace context, echoed on a reply no span of ours continues."""
    return tuple((n, v) for n in (header_names.TRACEPARENT, header_names.TRACESTATE) if (v := _raw_header(record, n)))
