"""A few records written once, outside any transaction: an operator's command (a cutover plan).

Idempotent, acks=all, every record confirmed before `send_all` returns, within a deadline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from orchestrator.errors import ProduceError
from orchestrator.transport.partitioning import PRODUCER_PARTITIONER
from orchestrator.transport.records import OutboundRecord


def send_all(
    bootstrap_servers: str,
    records: Sequence[OutboundRecord],
    extra_config: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
) -> None:
    """Produce `records` and wait until the broker has every one; raise ProduceError otherwise."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap_servers,
            **PRODUCER_PARTITIONER,
            **(extra_config or {}),
            "enable.idempotence": True,
            "acks": "all",
        }
    )
    errors: list[KafkaError] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err)

    for record in records:
        kwargs: dict[str, Any] = {"key": record.key, "value": record.value, "headers": list(record.headers)}
        if record.partition is not None:
            kwargs["partition"] = record.partition
        producer.produce(record.topic, on_delivery=delivered, **kwargs)
    remaining = producer.flush(timeout_s)
    if remaining:
        raise ProduceError(f"{remaining} record(s) not confirmed within {timeout_s}s")
    if errors:
        raise ProduceError(f"delivery failed: {errors[0]}")


__all__ = ["send_all"]
