"""A typed transactional producer: one per orchestrator instance (KIP-447).

It records the offset of every delivered record per (topic, partition) so the checkpoint can
store the changelog offset next to the state it describes.

Every call that waits on the broker runs under a deadline the process enforces
(transport/deadline.py). A call past it raises TransactionTimeoutError and leaves the producer
*lost*: its call is still blocked inside librdkafka, so it is never used, closed or destroyed
again (destroying a client while one of its calls runs is undefined behaviour). The owner replaces
it with a new producer under the same transactional.id, whose `init_transactions` fences the lost
one and aborts its open transaction on the broker.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition

from orchestrator.errors import (
    CommitOutcomeUnknownError,
    KafkaCallTimeoutError,
    ProduceError,
    ProducerLostError,
    TransactionAbortableError,
    TransactionFatalError,
    TransactionTimeoutError,
)
from orchestrator.transport.deadline import call_with_deadline
from orchestrator.transport.kafka_clients import ErrorCallback, transactional_config
from orchestrator.transport.records import OutboundRecord

log = logging.getLogger(__name__)
T = TypeVar("T")

# Our deadline is librdkafka's timeout plus this: when librdkafka honours its timeout we get its
# (retriable) error and keep the producer; only a call that ignores it makes the producer lost.
DEADLINE_SLACK_S = 2.0

# Producers whose call outlived its deadline: kept referenced until the process exits, so the
# garbage collector never runs rd_kafka_destroy() under a call that is still blocked in it.
_LOST: list[Producer] = []


def fence(
    bootstrap_servers: str,
    transactional_id: str,
    extra_config: Mapping[str, str] | None,
    timeout_s: float,
    *,
    on_error: ErrorCallback | None = None,
) -> None:
    """Register `transactional_id` once and let go: the broker aborts that id's open transaction now
    (instead of after its transaction.timeout.ms) and any process still using it is fenced. For an
    owner that is gone; never for a live one."""
    producer = TransactionalProducer(
        bootstrap_servers, transactional_id, extra_config, call_timeout_s=timeout_s, on_error=on_error
    )
    try:
        producer.init(timeout_s)
    finally:
        producer.close(timeout_s)


def _internal_failure(operation: str, exc: SystemError) -> TransactionFatalError:
    """confluent-kafka raises SystemError when it serves delivery reports while a fatal error is
    pending (seen right after this producer was fenced): the client is not to be trusted any more."""
    return TransactionFatalError(f"{operation}: the client failed internally ({exc}); the producer must be replaced")


def classify(exc: KafkaException) -> TransactionAbortableError | TransactionFatalError:
    """Map librdkafka's transactional error flags (not message text) to our two outcomes."""
    error: KafkaError = exc.args[0]
    if error.fatal() or error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED):
        return TransactionFatalError(str(error))
    return TransactionAbortableError(str(error))


