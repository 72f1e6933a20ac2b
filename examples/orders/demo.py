"""`make demo`: the order-fulfilment saga end to end on a real local Kafka.

Starts the orchestrator and three services as separate processes, places N orders with
transient failures, permanent payment declines and a 20-second inventory outage, shows
progress, and prints a summary. Exits non-zero if any order is unaccounted for.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from confluent_kafka import TopicPartition

from examples.orders.models.orders import OrderPlaced
from orchestrator.admin.topic_specs import TopicRole, apply, load_topic_set
from orchestrator.client import TERMINAL_EVENTS, WorkflowClient
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.consumer import to_inbound
from orchestrator.transport.kafka_clients import new_consumer
from orchestrator.workflow import WorkflowStatus

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"inventory": 0.05, "payments": 0.10, "shipping": 0.05}  # transient failure rates


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, **env},
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _bar(done: int, total: int, counts: Counter[str], elapsed: float) -> str:
    width = 30
    filled = int(width * done / total) if total else width
    parts = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {parts} ({elapsed:.0f}s)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--decline-every", type=int, default=10, help="every Nth order's payment is declined")
    parser.add_argument("--rate", type=float, default=10.0, help="orders placed per second (0: all at once)")
    parser.add_argument("--outage-at", type=float, default=5.0, help="seconds after start the inventory goes down")
    parser.add_argument("--outage-seconds", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument(
        "--bootstrap-servers", default=os.environ.get("SAGABRIDGE_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    )
    args = parser.parse_args()

    app = f"demo-{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:4]}"
    workdir = Path(tempfile.mkdtemp(prefix=f"sagabridge-{app}-"))
    bootstrap = args.bootstrap_servers
    print(f"app {app}; logs and state in {workdir}")

    admin = KafkaAdmin(bootstrap)
    topic_set = load_topic_set(ROOT / "topics" / "orders.toml", app=app)
    topic_set = topic_set.model_copy(
        update={
            "topics": tuple(
                t.model_copy(update={"name": f"{app}.{t.name}"}) if t.role is TopicRole.COMMANDS else t
                for t in topic_set.topics
            )
        }
    )
    report = apply(admin, topic_set)
    print(f"topics: created {len(report.created)}")

    env = {
        "SAGABRIDGE_BOOTSTRAP_SERVERS": bootstrap,
        "SAGABRIDGE_APP": app,
        "SAGABRIDGE_STATE_DIR": str(workdir / "state"),
        "SAGABRIDGE_COMMAND_TOPIC_TEMPLATE": f"{app}.{{service}}.commands",
        "SAGABRIDGE_LOG_LEVEL": "WARNING",
    }
    orchestrator = _spawn(
        ["-m", "orchestrator.cli", "run", "--app", "examples.orders.workflows"], workdir / "orchestrator.log", env
    )
    services = {
        name: _spawn(
            ["-m", "examples.orders.services", name, "--app", app, "--failure-rate", str(rate), "--latency-ms", "10"],
            workdir / f"{name}.log",
            env,
        )
        for name, rate in SERVICES.items()
    }

    serde = SingleObjectSerde(SchemaRepository())
    client = WorkflowClient(bootstrap, app, serde)
    started_at: dict[str, float] = {}
    expected_declines: set[str] = set()
    placed = 0

    def place_due_orders(elapsed: float) -> None:
        """Orders arrive at --rate per second, so the outage hits some mid-flight and some later."""
        nonlocal placed
        due = args.orders if args.rate <= 0 else min(args.orders, int(elapsed * args.rate) + 1)
        while placed < due:
            i = placed
            order_id = f"order-{i:04d}"
            declined = args.decline_every > 0 and i % args.decline_every == args.decline_every - 1
            customer = f"declined-{i}" if declined else f"customer-{i % 37}"
            if declined:
                expected_declines.add(order_id)
            order = OrderPlaced(
                order_id=order_id,
                customer_id=customer,
                sku=f"sku-{i % 11}",
                quantity=1 + i % 3,
                amount_cents=1000 + i,
                currency="EUR",
            )
            client.start("order-fulfilment", order, workflow_id=order_id, flush=False)
            started_at[order_id] = time.time()
            placed += 1
        client.flush()

    t0 = time.time()
    consumer = new_consumer(bootstrap, f"{app}-demo-watch")
    events_topic = f"{app}.events"
    partitions = consumer.list_topics(events_topic, timeout=10).topics[events_topic].partitions
    consumer.assign([TopicPartition(events_topic, p, 0) for p in partitions])
    outcomes: dict[str, str] = {}
    finished_at: dict[str, float] = {}
    retries = 0
    notified = 0
    outage = "pending"
    deadline = time.time() + args.timeout
    try:
        while len(outcomes) < args.orders and time.time() < deadline:
            now = time.time() - t0
            place_due_orders(now)
            if outage == "pending" and now >= args.outage_at:
                _stop(services["inventory"])
                outage = "down"
                print(f"\ninventory DOWN for {args.outage_seconds:.0f}s (commands wait in Kafka)")
            elif outage == "down" and now >= args.outage_at + args.outage_seconds:
                services["inventory"] = _spawn(
                    [
                        "-m",
                        "examples.orders.services",
                        "inventory",
                        "--app",
                        app,
                        "--failure-rate",
                        str(SERVICES["inventory"]),
                        "--latency-ms",
                        "10",
                    ],
                    workdir / "inventory.log",
                    env,
                )
                outage = "over"
                print("\ninventory back UP")
            for msg in consumer.consume(500, 0.5):
                if msg.error() is not None:
                    continue
                record = to_inbound(msg)
                decoded = serde.decode(record.value or b"")
                if decoded.schema_name == "sagabridge.events.StepRetrying":
                    retries += 1
                elif decoded.schema_name == "sagabridge.demo.notifications.CustomerNotified":
                    notified += 1
                status = TERMINAL_EVENTS.get(decoded.schema_name)
                if decoded.schema_name == "sagabridge.events.WorkflowParked":
                    status = WorkflowStatus.PARKED
                wf_id = decoded.value.get("workflow_id")
                if status and wf_id in started_at and wf_id not in outcomes:
                    outcomes[wf_id] = status
                    finished_at[wf_id] = record.timestamp_ms / 1000
            sys.stdout.write(_bar(len(outcomes), args.orders, Counter(outcomes.values()), time.time() - t0))
            sys.stdout.flush()
    finally:
        consumer.close()
        for proc in [*services.values(), orchestrator]:
            _stop(proc)
    print()

    latencies = sorted(finished_at[o] - started_at[o] for o in finished_at)
    counts = Counter(outcomes.values())
    missing = sorted(set(started_at) - set(outcomes))
    wrong = sorted(o for o in expected_declines if outcomes.get(o) not in (None, "compensated"))

    def p(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    rows = [
        ("orders", str(args.orders)),
        ("completed", str(counts.get("completed", 0))),
        ("compensated", f"{counts.get('compensated', 0)} (expected declines: {len(expected_declines)})"),
        ("parked", str(counts.get("parked", 0))),
        ("failed", str(counts.get("failed", 0))),
        ("unaccounted", str(len(missing))),
        ("end-to-end p50", f"{p(0.50):.2f} s"),
        ("end-to-end p95", f"{p(0.95):.2f} s"),
        ("mean", f"{statistics.fmean(latencies):.2f} s" if latencies else "n/a"),
        ("step retries", str(retries)),
        ("customer notifications (events)", str(notified)),
        ("inventory outage", f"{args.outage_seconds:.0f} s"),
        ("wall time", f"{time.time() - t0:.1f} s"),
    ]
    print("\n| metric | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    sample = next(iter(sorted(outcomes)), "order-0000")
    print(f"\nInspect one workflow:\n  .venv/bin/orchestrator workflows --name {app} show {sample}")
    print(f"Logs: {workdir}")
    if missing:
        print(f"UNACCOUNTED orders: {missing[:10]}{' ...' if len(missing) > 10 else ''}", file=sys.stderr)
        return 1
    if wrong:
        print(f"declined orders not compensated: {wrong[:10]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
