"""A plain (non-transactional) idempotent producer that knows whether its records arrived.

For writers outside the checkpoint: the client's inbox records (starts, signals, operator
actions) and the visibility store's dead letters. `send_all` returns only once the broker has
acknowledged every record, or raises: a caller (an HTTP handler answering 202) never reports
success for a record that is still in a local queue, and never waits past its deadline.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from orchestrator.errors import DeliveryError
from orchestrator.transport.partitioning import PRODUCER_PARTITIONER
from orchestrator.transport.records import OutboundRecord


class DeliveringProducer:
    def __init__(self, bootstrap_servers: str, extra_config: Mapping[str, str] | None = None) -> None:
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "linger.ms": 2,
                **PRODUCER_PARTITIONER,
                **(extra_config or {}),
                "enable.idempotence": True,
                "acks": "all",
            }
        )
        self._errors: list[KafkaError] = []

    def queue(self, record: OutboundRecord, deadline: float) -> None:
        """Hand one record to librdkafka (waiting for queue space until `deadline`, monotonic)."""
        kwargs: dict[str, Any] = {"key": record.key, "value": record.value, "headers": list(record.headers)}
        if record.partition is not None:
            kwargs["partition"] = record.partition
        while True:
            try:
                self._producer.produce(record.topic, on_delivery=self._on_delivery, **kwargs)
                return
            except BufferError:
                if time.monotonic() >= deadline:
                    raise DeliveryError(f"producer queue still full at the deadline; {record.topic} not sent") from None
                self._producer.poll(0.05)
            except KafkaException as exc:
                raise DeliveryError(f"cannot produce to {record.topic}: {exc.args[0]}") from exc

    def flush(self, deadline: float) -> None:
        """Wait until everything queued is acknowledged; raise DeliveryError otherwise."""
        remaining = self._producer.flush(max(0.0, deadline - time.monotonic()))
        errors, self._errors = self._errors, []
        if remaining:
            raise DeliveryError(f"{remaining} record(s) not acknowledged by the broker before the deadline")
        if errors:
            raise DeliveryError(f"delivery failed: {errors[0].str()}")

    def send_all(self, records: Sequence[OutboundRecord], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        for record in records:
            self.queue(record, deadline)
        self.flush(deadline)

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout_s)

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._errors.append(err)
