"""The shop's choreography on its own, then adopted by the bridge, on a real local Kafka.

    python -m examples.choreography.demo --orders 20

Phase 1, choreography: inventory, payments and shipping run as separate processes (plain
confluent_kafka + JSON, examples/choreography/services.py) and react to each other's events;
the orders service places orders. Nobody can say where an order is; the script reconstructs it
from four topics.

Phase 2, adopted: the same service code, restarted with one configuration change (each listens
to its own requests topic), and `orchestrator run` with the bridge's mapping file
(connectors/shop.toml): the order-fulfilment workflow starts from OrderPlaced, drives every step
on the services' own topics in their own JSON, completes each step from the event the service
publishes anyway, and compensates the declined payments. Exits non-zero if any order is
unaccounted for or ends other than expected.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from orchestrator.admin.topic_specs import TopicRole, apply, load_topic_set
from orchestrator.client import TERMINAL_EVENTS
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.consumer import to_inbound
from orchestrator.transport.kafka_clients import consumer_config

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "connectors" / "shop.toml"
SERVICES = ("inventory", "payments", "shipping")
CHOREOGRAPHY_LISTEN = {
    "inventory": ("orders", "payments"),
    "payments": ("inventory", "shipping"),
    "shipping": ("payments",),
}


class Procs:
    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, args: list[str], *, wait: bool = False) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, *args],
            stdout=(self.workdir / f"{name}.log").open("ab"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        if wait:
            if proc.wait(120) != 0:
                raise SystemExit(f"{name} failed: see {self.workdir / (name + '.log')}")
        else:
            self.running[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.running.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


class Reader:
    """All partitions of some topics from the beginning, read_committed."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.consumer = Consumer({**consumer_config(bootstrap), "group.id": f"shop-demo-{uuid.uuid4().hex}"})
        parts = []
        for topic in topics:
            meta = self.consumer.list_topics(topic, timeout=10).topics[topic]
            parts += [TopicPartition(topic, p, 0) for p in meta.partitions]
        self.consumer.assign(parts)

    def poll(self) -> list[tuple[str, bytes]]:
        out = []
        for msg in self.consumer.consume(500, 0.3):
            if msg.error() is None:
                record = to_inbound(msg)
                out.append((record.topic, record.value or b""))
        return out

    def close(self) -> None:
        self.consumer.close()


