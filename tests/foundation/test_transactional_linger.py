"""The runner's transactional producer lingers up to the commit interval (fewer produce requests);
that is only sound because a commit sends lingering records at once instead of waiting them out."""

from __future__ import annotations

from orchestrator.transport.producer import TransactionalProducer
from orchestrator.transport.records import OutboundRecord
from tests.conftest import TopicFactory
from tests.foundation.test_broker_guarantees import _read_all


def test_a_commit_sends_lingering_records_at_once(kafka_bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory("linger")
    # A linger longer than the commit's deadline: a commit that waited it out would be past its
    # deadline and raise TransactionTimeoutError instead of committing.
    producer = TransactionalProducer(
        kafka_bootstrap, f"linger-{topic}", call_timeout_s=3.0, transaction_timeout_ms=20_000, linger_ms=15_000
    )
    try:
        producer.init(30)
        producer.produce_all([OutboundRecord(topic, b"k", b"first"), OutboundRecord(topic, b"k", b"second")])
        producer.commit([], None)
        assert _read_all(kafka_bootstrap, topic, "read_committed") == [b"first", b"second"]
    finally:
        producer.close(5)
