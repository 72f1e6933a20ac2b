"""The benchmarks' echo participant: protocol replies, DLQ for headerless input, and a real
3-step workflow on the engine answered by three echo processes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, Message, Producer

from benchmarks.echo_participant import header_map, start_echo_processes
from benchmarks.workflow import SERVICES, WORKFLOW, order, registry
from orchestrator.config import OrchestratorSettings
from orchestrator.devstack.child_process import stop_all
from orchestrator.transport import header_names
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.partitioning import PRODUCER_PARTITIONER
from tests.integration.harness import EventLog, OrchestratorThread, create_app

TopicFactory = Callable[..., str]


def _read(bootstrap: str, topic: str, want: int, timeout_s: float = 30) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < want and time.monotonic() < deadline:
            got += [m for m in consumer.consume(100, 0.5) if m.error() is None]
    finally:
        consumer.close()
    return got


def test_echo_replies_per_protocol_and_dead_letters_headerless_records(
    kafka_bootstrap: str, topic_factory: TopicFactory, tmp_path: Path
) -> None:
    commands, inbox, dlq = topic_factory("echo-cmd", 2), topic_factory("echo-inbox", 3), topic_factory("echo-dlq")
    producer = Producer({"bootstrap.servers": kafka_bootstrap, **PRODUCER_PARTITIONER})
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    producer.produce(
        commands,
        b"\xc3\x01command-bytes",
        b"order-42",
        headers=[
            (header_names.WORKFLOW_ID, b"order-42"),
            (header_names.COMMAND_ID, b"order-42/3"),
            (header_names.ATTEMPT, b"2"),
            (header_names.REPLY_TO, inbox.encode()),
            (header_names.COMMAND_TYPE, b"sagabridge.demo.payments.ChargePayment"),
            (header_names.TRACEPARENT, traceparent.encode()),
        ],
    )
    producer.produce(commands, b"no headers at all", b"k")
    producer.flush(10)

    procs = start_echo_processes(kafka_bootstrap, commands, f"echo-{uuid.uuid4().hex[:6]}", dlq=dlq, stats_dir=tmp_path)
    try:
        [reply] = _read(kafka_bootstrap, inbox, 1)
        [dead] = _read(kafka_bootstrap, dlq, 1)
    finally:
        stop_all(procs)

    assert reply.key() == b"order-42" and reply.value() == b"\xc3\x01command-bytes"
    got = header_map(reply)
    assert got == {
        header_names.WORKFLOW_ID: b"order-42",
        header_names.COMMAND_ID: b"order-42/3",
        header_names.ATTEMPT: b"2",
        header_names.REPLY_STATUS: b"success",
        header_names.TRACEPARENT: traceparent.encode(),
    }
    assert dead.value() == b"no headers at all" and dead.key() == b"k"
    dlq_headers = header_map(dead)
    assert b"sb-workflow-id" in dlq_headers[header_names.DLQ_REASON]
    assert dlq_headers[header_names.DLQ_SOURCE_TOPIC] == commands.encode()
    assert (
        dlq_headers[header_names.DLQ_SOURCE_PARTITION].isdigit()
        and dlq_headers[header_names.DLQ_SOURCE_OFFSET].isdigit()
    )
    assert [p.returncode for p in procs] == [0]
    stats = json.loads(next(tmp_path.glob("echo-*.json")).read_text())
    assert (stats["replied"], stats["dead_lettered"]) == (1, 1) and stats["cpu_seconds"] > 0


def test_three_step_bench_workflow_completes_against_echo_processes(
    kafka_bootstrap: str, kafka_admin: KafkaAdmin, tmp_path: Path
) -> None:
    app = create_app(kafka_admin, kafka_bootstrap, tmp_path, partitions=2)
    for service in SERVICES:
        kafka_admin.create(app.command_topic(service), 2, 1, {})
    settings: OrchestratorSettings = app.settings()  # commit interval 50 ms: a quick test
    procs = [
        p for s in SERVICES for p in start_echo_processes(kafka_bootstrap, app.command_topic(s), f"{app.name}-{s}")
    ]
    orch = OrchestratorThread(settings, registry).start()
    events = EventLog(app)
    try:
        client = app.client()
        ids = [client.start(WORKFLOW, order(i), workflow_id=f"wf-{i}").id for i in range(5)]
        assert events.wait_for(ids, timeout_s=90) == dict.fromkeys(ids, "completed")
        steps = [e for i in ids for e in events.of(i, "StepCompleted")]
        assert len(steps) == 3 * len(ids)
    finally:
        orch.stop()
        stop_all(procs)