class TransactionalProducer:
    def __init__(
        self,
        bootstrap_servers: str,
        transactional_id: str,
        extra_config: Mapping[str, str] | None = None,
        *,
        call_timeout_s: float = 5.0,
        transaction_timeout_ms: int | None = None,
        on_error: ErrorCallback | None = None,
        linger_ms: int | None = None,
    ) -> None:
        """`call_timeout_s` is the deadline of each call that waits on the broker (init, begin,
        abort, a whole commit unless the caller gives its own, a full produce queue). `on_error`
        hears librdkafka's error callback (a refused password is reported only there).

        `linger_ms`: how long records may wait to be batched; the commit interval suits a producer
        whose records count only at commit: commit() flushes first, which sends lingering records at
        once, so lingering costs no latency and saves produce requests (CPU of ours and the broker's).
        A `linger.ms` in `extra_config` wins."""
        ours = {"transaction.timeout.ms": str(transaction_timeout_ms)} if transaction_timeout_ms else {}
        if linger_ms is not None:
            ours["linger.ms"] = str(linger_ms)
        self.transactional_id = transactional_id
        self.call_timeout_s = call_timeout_s
        self._producer = Producer(
            transactional_config(
                bootstrap_servers, transactional_id, {**ours, **(extra_config or {})}, on_error=on_error
            )
        )
        self._in_transaction = False
        self._lost = False
        self._errors: list[KafkaError] = []
        self.delivered: dict[tuple[str, int], int] = {}

    @property
    def lost(self) -> bool:
        """True once a call outlived its deadline: replace this producer, never use it again."""
        return self._lost

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    def init(self, timeout_s: float | None = None) -> None:
        """Register the transactional id: fences any zombie with the same id, aborts its open txn."""
        t = timeout_s or self.call_timeout_s
        self._call("init_transactions", t, lambda: self._producer.init_transactions(t))

    def begin(self) -> None:
        if self._in_transaction:
            return
        # begin_transaction waits for librdkafka's main thread without a timeout of its own.
        self._call("begin_transaction", self.call_timeout_s, self._producer.begin_transaction)
        self._in_transaction = True
        self._errors.clear()
        self.delivered.clear()

    def produce(self, record: OutboundRecord) -> None:
        self.begin()
        kwargs: dict[str, Any] = {
            "key": record.key,
            "value": record.value,
            "headers": list(record.headers),
            "on_delivery": self._on_delivery,
        }
        if record.partition is not None:
            kwargs["partition"] = record.partition
        deadline = time.monotonic() + self.call_timeout_s
        while True:
            try:
                self._producer.produce(record.topic, **kwargs)
                return
            except BufferError:
                # Queue full: serve delivery reports and retry, but not forever (a broker that is
                # gone never drains it): past the deadline the transaction is aborted and replayed.
                if time.monotonic() > deadline:
                    raise TransactionAbortableError(
                        f"producer queue still full after {self.call_timeout_s:.1f}s (broker unreachable?)"
                    ) from None
                try:
                    self._producer.poll(0.05)
                except SystemError as exc:
                    raise _internal_failure("poll", exc) from exc
            except KafkaException as exc:
                raise classify(exc) from exc
            except SystemError as exc:
                raise _internal_failure("produce", exc) from exc

    def produce_all(self, records: Sequence[OutboundRecord]) -> None:
        for record in records:
            self.produce(record)

    def commit(self, offsets: Sequence[TopicPartition], group_metadata: object, timeout_s: float | None = None) -> None:
        """flush -> send offsets -> commit, all within `timeout_s`. Raises TransactionAbortableError /
        TransactionFatalError (TransactionTimeoutError past the deadline: the outcome is then unknown
        until a new producer's init_transactions decides it)."""
        self.begin()
        total = timeout_s or self.call_timeout_s
        deadline = time.monotonic() + total

        def remaining() -> float:
            return max(0.001, deadline - time.monotonic())

        def run() -> None:
            left = self._producer.flush(remaining())
            if left:
                raise TransactionAbortableError(f"{left} records undelivered after {total:.1f}s")
            if self._errors:
                raise ProduceError(f"delivery failed: {self._errors[0]}")
            if offsets:
                self._producer.send_offsets_to_transaction(list(offsets), group_metadata, remaining())
            try:
                self._producer.commit_transaction(remaining())
            except KafkaException as exc:
                # Only "requires abort" proves the commit did not happen; a retriable error (a timeout)
                # means it may still complete on the broker.
                error: KafkaError = exc.args[0]
                if error.fatal() or error.txn_requires_abort():
                    raise
                raise CommitOutcomeUnknownError(f"commit_transaction: {error}") from exc

        self._call("commit (flush, send_offsets_to_transaction, commit_transaction)", total, run)
        self._in_transaction = False

    def abort(self, timeout_s: float | None = None) -> None:
        if not self._in_transaction:
            return
        t = timeout_s or self.call_timeout_s
        try:
            self._call("abort_transaction", t, lambda: self._producer.abort_transaction(t))
        finally:
            self._in_transaction = False
            self.delivered.clear()

    def close(self, timeout_s: float | None = None) -> None:
        """Abort an open transaction (nothing of it may count) and drain delivery reports, bounded.
        A lost producer is left alone (see `_LOST`)."""
        if self._lost:
            return
        with contextlib.suppress(TransactionAbortableError, TransactionFatalError):
            self.abort(timeout_s)
        with contextlib.suppress(TransactionFatalError):
            self._call("flush", timeout_s or self.call_timeout_s, lambda: self._producer.flush(0))

    def _call(self, operation: str, timeout_s: float, fn: Callable[[], T]) -> T:
        if self._lost:
            raise ProducerLostError(f"{operation}: producer {self.transactional_id!r} is lost; replace it")
        try:
            return call_with_deadline(operation, timeout_s + DEADLINE_SLACK_S, fn)
        except KafkaCallTimeoutError as exc:
            self._lost = True
            _LOST.append(self._producer)
            log.error("producer %s: %s; the producer is lost and must be fenced", self.transactional_id, exc)
            raise TransactionTimeoutError(str(exc)) from exc
        except KafkaException as exc:
            raise classify(exc) from exc
        except SystemError as exc:
            raise _internal_failure(operation, exc) from exc

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._errors.append(err)
            return
        key = (msg.topic() or "", msg.partition() or 0)
        offset = msg.offset() or 0
        if offset > self.delivered.get(key, -1):
            self.delivered[key] = offset


class ProducerRegistrar:
    """Registers a transactional producer under one transactional.id, for a process that must
    replace a lost or fenced one in-process (the orchestrator's runner, the bridge's connector).

    A new producer's init_transactions fences any earlier producer with that id (a lost one of ours,
    or a zombie of a previous run) and decides its open transaction. An init that failed in time
    (broker down: librdkafka's retriable timeout) is retried on the same producer, as librdkafka
    allows; only a lost one (its call overran) is replaced, so a long outage does not pile up clients.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        transactional_id: str,
        extra_config: Mapping[str, str] | None,
        *,
        call_timeout_s: float,
        transaction_timeout_ms: int | None,
        on_error: ErrorCallback | None = None,
        linger_ms: int | None = None,
    ) -> None:
        """`on_error`: librdkafka's error callback of every producer it builds (the auth watch);
        `linger_ms`: theirs (see TransactionalProducer)."""
        self.bootstrap_servers = bootstrap_servers
        self.transactional_id = transactional_id
        self.extra_config = dict(extra_config or {})
        self.call_timeout_s = call_timeout_s
        self.transaction_timeout_ms = transaction_timeout_ms
        self.on_error = on_error
        self.linger_ms = linger_ms
        self._registering: TransactionalProducer | None = None

    def register(self) -> TransactionalProducer:
        """A registered producer, or the init's error (bounded by `call_timeout_s`) for the caller's retry."""
        producer = self._registering
        if producer is None or producer.lost:
            producer = self._registering = TransactionalProducer(
                self.bootstrap_servers,
                self.transactional_id,
                self.extra_config,
                call_timeout_s=self.call_timeout_s,
                transaction_timeout_ms=self.transaction_timeout_ms,
                on_error=self.on_error,
                linger_ms=self.linger_ms,
            )
        producer.init(self.call_timeout_s)
        self._registering = None
        return producer
