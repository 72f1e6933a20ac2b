"""Typed wrapper over confluent_kafka's AdminClient for what provisioning needs."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from orchestrator.errors import GroupDescribeError, SagaBridgeError, TopicError

# Every admin call waits on the broker: each one ends by its deadline with a typed error that says what
# was asked (TopicError; GroupDescribeError for the group describe the runner handles), never a bare
# KafkaException or concurrent.futures.TimeoutError, which would end the process untyped.


def _result(
    future: concurrent.futures.Future[Any], timeout_s: float, what: str, error: type[SagaBridgeError] = TopicError
) -> Any:
    try:
        return future.result(timeout=timeout_s)
    except KafkaException as exc:
        raise error(f"{what} failed: {exc.args[0]}") from exc
    except concurrent.futures.TimeoutError as exc:  # e.g. a broker that just restarted: no answer in time
        raise error(f"{what}: no answer within {timeout_s}s") from exc


@dataclass(frozen=True)
class TopicDescription:
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]


class KafkaAdmin:
    def __init__(
        self,
        bootstrap_servers: str,
        extra_config: Mapping[str, str] | None = None,
        *,
        on_error: Callable[[KafkaError], None] | None = None,
    ) -> None:
        """`on_error` becomes librdkafka's error callback (a refused password is reported only there)."""
        config: dict[str, Any] = {"bootstrap.servers": bootstrap_servers, **(extra_config or {})}
        if on_error is not None:
            config["error_cb"] = on_error
        self._client = AdminClient(config)

    def describe(self, names: Sequence[str], timeout_s: float = 10.0) -> dict[str, TopicDescription]:
        """Describe the topics of `names` that exist; missing ones are simply absent."""
        metadata = self._metadata(timeout_s, "listing topics")
        present = [n for n in names if n in metadata.topics and metadata.topics[n].error is None]
        configs: dict[str, dict[str, str]] = {}
        if present:
            resources = [ConfigResource(ResourceType.TOPIC, n) for n in present]
            for resource, future in self._client.describe_configs(resources).items():
                entries = _result(future, timeout_s, f"describing the configuration of topic {resource.name!r}")
                configs[resource.name] = {k: str(v.value) for k, v in entries.items() if v.value is not None}
        result: dict[str, TopicDescription] = {}
        for name in present:
            partitions = metadata.topics[name].partitions
            replicas = len(next(iter(partitions.values())).replicas) if partitions else 0
            result[name] = TopicDescription(name, len(partitions), replicas, configs.get(name, {}))
        return result

    def create(
        self,
        name: str,
        partitions: int,
        replication_factor: int,
        config: Mapping[str, str],
        timeout_s: float = 30.0,
    ) -> None:
        topic = NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=dict(config))
        future = self._client.create_topics([topic], operation_timeout=timeout_s)[name]
        _result(future, timeout_s, f"creating topic {name!r}")
        self._wait_for_leaders(name, partitions, timeout_s)

    def delete(self, names: Sequence[str], timeout_s: float = 30.0) -> None:
        """Delete and wait until the topics are gone from the metadata: the broker accepts a deletion
        before it is done, and a topic still listed (or re-created under its name) would surprise."""
        for name, future in self._client.delete_topics(list(names), operation_timeout=timeout_s).items():
            _result(future, timeout_s, f"deleting topic {name!r}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            listed = self._metadata(timeout_s, "listing topics").topics
            if not any(n in listed for n in names):
                return
            time.sleep(0.05)
        raise TopicError(f"topics {sorted(names)} still listed {timeout_s}s after their deletion")

    def group_instance_ids(self, group: str, timeout_s: float = 10.0) -> set[str]:
        """The `group.instance.id`s of the group's current (static) members."""
        future = self._client.describe_consumer_groups([group], request_timeout=timeout_s)[group]
        description = _result(future, timeout_s, f"describing consumer group {group!r}", GroupDescribeError)
        return {m.group_instance_id for m in description.members if m.group_instance_id}

    def partition_count(self, name: str, timeout_s: float = 10.0) -> int | None:
        topic = self._metadata(timeout_s, f"reading the metadata of topic {name!r}", name).topics.get(name)
        if topic is None or topic.error is not None:
            return None
        return len(topic.partitions)

    def _metadata(self, timeout_s: float, what: str, topic: str | None = None) -> Any:
        """list_topics within `timeout_s`; librdkafka raises a KafkaException (_TRANSPORT/_TIMED_OUT) past it."""
        try:
            return self._client.list_topics(topic=topic, timeout=timeout_s)
        except KafkaException as exc:
            raise TopicError(f"{what} failed: {exc.args[0]}") from exc

    def _wait_for_leaders(self, name: str, partitions: int, timeout_s: float) -> None:
        """Creation returns before leaders are elected; producing right away would fail."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            topic = self._metadata(timeout_s, f"reading the metadata of topic {name!r}", name).topics.get(name)
            if (
                topic is not None
                and topic.error is None
                and len(topic.partitions) == partitions
                and all(p.leader >= 0 for p in topic.partitions.values())
            ):
                return
            time.sleep(0.05)
        raise TopicError(f"topic {name!r} has no leader for every partition after {timeout_s}s")
