"""The one place SagaBridge's Kafka clients are configured and built.

Every producer and consumer the package makes (the runner's, the client's, the worker's, the
restore consumer) starts from these configurations, so guarantees that depend on a setting are
set once: consumers read `read_committed` and never auto-commit (an aborted checkpoint must never
be seen), producers are idempotent with `acks=all` and use the Java-compatible murmur2 partitioner
(a key lands on the same inbox partition whoever wrote it). User properties (`kafka` settings:
security, client ids, tuning) are merged in, but never over the settings exactly-once relies on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, Producer

from orchestrator.transport.partitioning import PRODUCER_PARTITIONER

# What exactly-once relies on; applied after the user's properties so nothing overrides it.
READ_COMMITTED: Mapping[str, Any] = {
    "isolation.level": "read_committed",
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
}


def consumer_config(
    bootstrap_servers: str,
    extra: Mapping[str, str] | None = None,
    *,
    group_id: str | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A read_committed, manually committed consumer; `defaults` are ours, `extra` the user's."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "auto.offset.reset": "earliest",
        **(defaults or {}),
        **(extra or {}),
        **READ_COMMITTED,
    }
    if group_id is not None:
        config["group.id"] = group_id
    return config


def producer_config(bootstrap_servers: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An idempotent, acks=all producer for records outside a transaction (client, worker replies)."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "acks": "all",
        "linger.ms": 2,
        **PRODUCER_PARTITIONER,
        **(extra or {}),
        "enable.idempotence": True,
    }


def transactional_config(
    bootstrap_servers: str, transactional_id: str, extra: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The runner's transactional producer: a stable `transactional.id` fences a restarted zombie."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "linger.ms": 5,
        "compression.type": "lz4",
        **PRODUCER_PARTITIONER,
        **(extra or {}),
        "transactional.id": transactional_id,
        "enable.idempotence": True,
    }


def new_consumer(bootstrap_servers: str, group_id: str, extra: Mapping[str, str] | None = None) -> Consumer:
    """A `consumer_config` consumer in `group_id` (subscribe, or assign for a reader)."""
    return Consumer(consumer_config(bootstrap_servers, extra, group_id=group_id))


def new_producer(bootstrap_servers: str, extra: Mapping[str, str] | None = None) -> Producer:
    """A `producer_config` producer."""
    return Producer(producer_config(bootstrap_servers, extra))
