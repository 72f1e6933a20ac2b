"""The client: start, signal, cancel, query and await workflows; operator actions.

Everything travels through the inbox topic keyed by workflow id, so a client needs nothing
but Kafka. Results are read back from the lifecycle events topic.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition
from opentelemetry import context as otel_context

from orchestrator import tracing
from orchestrator.errors import ClientDeliveryError, SagaBridgeError, WorkflowResultTimeoutError
from orchestrator.serialization import AvroModel, AvroSerde, DecodedRecord
from orchestrator.transport.consumer import to_inbound
from orchestrator.transport.kafka_clients import new_consumer, new_producer
from orchestrator.transport.partitioning import partition_for
from orchestrator.workflow.status import WorkflowStatus

TERMINAL_EVENTS = {
    "sagabridge.events.WorkflowCompleted": WorkflowStatus.COMPLETED,
    "sagabridge.events.WorkflowFailed": WorkflowStatus.FAILED,
    "sagabridge.events.WorkflowCompensated": WorkflowStatus.COMPENSATED,
    "sagabridge.events.WorkflowCancelled": WorkflowStatus.CANCELLED,
}
PARKED_EVENT = "sagabridge.events.WorkflowParked"


@dataclass(frozen=True)
class WorkflowOutcome:
    """How a workflow ended, read from its lifecycle events (`status` PARKED: it waits for an operator)."""

    workflow_id: str
    status: WorkflowStatus  # a final status, or PARKED (needs an operator)
    event: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the workflow completed."""
        return self.status == WorkflowStatus.COMPLETED