def table(rows: list[tuple[str, str]]) -> str:
    return "\n".join(["| metric | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def choreography(args: argparse.Namespace, prefix: str, procs: Procs) -> bool:
    print("\n== phase 1: the services choreograph on their own ==")
    for svc in SERVICES:
        listen = [a for up in CHOREOGRAPHY_LISTEN[svc] for a in ("--listen", f"{prefix}.{up}.events")]
        procs.spawn(svc, ["-m", "examples.choreography.services", svc, "--prefix", prefix, *listen, *args.boot])
    reader = Reader(args.bootstrap_servers, [f"{prefix}.{s}.events" for s in SERVICES])
    procs.spawn(
        "orders-1",
        [
            "-m",
            "examples.choreography.services",
            "orders",
            "--prefix",
            prefix,
            "--count",
            str(args.orders),
            "--decline-every",
            str(args.decline_every),
            *args.boot,
        ],
        wait=True,
    )
    ended: dict[str, str] = {}
    seen: Counter[str] = Counter()
    deadline = time.time() + args.timeout
    while len(ended) < args.orders and time.time() < deadline:
        for _topic, raw in reader.poll():
            event = json.loads(raw)
            seen[event["eventType"]] += 1
            if event["eventType"] == "ShipmentCreated":
                ended[event["orderId"]] = "shipped"
            elif event["eventType"] == "StockReleased":
                ended[event["orderId"]] = "cancelled (stock released)"
    reader.close()
    for svc in SERVICES:
        procs.stop(svc)
    counts = Counter(ended.values())
    print(
        table(
            [
                ("orders placed", str(args.orders)),
                *((k, str(v)) for k, v in sorted(counts.items())),
                ("unaccounted", str(args.orders - len(ended))),
                ("events seen", ", ".join(f"{k}={v}" for k, v in sorted(seen.items()))),
            ]
        )
    )
    return len(ended) == int(args.orders)


def adopted(args: argparse.Namespace, prefix: str, app: str, procs: Procs) -> bool:
    print("\n== phase 2: the same services, adopted by the order-fulfilment workflow through the bridge ==")
    for svc in SERVICES:  # one configuration change: read the requests topic the bridge writes
        procs.spawn(
            svc,
            [
                "-m",
                "examples.choreography.services",
                svc,
                "--prefix",
                prefix,
                "--listen",
                f"{prefix}.{svc}.requests",
                *args.boot,
            ],
        )
    cli = ["-m", "orchestrator.cli"]
    procs.spawn(
        "check",
        [*cli, "connectors", "check", "--config", str(MAPPING), "--app", "examples.orders.workflows"],
        wait=True,
    )
    # Adopt from now on: the bridge must not replay the orders phase 1 already handled.
    procs.spawn("seek", [*cli, "connectors", "seek", "--config", str(MAPPING), "--to", "latest"], wait=True)
    procs.spawn("orchestrator", [*cli, "run", "--app", "examples.orders.workflows"])
    serde = SingleObjectSerde(SchemaRepository())
    reader = Reader(args.bootstrap_servers, [f"{app}.events"])
    first = args.orders
    procs.spawn(
        "orders-2",
        [
            "-m",
            "examples.choreography.services",
            "orders",
            "--prefix",
            prefix,
            "--first",
            str(first),
            "--count",
            str(args.orders),
            "--decline-every",
            str(args.decline_every),
            *args.boot,
        ],
        wait=True,
    )
    expected = {
        f"order-{prefix}-{i:04d}": "compensated" if i % args.decline_every == args.decline_every - 1 else "completed"
        for i in range(first, first + args.orders)
    }
    outcomes: dict[str, str] = {}
    steps: Counter[str] = Counter()
    deadline = time.time() + args.timeout
    while len(outcomes) < len(expected) and time.time() < deadline:
        for _topic, raw in reader.poll():
            decoded = serde.decode(raw)
            name = decoded.schema_name.rsplit(".", 1)[-1]
            wf = decoded.value.get("workflow_id")
            if name in ("StepCompleted", "StepFailed", "StepRetrying"):
                steps[f"{name} {decoded.value['service']}"] += 1
            status = TERMINAL_EVENTS.get(decoded.schema_name)
            if status and wf in expected:
                outcomes[wf] = status
    reader.close()
    procs.stop_all()
    wrong = {wf: (outcomes.get(wf), want) for wf, want in expected.items() if outcomes.get(wf) != want}
    counts = Counter(outcomes.values())
    print(
        table(
            [
                ("orders placed", str(len(expected))),
                *((k, str(v)) for k, v in sorted(counts.items())),
                ("unaccounted", str(len(expected) - len(outcomes))),
                ("not as expected", str(len(wrong))),
                *((k, str(v)) for k, v in sorted(steps.items())),
            ]
        )
    )
    sample = min(expected)
    print(f"\nWhere is {sample}? .venv/bin/orchestrator workflows --name {app} show {sample}")
    if wrong:
        print(f"unexpected outcomes: {list(wrong.items())[:5]}", file=sys.stderr)
    return not wrong


def prepare_run(bootstrap: str, workdir_prefix: str) -> tuple[str, str, Path, dict[str, str]]:
    """A fresh run of the shop: unique topic prefix and app name, their topics, a work directory,
    and the environment its processes share (the CLI's settings come from SAGABRIDGE_*)."""
    run_id = f"{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:4]}"
    prefix, app = f"shop-{run_id}", f"shopapp-{run_id}"
    workdir = Path(tempfile.mkdtemp(prefix=f"{workdir_prefix}-{run_id}-"))
    admin = KafkaAdmin(bootstrap)
    apply(admin, load_topic_set(ROOT / "topics" / "shop.toml", app=prefix))
    app_topics = load_topic_set(ROOT / "topics" / "orders.toml", app=app)
    # The services' own topics stand in for the commands topics: the bridge maps them natively.
    commandless = tuple(t for t in app_topics.topics if t.role is not TopicRole.COMMANDS)
    apply(admin, app_topics.model_copy(update={"topics": commandless}))
    env = {
        "SAGABRIDGE_BOOTSTRAP_SERVERS": bootstrap,
        "SAGABRIDGE_APP": app,
        "SAGABRIDGE_STATE_DIR": str(workdir / "state"),
        "SAGABRIDGE_CONNECTORS": json.dumps([str(MAPPING)]),
        "SAGABRIDGE_LOG_LEVEL": "WARNING",
        "SHOP_PREFIX": prefix,
    }
    return prefix, app, workdir, env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20, help="orders per phase")
    parser.add_argument("--decline-every", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per phase")
    parser.add_argument(
        "--bootstrap-servers", default=os.environ.get("SAGABRIDGE_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    )
    args = parser.parse_args()
    args.boot = ["--bootstrap-servers", args.bootstrap_servers]
    prefix, app, workdir, env = prepare_run(args.bootstrap_servers, "sagabridge-shop")
    print(f"topics {prefix}.*, app {app}; logs and state in {workdir}")
    procs = Procs(workdir, env)
    try:
        ok = choreography(args, prefix, procs) and adopted(args, prefix, app, procs)
    finally:
        procs.stop_all()
    print(f"\nLogs: {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
