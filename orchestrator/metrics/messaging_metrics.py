"""The messaging instruments the orchestrator and the worker SDK share, one per meter provider.

Both consume Kafka records and count them as `messaging.client.consumed.messages`. Created once
per component meter, a process running an orchestrator and a service on one provider (an
embedded worker, a test) would export two Prometheus families of one name, a scrape Prometheus
refuses; so the counter is made once per provider, under the `sagabridge.messaging` meter, and
each component adds its own attribute values (topic, partition, consumer group).
"""

from __future__ import annotations

from opentelemetry.metrics import MeterProvider

from orchestrator import __version__
from orchestrator.metrics import metric_names as m
from orchestrator.metrics.per_provider import PerProvider
from orchestrator.metrics.tally import Tally, tally_counter


def _consumed(provider: MeterProvider) -> Tally:
    return tally_counter(
        provider.get_meter(m.MESSAGING_METER, __version__),
        m.MESSAGING_CONSUMED,
        "{message}",
        "Records delivered to a consumer: the orchestrator's inbox (again after a rollback: each "
        "delivery counts), a service's commands.",
        (m.MESSAGING_DESTINATION_NAME, m.MESSAGING_DESTINATION_PARTITION_ID, m.MESSAGING_CONSUMER_GROUP_NAME),
        {m.MESSAGING_SYSTEM: m.SYSTEM_KAFKA, m.MESSAGING_OPERATION_NAME: m.OP_POLL},
    )


_consumed_per_provider = PerProvider(_consumed)


def consumed_counter(provider: MeterProvider) -> Tally:
    """`messaging.client.consumed.messages` of `provider`, keyed (topic, partition, consumer group)."""
    return _consumed_per_provider.get(provider)
