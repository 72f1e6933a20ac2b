"""The Prometheus endpoints of a real orchestrator process and of worker-SDK services, on the broker.

Workflows run end to end through a real `orchestrator run` process and worker-SDK services: first
attempts of ReserveStock fail and are retried, one customer's payment is declined (sagas compensate,
a saga-less workflow fails), a single-attempt workflow is parked, and one undecodable inbox record
is dead-lettered. The orchestrator's scrape, read over HTTP, is then checked against what the
committed topics say: starts and final statuses per type, parks, first commands and retries per
service and command type, settled steps by outcome, DLQ records per reason; plus its gauges (lag
per partition, partitions owned), process metrics and resource. The services' scrape is checked
against the handler calls they made.

The second test SIGKILLs an orchestrator inside an open transaction (tests/metrics/stalled_commit.py):
work that only an aborted transaction held is never counted, and the instance that redoes it counts
it exactly once, as the committed topics hold it (docs/metrics.md, "Counted once").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from orchestrator.metrics import MetricsPipeline, create_metrics_pipeline
from orchestrator.serialization import DecodedRecord
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.consumer import to_inbound
from orchestrator.transport.records import InboundRecord
from tests.integration.harness import (
    ROOT,
    App,
    EventLog,
    OrchestratorProcess,
    ServiceThread,
    create_app,
    make_service,
    read_committed,
    serde,
)
from tests.integration.services import Behaviour, service_handlers, start_services
from tests.integration.test_saga_e2e import order
from tests.metrics.points import scrape, scraped_total
from tests.metrics.stalled_commit import MARKER_ENV

MODULE = "tests.metrics.apps"

Samples = dict[str, list[tuple[dict[str, str], float]]]
TYPE = "sagabridge_workflow_type"
CLOSING = ("WorkflowCompleted", "WorkflowFailed", "WorkflowCompensated", "WorkflowCancelled")


@pytest.fixture
def app(kafka_admin: KafkaAdmin, kafka_bootstrap: str, tmp_path: Path) -> App:
    return create_app(kafka_admin, kafka_bootstrap, tmp_path)


@pytest.fixture
def worker_metrics() -> Iterator[MetricsPipeline]:
    pipeline = create_metrics_pipeline("e2e-services", prometheus_port=0)
    yield pipeline
    pipeline.shutdown()


def wait_for(what: str, probe: Callable[[], bool], timeout_s: float = 60) -> None:
    """A deadline for something that must happen, not a speed budget."""
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s}s")
        time.sleep(0.3)


def metered_orchestrator(app: App, tmp_path: Path, name: str) -> OrchestratorProcess:
    """`orchestrator run` with a Prometheus endpoint on a free port, its URL in `<name>.json`."""
    env = {"SAGABRIDGE_METRICS_PORT": "0", "SAGABRIDGE_LIVENESS_FILE": str(tmp_path / f"{name}.json")}
    return OrchestratorProcess(app, MODULE, tmp_path / f"{name}.log", extra_env=env).start()


def metrics_url(liveness: Path) -> str:
    def written() -> bool:
        try:
            return "metrics_url" in json.loads(liveness.read_text())
        except (FileNotFoundError, ValueError):
            return False

    wait_for("the orchestrator's metrics endpoint", written)
    return str(json.loads(liveness.read_text())["metrics_url"])


def lifecycle(app: App) -> list[DecodedRecord]:
    return [serde.decode(r.value or b"") for r in read_committed(app.bootstrap, f"{app.name}.events")]


def read_uncommitted(bootstrap: str, topic: str, idle_s: float = 2.0) -> list[InboundRecord]:
    """Everything on a topic, records of aborted and open transactions included."""
    consumer = Consumer(  # not transport's factory: that one enforces read_committed
        {
            "bootstrap.servers": bootstrap,
            "group.id": uuid.uuid4().hex,
            "isolation.level": "read_uncommitted",
            "enable.auto.commit": False,
        }
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        out: list[InboundRecord] = []
        last = time.monotonic()
        while time.monotonic() - last < idle_s:
            for msg in consumer.consume(1000, 0.3):
                if msg.error() is None:
                    out.append(to_inbound(msg))
                    last = time.monotonic()
        return out
    finally:
        consumer.close()


def started_ids(records: list[InboundRecord]) -> Counter[str]:
    """WorkflowStarted events per workflow id."""
    decoded = (serde.decode(r.value or b"") for r in records)
    return Counter(d.value["workflow_id"] for d in decoded if d.schema_name.endswith(".WorkflowStarted"))


def event_name(record: DecodedRecord) -> str:
    return record.schema_name.rsplit(".", 1)[-1]


def test_orchestrator_and_worker_scrapes_match_the_committed_topics(
    app: App, tmp_path: Path, worker_metrics: MetricsPipeline
) -> None:
    behaviour = Behaviour(fail_first_attempts=1, decline_customers={"mallory"})
    threads = [
        ServiceThread(make_service(app, name, handlers, meter_provider=worker_metrics.provider)).start()
        for name, handlers in service_handlers(behaviour).items()
    ]
    orchestrator = metered_orchestrator(app, tmp_path, "orchestrator")
    events = EventLog(app)
    try:
        url = metrics_url(tmp_path / "orchestrator.json")
        client = app.client()
        ids = [client.start("saga", order(i), workflow_id=f"ok-{i}").id for i in range(6)]
        ids += [client.start("saga", order(i, "mallory"), workflow_id=f"declined-{i}").id for i in range(3)]
        ids.append(client.start("charge", order(99), workflow_id="charged").id)  # completed, another type
        ids += [client.start("charge", order(i, "mallory"), workflow_id=f"failed-{i}").id for i in range(2)]
        ids.append(client.start("reserve-once", order(50), workflow_id="parked").id)
        producer = Producer({"bootstrap.servers": app.bootstrap})
        producer.produce(f"{app.name}.inbox", key=b"junk", value=b"\x00 not a record")
        producer.flush(10)
        outcomes = events.wait_for(ids, timeout_s=120)
        assert Counter(outcomes.values()) == {"completed": 7, "compensated": 3, "failed": 2, "parked": 1}

        dlq = read_committed(app.bootstrap, f"{app.name}.dlq")
        assert len(dlq) == 1
        records = lifecycle(app)
        names = Counter(event_name(d) for d in records)
        closing = sum(names[name] for name in CLOSING)

        def settled(samples: Samples) -> bool:  # the scrape caught up with the last commit
            return (
                scraped_total(samples, "sagabridge_workflow_closed_total") == closing
                and scraped_total(samples, "sagabridge_workflow_parked_total") == names["WorkflowParked"]
                and scraped_total(samples, "sagabridge_dlq_records_total") == 1
            )

        wait_for("the scrape to show every closed and parked workflow", lambda: settled(scrape(url)))
        wait_for("the lag to be sampled as 0", lambda: lag_is_zero(scrape(url), app))
        samples = scrape(url)
    finally:
        status = orchestrator.terminate()
        events.close()
        for thread in threads:
            thread.stop()
    assert status == 0

    # workflows: per type and final status, as on the events topic
    starts = Counter(d.value["workflow_type"] for d in records if event_name(d) == "WorkflowStarted")
    assert sum(starts.values()) == len(ids) and len(starts) == 3
    for workflow_type, count in starts.items():
        assert scraped_total(samples, "sagabridge_workflow_started_total", {TYPE: workflow_type}) == count
    closes = Counter(
        (d.value["workflow_type"], event_name(d).removeprefix("Workflow").lower())
        for d in records
        if event_name(d) in CLOSING
    )
    assert closing == len(ids) - 1  # all but the parked one
    assert {status for _type, status in closes} == {"completed", "compensated", "failed"}
    for (workflow_type, status_name), count in closes.items():
        labels = {TYPE: workflow_type, "sagabridge_workflow_status": status_name}
        assert scraped_total(samples, "sagabridge_workflow_closed_total", labels) == count
    assert scraped_total(samples, "sagabridge_workflow_duration_seconds_count") == closing
    parked = {TYPE: "reserve-once", "error_type": "Flaky"}
    assert scraped_total(samples, "sagabridge_workflow_parked_total", parked) == 1

    # steps: first commands and retries per service and command type, settlements by outcome
    scheduled = Counter(
        (d.value["service"], d.value["command_type"])
        for d in records
        if event_name(d) == "StepScheduled" and d.value["attempt"] == 1
    )
    for (service, command_type), count in scheduled.items():
        labels = {"sagabridge_step_service": service, "sagabridge_step_command_type": command_type}
        assert scraped_total(samples, "sagabridge_step_scheduled_total", labels) == count
    compensations = sum(1 for d in records if event_name(d) == "StepScheduled" and d.value.get("compensation"))
    assert compensations >= 3  # each declined saga releases its stock
    assert scraped_total(samples, "sagabridge_step_scheduled_total", {"sagabridge_step_compensation": "true"}) == (
        compensations
    )
    retrying = Counter(
        (d.value["command_type"], d.value["error"]["error_type"]) for d in records if event_name(d) == "StepRetrying"
    )
    assert retrying  # every first ReserveStock attempt failed
    for (command_type, error_type), count in retrying.items():
        labels = {"sagabridge_step_command_type": command_type, "error_type": error_type}
        assert scraped_total(samples, "sagabridge_step_retries_total", labels) == count
    assert scraped_total(samples, "sagabridge_step_retries_total") == names["StepRetrying"]
    settled_steps = names["StepCompleted"] + names["StepFailed"]
    assert scraped_total(samples, "sagabridge_step_duration_seconds_count") == settled_steps
    by_outcome = {"sagabridge_step_outcome": "failure", "error_type": "PaymentDeclined"}
    assert scraped_total(samples, "sagabridge_step_duration_seconds_count", by_outcome) == names["StepFailed"] == 5
    retried = {
        "sagabridge_step_outcome": "success",
        "sagabridge_step_command_type": "sagabridge.demo.inventory.ReserveStock",
    }
    # a retried step's latency spans its attempts and the backoff (300 ms at least): never the lowest buckets
    assert scraped_total(samples, "sagabridge_step_duration_seconds_bucket", {**retried, "le": "0.25"}) == 0
    assert scraped_total(samples, "sagabridge_step_duration_seconds_sum", retried) > 0.3 * names["StepRetrying"]

    # the DLQ, by the reason in its headers
    reason = dlq[0].header("sb-dlq-reason")
    assert reason and scraped_total(samples, "sagabridge_dlq_records_total", {"sagabridge_dlq_reason": reason}) == 1

    # the process: checkpoints, consumption, gauges, process metrics, resource
    committed = {"sagabridge_checkpoint_outcome": "committed"}
    assert scraped_total(samples, "sagabridge_checkpoint_duration_seconds_count", committed) > 0
    consumed = scraped_total(
        samples, "messaging_client_consumed_messages_total", {"messaging_destination_name": f"{app.name}.inbox"}
    )
    assert consumed >= len(ids) + settled_steps + 1  # starts, replies, the junk record
    events_sent = {"messaging_destination_name": f"{app.name}.events"}
    assert scraped_total(samples, "messaging_client_sent_messages_total", events_sent) >= len(records)
    assert scraped_total(samples, "sagabridge_partitions_owned") == app.partitions
    assert scraped_total(samples, "sagabridge_restore_duration_seconds_count") >= app.partitions
    assert samples.get("process_cpu_time_seconds_total") and samples.get("process_memory_usage_bytes")
    (info,) = samples["target_info"]
    assert info[0]["service_name"] == "sagabridge-orchestrator"

    # the worker SDK: what the handlers did, per service and outcome
    assert worker_metrics.endpoint is not None
    worker = scrape(worker_metrics.endpoint.url)
    calls = sum(behaviour.calls.values())
    assert scraped_total(worker, "messaging_process_duration_seconds_count") == calls
    flaky = scraped_total(
        worker, "sagabridge_worker_commands_total", {"sagabridge_worker_outcome": "failed", "error_type": "Flaky"}
    )
    assert flaky == names["StepRetrying"] + 1  # the retried attempts and the parked workflow's only one
    declined = {"sagabridge_step_service": "payments", "error_type": "PaymentDeclined"}
    assert scraped_total(worker, "sagabridge_worker_commands_total", declined) == 5
    succeeded = scraped_total(worker, "sagabridge_worker_commands_total", {"sagabridge_worker_outcome": "succeeded"})
    assert succeeded == calls - flaky - 5
    assert scraped_total(worker, "messaging_client_consumed_messages_total") >= calls


def lag_is_zero(samples: Samples, app: App) -> bool:
    points = [
        value
        for labels, value in samples.get("sagabridge_consumer_lag", [])
        if labels.get("messaging_destination_name") == f"{app.name}.inbox"
    ]
    return len(points) == app.partitions and all(v == 0 for v in points)


def test_work_held_only_by_a_sigkilled_transaction_is_never_counted(app: App, tmp_path: Path) -> None:
    """The orchestrator counts at commit (docs/metrics.md): the SIGKILLed instance's scrape shows none of
    the work its open transaction held, and the instance that redoes it counts it once."""
    threads = start_services(app, Behaviour())
    marker = tmp_path / "stalled"
    stalled_env = {
        **os.environ,
        **app.env(),
        "SAGABRIDGE_METRICS_PORT": "0",
        "SAGABRIDGE_LIVENESS_FILE": str(tmp_path / "stalled.json"),
        MARKER_ENV: str(marker),
    }
    with (tmp_path / "stalled.log").open("ab") as log:
        stalled = subprocess.Popen(
            [sys.executable, "-m", "tests.metrics.stalled_commit"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=stalled_env,
        )
    replacement: OrchestratorProcess | None = None
    events = EventLog(app)
    try:
        url = metrics_url(tmp_path / "stalled.json")
        client = app.client()
        ids = [client.start("saga", order(i), workflow_id=f"redone-{i}").id for i in range(4)]
        wait_for("the first checkpoint to stall inside its transaction", marker.exists)
        held = started_ids(read_uncommitted(app.bootstrap, f"{app.name}.events"))
        assert held and set(held) <= set(ids) and set(held.values()) == {1}  # the open transaction's work
        open_transaction = scrape(url)
        sent = {"messaging_destination_name": f"{app.name}.events"}
        assert scraped_total(open_transaction, "messaging_client_sent_messages_total", sent) >= len(held)
        for name in ("sagabridge_workflow_started_total", "sagabridge_step_scheduled_total"):
            assert scraped_total(open_transaction, name) == 0, name
        committed = {"sagabridge_checkpoint_outcome": "committed"}
        assert scraped_total(open_transaction, "sagabridge_checkpoint_duration_seconds_count", committed) == 0
        stalled.send_signal(signal.SIGKILL)
        stalled.wait(10)

        # the same instance id: it fences and aborts the open transaction
        replacement = metered_orchestrator(app, tmp_path, "replacement")
        url = metrics_url(tmp_path / "replacement.json")
        assert events.wait_for(ids, timeout_s=120) == dict.fromkeys(ids, "completed")
        wait_for(
            "the scrape to show every completed workflow",
            lambda: scraped_total(scrape(url), "sagabridge_workflow_closed_total") == len(ids),
        )
        samples = scrape(url)
    finally:
        if stalled.poll() is None:
            stalled.kill()
            stalled.wait(10)
        status = replacement.terminate() if replacement is not None else 0
        events.close()
        for thread in threads:
            thread.stop()
    assert status == 0

    on_the_log = started_ids(read_uncommitted(app.bootstrap, f"{app.name}.events"))
    committed_starts = started_ids(read_committed(app.bootstrap, f"{app.name}.events"))
    assert committed_starts == Counter(ids)  # each start committed once ...
    assert on_the_log == committed_starts + held  # ... beside the aborted transaction's copies
    assert scraped_total(samples, "sagabridge_workflow_started_total", {TYPE: "saga"}) == len(ids)
    first_commands = sum(1 for d in lifecycle(app) if event_name(d) == "StepScheduled" and d.value["attempt"] == 1)
    assert scraped_total(samples, "sagabridge_step_scheduled_total") == first_commands
