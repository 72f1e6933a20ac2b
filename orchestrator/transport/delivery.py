"""A plain (non-transactional) idempotent producer that knows whether its records arrived.

For writers outside the checkpoint: the client's inbox records (starts, signals, operator
actions) and the visibility store's dead letters. Every record gets its own delivery report, so
`send_all` returns only once the broker has acknowledged *those* records, or raises: a caller
(an HTTP handler answering 202, one of several threads sharing the producer) never reports
success for a record that is still in a local queue or failed, and never waits past its deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from orchestrator.errors import DeliveryError
from orchestrator.transport.kafka_clients import ErrorCallback, new_producer
from orchestrator.transport.records import OutboundRecord


class Delivery:
    """The broker's answer for one record: None until it comes."""

    __slots__ = ("done", "error", "topic")

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.done = False
        self.error: KafkaError | None = None

    def report(self, err: KafkaError | None, _msg: Message) -> None:
        self.error = err
        self.done = True


class DeliveringProducer:
    """One idempotent producer shared by threads; each record's delivery report is its own, and
    every wait is bounded by a monotonic deadline checked here (librdkafka's flush only polls)."""

    def __init__(
        self,
        bootstrap_servers: str,
        extra_config: Mapping[str, str] | None = None,
        *,
        on_error: ErrorCallback | None = None,
    ) -> None:
        """`on_error`: librdkafka's error callback (the authentication watch of transport/auth_watch.py)."""
        self._producer = new_producer(bootstrap_servers, extra_config, on_error=on_error)
        self._lock = threading.Lock()
        self._unwaited: list[Delivery] = []  # queued without a wait yet: what flush() answers for

    def queue(self, record: OutboundRecord, deadline: float) -> Delivery:
        """Hand one record to librdkafka (waiting for queue space until `deadline`, monotonic)."""
        delivery = Delivery(record.topic)
        kwargs: dict[str, Any] = {"key": record.key, "value": record.value, "headers": list(record.headers)}
        if record.partition is not None:
            kwargs["partition"] = record.partition
        while True:
            try:
                self._producer.produce(record.topic, on_delivery=delivery.report, **kwargs)
                break
            except BufferError:
                if time.monotonic() >= deadline:
                    raise DeliveryError(f"producer queue still full at the deadline; {record.topic} not sent") from None
                self._producer.poll(0.05)
            except KafkaException as exc:
                raise DeliveryError(f"cannot produce to {record.topic}: {exc.args[0]}") from exc
        with self._lock:
            self._unwaited.append(delivery)
        return delivery

    def wait(self, deliveries: Iterable[Delivery], deadline: float) -> None:
        """Return once every one of `deliveries` is acknowledged; DeliveryError otherwise."""
        pending = list(deliveries)
        waited = {id(d) for d in pending}
        with self._lock:
            self._unwaited = [d for d in self._unwaited if id(d) not in waited]
        while not all(d.done for d in pending):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = sum(1 for d in pending if not d.done)
                raise DeliveryError(f"{missing} record(s) not acknowledged by the broker before the deadline")
            self._producer.flush(min(remaining, 0.5))
        failed = next((d for d in pending if d.error is not None), None)
        if failed is not None and failed.error is not None:
            raise DeliveryError(f"delivery to {failed.topic} failed: {failed.error.str()}")

    def flush(self, deadline: float) -> None:
        """Wait for every record queued and not waited for yet. Past the deadline (DeliveryError)
        the records not acknowledged stay queued and retried by librdkafka, and the next flush
        waits for them again, so a caller may flush in a loop through a broker outage."""
        with self._lock:
            pending = list(self._unwaited)
        try:
            self.wait(pending, deadline)
        except DeliveryError:
            with self._lock:  # wait() dropped them from _unwaited: put back those still in flight
                self._unwaited = [d for d in pending if not d.done] + self._unwaited
            raise

    def send_all(self, records: Sequence[OutboundRecord], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        self.wait([self.queue(record, deadline) for record in records], deadline)

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout_s)
