"""Drives one PartitionEngine over a real RocksDB PartitionStore with a clock the test controls.

Every engine call is followed by a "checkpoint": the StateTxn is applied to RocksDB and a new
one begun, exactly what the runner does after a committed Kafka transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.engine import EngineTopics, PartitionEngine, keys
from orchestrator.engine.state_records import Header, StateCodec
from orchestrator.serialization import AvroModel, SchemaRepository, SingleObjectSerde
from orchestrator.state import PartitionStore
from orchestrator.transport.records import InboundRecord, OutboundRecord, make_headers
from orchestrator.workflow import WorkflowRegistry
from orchestrator.workflow.activation import HistoryEvent

INBOX = "app.inbox"
EVENTS = "app.events"
DLQ = "app.dlq"
T0 = 1_700_000_000_000
_SERDE: SingleObjectSerde | None = None


def serde() -> SingleObjectSerde:
    global _SERDE
    if _SERDE is None:
        _SERDE = SingleObjectSerde(SchemaRepository())
    return _SERDE


class Harness:
    def __init__(
        self,
        path: Path,
        registry: WorkflowRegistry,
        *,
        cache_size: int = 100,
        retention_ms: int = 86_400_000,
        partition: int = 0,
    ) -> None:
        self.serde = serde()
        self.codec = StateCodec(self.serde)
        self.topics = EngineTopics(inbox=INBOX, events=EVENTS, dlq=DLQ, service_topics={"billing": "billing.in"})
        self.store = PartitionStore.open(path / f"p{partition}", partition)
        self.txn = self.store.begin()
        self.registry = registry
        self.partition = partition
        self.engine = PartitionEngine(
            topics=self.topics,
            registry=registry,
            serde=self.serde,
            partition=partition,
            cache_size=cache_size,
            retention_ms=retention_ms,
        )
        self.now = T0
        self._offset = 0
        self._changelog_offset = 0
        self.produced: list[OutboundRecord] = []

    def close(self) -> None:
        self.store.close()

    # --- driving ------------------------------------------------------------------------------
    def _commit(self) -> None:
        self._changelog_offset += 1
        self.store.apply(self.txn, self._changelog_offset)
        self.txn = self.store.begin()
        self.engine.mark_committed()

    def feed(self, record: InboundRecord) -> list[OutboundRecord]:
        out = self.engine.handle(record, self.txn, self.now)
        self._commit()
        self.produced.extend(out)
        return out

    def advance(self, ms: int) -> list[OutboundRecord]:
        """Move the clock and fire everything due (what the runner does when next_due_ms passes)."""
        self.now += ms
        out = self.engine.fire_due(self.txn, self.now)
        self._commit()
        self.produced.extend(out)
        return out

    def record(
        self, key: str | bytes | None, value: bytes | None, headers: Mapping[str, str] | None = None
    ) -> InboundRecord:
        self._offset += 1
        raw_key = key.encode() if isinstance(key, str) else key
        return InboundRecord(
            topic=INBOX,
            partition=self.partition,
            offset=self._offset,
            key=raw_key,
            value=value,
            headers=make_headers(headers or {}),
        )

    def control(self, schema: str, value: dict[str, Any], key: str | None = None) -> list[OutboundRecord]:
        return self.feed(self.record(key or value["workflow_id"], self.serde.encode(schema, value)))

    def start(
        self, workflow_id: str, workflow_type: str, input_model: AvroModel, *, trace: dict[str, str] | None = None
    ) -> list[OutboundRecord]:
        return self.control(
            "sagabridge.control.StartWorkflow",
            {
                "workflow_type": workflow_type,
                "workflow_id": workflow_id,
                "input_schema": input_model.avro_schema_name,
                "input": self.serde.encode(input_model.avro_schema_name, input_model.to_avro()),
                "parent_workflow_id": None,
                "parent_seq": None,
                "trace_context": trace or {},
                "requested_at_ms": self.now,
            },
        )

    def signal(self, workflow_id: str, name: str, payload: AvroModel | None = None) -> list[OutboundRecord]:
        return self.control(
            "sagabridge.control.SignalWorkflow",
            {
                "workflow_id": workflow_id,
                "name": name,
                "payload_schema": None if payload is None else payload.avro_schema_name,
                "payload": None if payload is None else self.serde.encode(payload.avro_schema_name, payload.to_avro()),
            },
        )

    def cancel(self, workflow_id: str, reason: str = "customer asked") -> list[OutboundRecord]:
        return self.control("sagabridge.control.CancelWorkflow", {"workflow_id": workflow_id, "reason": reason})

    def query(self, workflow_id: str, name: str, query_id: str = "q1") -> list[OutboundRecord]:
        return self.control(
            "sagabridge.control.QueryWorkflow",
            {"workflow_id": workflow_id, "query_id": query_id, "name": name, "reply_topic": "client.replies"},
        )

    def operator(
        self, workflow_id: str, action: str, *, seq: int | None = None, result: AvroModel | None = None
    ) -> list[OutboundRecord]:
        return self.control(
            "sagabridge.control.OperatorAction",
            {
                "workflow_id": workflow_id,
                "action": action,
                "seq": seq,
                "result_schema": None if result is None else result.avro_schema_name,
                "result": None if result is None else self.serde.encode(result.avro_schema_name, result.to_avro()),
                "operator": "alice",
                "reason": "test",
            },
        )

    def reply_ok(
        self, command: OutboundRecord, result: AvroModel | None, *, attempt: int | None = None
    ) -> list[OutboundRecord]:
        headers = self._echo(command, attempt)
        headers["sb-reply-status"] = "success"
        value = None if result is None else self.serde.encode(result.avro_schema_name, result.to_avro())
        return self.feed(self.record(command.key, value, headers))

    def reply_fail(
        self,
        command: OutboundRecord,
        error_type: str = "Unavailable",
        *,
        retryable: bool = True,
        attempt: int | None = None,
        message: str = "try later",
    ) -> list[OutboundRecord]:
        headers = self._echo(command, attempt)
        headers.update(
            {
                "sb-reply-status": "failure",
                "sb-error-type": error_type,
                "sb-error-message": message,
                "sb-retryable": "true" if retryable else "false",
            }
        )
        body = self.serde.encode(
            "sagabridge.protocol.StepError",
            {"error_type": error_type, "message": message, "retryable": retryable, "details": {"k": "v"}},
        )
        return self.feed(self.record(command.key, body, headers))

    @staticmethod
    def _echo(command: OutboundRecord, attempt: int | None) -> dict[str, str]:
        def h(name: str) -> str:
            value = command.header(name)
            assert value is not None, name
            return value

        return {
            "sb-workflow-id": h("sb-workflow-id"),
            "sb-command-id": h("sb-command-id"),
            "sb-attempt": str(attempt) if attempt is not None else h("sb-attempt"),
        }

    # --- inspecting ---------------------------------------------------------------------------
    @staticmethod
    def commands(out: Iterable[OutboundRecord], service: str | None = None) -> list[OutboundRecord]:
        topic = None if service is None else f"{service}.commands"
        return [r for r in out if r.topic.endswith(".commands") and (topic is None or r.topic == topic)]

    def decode(self, record: OutboundRecord) -> tuple[str, dict[str, Any]]:
        assert record.value is not None
        d = self.serde.decode(record.value)
        return d.schema_name, d.value

    def events(self, out: Iterable[OutboundRecord], name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for r in out:
            if r.topic != EVENTS:
                continue
            schema, value = self.decode(r)
            if name is None or schema == f"sagabridge.events.{name}":
                found.append({"_type": schema.rsplit(".", 1)[1], **value})
        return found

    def event_names(self, out: Iterable[OutboundRecord]) -> list[str]:
        return [e["_type"] for e in self.events(out)]

    def header(self, workflow_id: str) -> Header:
        raw = self.store.get(keys.header_key(workflow_id))
        assert raw is not None, f"no header for {workflow_id}"
        return self.codec.decode_header(raw)

    def history(self, workflow_id: str) -> list[HistoryEvent]:
        start, end = keys.history_range(workflow_id)
        return [self.codec.decode_event(v) for _, v in self.store.scan(start, end)]

    def kinds(self, workflow_id: str) -> list[str]:
        return [e.kind for e in self.history(workflow_id)]

    def keys_of(self, workflow_id: str) -> list[bytes]:
        esc = keys.escape_id(workflow_id).encode()
        return [key for key, _ in self.store.scan(b"", b"\xff") if esc in key]

    def timer_keys(self) -> list[bytes]:
        return [key for key, _ in self.store.scan(keys.TIMER, keys.prefix_end(keys.TIMER))]
