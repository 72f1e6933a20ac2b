"""A typed transactional producer: one per orchestrator instance (KIP-447).

It records the offset of every delivered record per (topic, partition) so the checkpoint can
store the changelog offset next to the state it describes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition

from orchestrator.errors import ProduceError, TransactionAbortableError, TransactionFatalError
from orchestrator.transport.kafka_clients import transactional_config
from orchestrator.transport.records import OutboundRecord


def classify(exc: KafkaException) -> TransactionAbortableError | TransactionFatalError:
    """Map librdkafka's transactional error flags (not message text) to our two outcomes."""
    error: KafkaError = exc.args[0]
    if error.fatal() or error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED):
        return TransactionFatalError(str(error))
    return TransactionAbortableError(str(error))


class TransactionalProducer:
    def __init__(
        self, bootstrap_servers: str, transactional_id: str, extra_config: Mapping[str, str] | None = None
    ) -> None:
        self._producer = Producer(transactional_config(bootstrap_servers, transactional_id, extra_config))
        self._in_transaction = False
        self._errors: list[KafkaError] = []
        self.delivered: dict[tuple[str, int], int] = {}

    def init(self, timeout_s: float = 60.0) -> None:
        """Register the transactional id: fences any zombie with the same id, aborts its open txn."""
        try:
            self._producer.init_transactions(timeout_s)
        except KafkaException as exc:
            raise classify(exc) from exc

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    def begin(self) -> None:
        if self._in_transaction:
            return
        try:
            self._producer.begin_transaction()
        except KafkaException as exc:
            raise classify(exc) from exc
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
        while True:
            try:
                self._producer.produce(record.topic, **kwargs)
                return
            except BufferError:
                self._producer.poll(0.05)  # queue full: serve delivery reports, then retry
            except KafkaException as exc:
                raise classify(exc) from exc

    def produce_all(self, records: Sequence[OutboundRecord]) -> None:
        for record in records:
            self.produce(record)

    def commit(self, offsets: Sequence[TopicPartition], group_metadata: object, timeout_s: float = 30.0) -> None:
        """flush -> send offsets -> commit. Raises TransactionAbortableError / TransactionFatalError."""
        self.begin()
        try:
            remaining = self._producer.flush(timeout_s)
            if remaining:
                raise TransactionAbortableError(f"{remaining} records undelivered after {timeout_s}s")
            if self._errors:
                raise ProduceError(f"delivery failed: {self._errors[0]}")
            if offsets:
                self._producer.send_offsets_to_transaction(list(offsets), group_metadata, timeout_s)
            self._producer.commit_transaction(timeout_s)
        except KafkaException as exc:
            raise classify(exc) from exc
        self._in_transaction = False

    def abort(self, timeout_s: float = 30.0) -> None:
        if not self._in_transaction:
            return
        try:
            self._producer.abort_transaction(timeout_s)
        except KafkaException as exc:
            raise classify(exc) from exc
        finally:
            self._in_transaction = False
            self.delivered.clear()

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout_s)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._errors.append(err)
            return
        key = (msg.topic() or "", msg.partition() or 0)
        offset = msg.offset() or 0
        if offset > self.delivered.get(key, -1):
            self.delivered[key] = offset