class WorkflowClient:
    """Talks to one application's workflows through its inbox and events topics; needs only Kafka."""

    def __init__(
        self,
        bootstrap_servers: str,
        app: str,
        serde: AvroSerde,
        extra_config: Mapping[str, str] | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.app = app
        self.serde = serde
        self._extra = dict(extra_config or {})
        self._producer = new_producer(bootstrap_servers, self._extra)

    @property
    def inbox(self) -> str:
        """The application's inbox topic, where every request goes."""
        return f"{self.app}.inbox"

    @property
    def events(self) -> str:
        """The application's lifecycle events topic, where results come from."""
        return f"{self.app}.events"

    # -- commands ----------------------------------------------------------------------
    def start(
        self,
        workflow_type: str,
        input: AvroModel,
        workflow_id: str | None = None,
        trace_context: Mapping[str, str] | None = None,
        flush: bool = True,
    ) -> WorkflowHandle:
        """Start a workflow. Idempotent on id: starting an existing id returns its handle.

        With tracing on, the run's span identity is reserved here (`new_root_context`, a child
        of the caller's current span if any), so the whole workflow is one trace that starts at
        the caller; `trace_context` overrides it (a stored carrier or a plain W3C context).
        """
        wf_id = workflow_id or str(uuid.uuid4())
        if trace_context is None:
            trace_context = tracing.new_root_context(otel_context.get_current())
        body = {
            "workflow_type": workflow_type,
            "workflow_id": wf_id,
            "input_schema": input.avro_schema_name,
            "input": self.serde.encode(input.avro_schema_name, input.to_avro()),
            "parent_workflow_id": None,
            "parent_seq": None,
            "trace_context": dict(trace_context),
            "requested_at_ms": int(time.time() * 1000),
        }
        self._send(wf_id, "sagabridge.control.StartWorkflow", body, flush)
        return WorkflowHandle(self, wf_id)

    def signal(self, workflow_id: str, name: str, payload: AvroModel | None = None) -> None:
        """Deliver signal `name` (with an optional payload record); dropped if the workflow has finished."""
        self._send(
            workflow_id,
            "sagabridge.control.SignalWorkflow",
            {
                "workflow_id": workflow_id,
                "name": name,
                "payload_schema": payload.avro_schema_name if payload else None,
                "payload": self.serde.encode(payload.avro_schema_name, payload.to_avro()) if payload else None,
            },
        )

    def cancel(self, workflow_id: str, reason: str = "cancelled by client") -> None:
        """Ask the workflow to cancel: pending waits raise, its saga compensates."""
        self._send(workflow_id, "sagabridge.control.CancelWorkflow", {"workflow_id": workflow_id, "reason": reason})

    def operator_action(
        self,
        workflow_id: str,
        action: str,
        seq: int | None = None,
        result: AvroModel | None = None,
        operator: str = "cli",
        reason: str = "",
    ) -> None:
        """RETRY | SKIP | COMPENSATE | CANCEL a parked instance."""
        self._send(
            workflow_id,
            "sagabridge.control.OperatorAction",
            {
                "workflow_id": workflow_id,
                "action": action.upper(),
                "seq": seq,
                "result_schema": result.avro_schema_name if result else None,
                "result": self.serde.encode(result.avro_schema_name, result.to_avro()) if result else None,
                "operator": operator,
                "reason": reason,
            },
        )

    def query(self, workflow_id: str, name: str, timeout_s: float = 30.0) -> Any:
        """Ask a running instance; the answer comes back on the events topic."""
        import json

        query_id = str(uuid.uuid4())
        reader = EventReader(self, workflow_id)
        try:
            self._send(
                workflow_id,
                "sagabridge.control.QueryWorkflow",
                {
                    "workflow_id": workflow_id,
                    "query_id": query_id,
                    "name": name,
                    "reply_topic": self.events,
                },
            )
            for decoded in reader.read(timeout_s):
                if decoded.schema_name == "sagabridge.control.QueryResult" and decoded.value["query_id"] == query_id:
                    if not decoded.value["ok"]:
                        raise SagaBridgeError(f"query {name!r} failed: {decoded.value.get('error')}")
                    return json.loads(decoded.value["result_json"])
        finally:
            reader.close()
        raise WorkflowResultTimeoutError(workflow_id, timeout_s)

    def list_workflows(self, timeout_s: float = 5.0) -> dict[str, tuple[str, dict[str, Any]]]:
        """Latest lifecycle status per workflow id, from the whole events topic (operator view)."""
        consumer = new_consumer(self.bootstrap_servers, f"sagabridge-list-{uuid.uuid4().hex}", self._extra)
        latest: dict[str, tuple[str, dict[str, Any]]] = {}
        try:
            metadata = consumer.list_topics(self.events, timeout=10).topics[self.events]
            ends = {}
            for p in metadata.partitions:
                ends[p] = consumer.get_watermark_offsets(TopicPartition(self.events, p), timeout=10)[1]
            consumer.assign([TopicPartition(self.events, p, 0) for p in metadata.partitions])
            pending = {p for p, end in ends.items() if end > 0}
            deadline = time.monotonic() + timeout_s
            while pending and time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                # Transaction markers occupy offsets too: compare positions, not record offsets.
                for tp in consumer.position([TopicPartition(self.events, p) for p in pending]):
                    if tp.offset >= ends[tp.partition]:
                        pending.discard(tp.partition)
                if msg is None or msg.error() is not None:
                    continue
                record = to_inbound(msg)
                if record.value is None:
                    continue
                try:
                    decoded = self.serde.decode(record.value)
                except SagaBridgeError:
                    continue
                wf_id = decoded.value.get("workflow_id")
                if isinstance(wf_id, str) and decoded.schema_name.startswith("sagabridge.events."):
                    status = decoded.schema_name.rsplit(".", 1)[-1]
                    latest[wf_id] = (status, decoded.value)
        finally:
            consumer.close()
        return latest

    def handle(self, workflow_id: str) -> WorkflowHandle:
        """A handle on an existing workflow id (nothing is sent)."""
        return WorkflowHandle(self, workflow_id)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every record sent so far to be acknowledged; raises ClientDeliveryError past `timeout_s`
        (the records stay queued and are still retried until the producer's message.timeout.ms)."""
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise ClientDeliveryError(f"{remaining} records to {self.inbox} not acknowledged within {timeout_s}s")

    def _send(self, key: str, schema: str, body: dict[str, Any], flush: bool = True) -> None:
        """The caller's trace context rides along, so the activation it causes links back to it."""
        headers: list[tuple[str, str | bytes | None]] = [*tracing.inject_headers()]
        self._producer.produce(self.inbox, key=key.encode(), value=self.serde.encode(schema, body), headers=headers)
        if flush:
            self.flush()


class EventReader:
    """Reads the lifecycle events of one workflow: only the partition its key maps to."""

    def __init__(self, client: WorkflowClient, workflow_id: str, from_beginning: bool = False) -> None:
        self._client = client
        self._key = workflow_id.encode()
        self._consumer = new_consumer(client.bootstrap_servers, f"sagabridge-client-{uuid.uuid4().hex}", client._extra)
        metadata = self._consumer.list_topics(client.events, timeout=10).topics[client.events]
        partition = partition_for(self._key, len(metadata.partitions))
        offset = 0
        if not from_beginning:
            _low, high = self._consumer.get_watermark_offsets(TopicPartition(client.events, partition), timeout=10)
            offset = high
        self._consumer.assign([TopicPartition(client.events, partition, offset if not from_beginning else 0)])

    def read(self, timeout_s: float) -> Any:
        """Yield the workflow's decoded events as they arrive, until `timeout_s` has passed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = self._consumer.poll(min(0.5, max(0.0, deadline - time.monotonic())))
            if msg is None or msg.error() is not None:
                continue
            record = to_inbound(msg)
            if record.key != self._key or record.value is None:
                continue
            try:
                yield self._client.serde.decode(record.value)
            except SagaBridgeError:
                continue

    def close(self) -> None:
        """Close the reader's consumer."""
        self._consumer.close()


class WorkflowHandle:
    """One workflow instance, by id: await its result, signal, cancel or query it."""

    def __init__(self, client: WorkflowClient, workflow_id: str) -> None:
        self.client = client
        self.id = workflow_id

    def result(self, timeout_s: float = 60.0, stop_on_parked: bool = True) -> WorkflowOutcome:
        """Wait for the terminal lifecycle event (scans this workflow's events partition)."""
        reader = EventReader(self.client, self.id, from_beginning=True)
        try:
            for decoded in reader.read(timeout_s):
                outcome = _outcome(self.id, decoded, stop_on_parked)
                if outcome is not None:
                    return outcome
        finally:
            reader.close()
        raise WorkflowResultTimeoutError(self.id, timeout_s)

    def signal(self, name: str, payload: AvroModel | None = None) -> None:
        """Deliver signal `name` to this workflow."""
        self.client.signal(self.id, name, payload)

    def cancel(self, reason: str = "cancelled by client") -> None:
        """Ask this workflow to cancel."""
        self.client.cancel(self.id, reason)

    def query(self, name: str, timeout_s: float = 30.0) -> Any:
        """Ask this workflow's query handler `name`; its answer, decoded from JSON."""
        return self.client.query(self.id, name, timeout_s)


def _outcome(workflow_id: str, decoded: DecodedRecord, stop_on_parked: bool) -> WorkflowOutcome | None:
    status = TERMINAL_EVENTS.get(decoded.schema_name)
    if status is None and stop_on_parked and decoded.schema_name == PARKED_EVENT:
        status = WorkflowStatus.PARKED
    return None if status is None else WorkflowOutcome(workflow_id, status, decoded.value)
