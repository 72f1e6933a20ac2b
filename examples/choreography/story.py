"""`make demo`: the bridge end to end, from a choreography nobody can see to a workflow that drives it.

    python -m examples.choreography.story [--orders-before 120] [--orders-after 240]

1. **Choreography.** The shop's services (examples/choreography/services.py: separate processes,
   plain JSON events, no SagaBridge import) run on their own. Shipping has a shortcut nobody wrote
   down: express orders leave the warehouse as soon as the stock is reserved, before the payment.
2. **Shadow.** `orchestrator shadow run` observes the four events topics read-only; `orchestrator
   shadow report` draws the flow choreography really runs and compares it with the order-fulfilment
   workflow: the express shortcut shows up as a wrong order, and as an unexpected shipment for
   express orders whose card is then declined.
3. **Cutover.** The connector now routes each new order (`[shadow.cutover]`): the services read
   choreography's orders from relay topics (a configuration change), `orchestrator cutover set
   --share 0.5` sends half of the new orders to the workflow (with `--kill-during-switch` the
   orchestrator is SIGKILLed right then and restarted), `cutover rollback` sends new ones back,
   `--share 1.0` moves them all. Orders that started under choreography finish under it.
4. **The saga under stress.** Meanwhile the services lose a share of what they react to, inventory
   goes down for a while and declined cards must be compensated: the workflow retries lost
   requests and compensates; under choreography a lost event stalls the order for good.
5. **The summary** accounts for every order from the committed topics: who handled it (never both)
   and how it ended. Exits non-zero if an order is unaccounted for or was handled by both sides.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from examples.choreography.demo import Procs, prepare_run, table
from orchestrator.client import TERMINAL_EVENTS
from orchestrator.config import OrchestratorSettings
from orchestrator.errors import TopicError
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.shadow.loading import load_domain
from orchestrator.shadow.mirror import CaseMirror
from orchestrator.shadow.routing_table import RoutingTable
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.consumer import to_inbound
from orchestrator.transport.kafka_clients import consumer_config
from orchestrator.transport.records import InboundRecord

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "connectors" / "shop.toml"
WORKFLOWS = "examples.orders.workflows"
SERVICES = ("inventory", "payments", "shipping")
UPSTREAM = {
    "inventory": ("orders", "payments"),
    "payments": ("inventory", "shipping"),
    "shipping": ("payments", "inventory"),
}
CLI = [sys.executable, "-m", "orchestrator.cli"]
serde = SingleObjectSerde(SchemaRepository())


def read_all(bootstrap: str, topic: str, idle_s: float = 1.5) -> list[InboundRecord]:
    """Everything committed on `topic` (read_committed), read to its end."""
    consumer = Consumer(consumer_config(bootstrap, group_id=f"story-{uuid.uuid4().hex}"))
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return []
        consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
        out: list[InboundRecord] = []
        last = time.monotonic()
        while time.monotonic() - last < idle_s:
            for msg in consumer.consume(1000, 0.2):
                if msg.error() is None:
                    out.append(to_inbound(msg))
                    last = time.monotonic()
        return out
    finally:
        consumer.close()


def values(records: list[InboundRecord]) -> list[dict[str, Any]]:
    return [json.loads(r.value or b"{}") for r in records]


@dataclass
class Story:
    args: argparse.Namespace
    prefix: str
    app: str
    workdir: Path
    procs: Procs
    timeline: list[str] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return str(self.args.bootstrap_servers)

    def topic(self, service: str, suffix: str = "events") -> str:
        return f"{self.prefix}.{service}.{suffix}"

    def say(self, text: str) -> None:
        print(text, flush=True)

    def cli(self, name: str, *args: str, show: bool = True) -> subprocess.CompletedProcess[str]:
        """An `orchestrator` command as a user types it (printed), with the story's environment."""
        if show:
            self.say(f"$ orchestrator {' '.join(args)}")
        done = subprocess.run(
            [*CLI, *args], cwd=ROOT, env={**os.environ, **self.procs.env}, capture_output=True, text=True, timeout=600
        )
        (self.workdir / f"{name}.log").write_text(done.stdout + done.stderr)
        if done.returncode not in (0, 1):
            raise SystemExit(f"`orchestrator {' '.join(args)}` failed:\n{done.stderr[-2000:]}")
        return done

    # -- the services ----------------------------------------------------------------------
    def start_services(self, cut_over: bool, drop_rate: float = 0.0, only: tuple[str, ...] = SERVICES) -> None:
        for svc in only:
            if cut_over:  # read the requests the workflow sends, and choreography's cases from the relays
                listen = [self.topic(svc, "requests"), *(f"{self.topic(up)}.choreography" for up in UPSTREAM[svc])]
            else:
                listen = [self.topic(up) for up in UPSTREAM[svc]]
            args = [
                "-m",
                "examples.choreography.services",
                svc,
                "--prefix",
                self.prefix,
                "--seed",
                str(SERVICES.index(svc)),
            ]
            args += [a for topic in listen for a in ("--listen", topic)]
            args += ["--drop-rate", str(drop_rate), "--bootstrap-servers", self.bootstrap]
            if svc == "payments":  # its fraud check takes a moment: shipping's express shortcut wins the race
                args += ["--latency-ms", "300"]
            self.procs.spawn(svc, args)

    def place_orders(self, first: int, count: int, rate: float, wait: bool) -> subprocess.Popen[bytes]:
        a = self.args
        return self.procs.spawn(
            f"orders-{first}",
            ["-m", "examples.choreography.services", "orders", "--prefix", self.prefix, "--first", str(first),
             "--count", str(count), "--rate", str(rate), "--decline-every", str(a.decline_every),
             "--express-every", str(a.express_every), "--bootstrap-servers", self.bootstrap],
            wait=wait,
        )  # fmt: skip

    def order_ids(self, first: int, count: int) -> list[str]:
        return [f"{self.prefix}-{i:04d}" for i in range(first, first + count)]

    def declined(self, order_id: str) -> bool:
        n, every = int(order_id.rsplit("-", 1)[1]), int(self.args.decline_every)
        return every > 0 and n % every == every - 1

    # -- phase 1 -----------------------------------------------------------------------------
    def choreography(self) -> None:
        a = self.args
        self.say("\n== 1. the shop's services choreograph on their own; shadow mode watches ==")
        self.start_services(cut_over=False)
        self.procs.spawn("shadow", [*CLI[1:], "shadow", "run", "--config", str(MAPPING), "--from", "earliest"])
        self.place_orders(0, a.orders_before, a.rate, wait=True)
        ids = self.order_ids(0, a.orders_before)
        ends = self.wait_choreography(ids, a.timeout)
        counts = Counter(ends.get(o, "stalled") for o in ids)
        self.say(table([("orders placed", str(len(ids))), *((k, str(v)) for k, v in sorted(counts.items()))]))
        self.procs_stop(SERVICES)

    def wait_choreography(self, ids: list[str], timeout: float, quiet_s: float = 0.0) -> dict[str, str]:
        """How each order ended under choreography (shipped / released), as the services published."""
        wanted = set(ids)
        ends: dict[str, str] = {}
        deadline, last_change = time.time() + timeout, time.time()
        while time.time() < deadline:
            before = len(ends)
            ends = {}
            for event in values(read_all(self.bootstrap, self.topic("shipping"), 0.3)):
                if event.get("orderId") in wanted and event.get("eventType") == "ShipmentCreated":
                    ends.setdefault(event["orderId"], "shipped")
            for event in values(read_all(self.bootstrap, self.topic("inventory"), 0.3)):
                if event.get("orderId") in wanted and event.get("eventType") == "StockReleased":
                    ends[event["orderId"]] = (
                        "cancelled (declined)" if event["orderId"] not in ends else "shipped, then released"
                    )
            if len(ends) != before:
                last_change = time.time()
            if len([o for o in ids if self._ended(o, ends)]) == len(ids):
                return ends
            if quiet_s and time.time() - last_change > quiet_s:
                return ends
            time.sleep(1.0)
        return ends

    def _ended(self, order_id: str, ends: dict[str, str]) -> bool:
        end = ends.get(order_id)
        return end is not None and (not self.declined(order_id) or end != "shipped")

    def procs_stop(self, names: tuple[str, ...]) -> None:
        for name in names:
            self.procs.stop(name)

    # -- phase 2 -----------------------------------------------------------------------------
    def shadow_report(self, label: str, cases: int, *extra: str) -> dict[str, Any]:
        settings = OrchestratorSettings(app=self.app, bootstrap_servers=self.bootstrap, state_dir=self.workdir / "wait")
        domain = load_domain(MAPPING, settings)
        with CaseMirror(settings, domain.names, domain.serde, self.workdir / f"wait-{label}") as mirror:
            deadline = time.time() + self.args.timeout
            while time.time() < deadline:
                try:
                    mirror.refresh()
                except TopicError:  # `shadow run` is still starting
                    time.sleep(1.0)
                    continue
                if sum(1 for _ in mirror.cases()) >= cases:
                    break
                time.sleep(1.0)
        html, data = self.workdir / f"shadow-{label}.html", self.workdir / f"shadow-{label}.json"
        done = self.cli(
            f"report-{label}", "shadow", "report", "--config", "connectors/shop.toml", "--app", WORKFLOWS,
            "--out", str(html), "--json", str(data), "--xes", str(self.workdir / f"shadow-{label}.xes"), *extra,
        )  # fmt: skip
        self.say(done.stdout.rstrip())
        return dict(json.loads(data.read_text()))

    def cutover(self) -> tuple[list[str], dict[str, str]]:
        a = self.args
        self.say("\n== 3. cutover: new orders move to the workflow, one command at a time ==")
        self.cli("seek", "connectors", "seek", "--config", "connectors/shop.toml", "--to", "latest")
        self.procs.env["SHOP_CUTOVER"] = "true"
        self.start_orchestrator()
        self.wait_for_topics([f"{self.topic(s)}.choreography" for s in ("orders", *SERVICES)])
        self.say(f"services now read {self.prefix}.<service>.requests and the *.choreography relays; "
                 f"they lose {100 * a.drop_rate:.0f}% of what they react to")  # fmt: skip
        self.start_services(cut_over=True, drop_rate=a.drop_rate)
        first = a.orders_before
        ids = self.order_ids(first, a.orders_after)
        sizes = [a.orders_after // 5] * 4 + [a.orders_after - 4 * (a.orders_after // 5)]
        placed = first
        started = time.time()

        def chunk(what: str, size: int, during: Callable[[], None] | None = None) -> None:
            """Place `size` orders; the previous ones are still in flight while the plan changes."""
            nonlocal placed
            self.timeline.append(f"{time.time() - started:5.1f}s {what}")
            orders = self.place_orders(placed, size, a.rate, wait=False)
            placed += size
            if during is not None:
                during()
            orders.wait(a.timeout)
            self.wait_decided(placed - first)

        chunk("no plan yet: every new order stays with choreography", sizes[0])
        self.plan("set", "--share", "0.5", "--reason", "half of the new orders")
        chunk("share 0.5", sizes[1], self.kill_and_restart if a.kill_during_switch else None)
        self.say(f"inventory DOWN for {a.outage_seconds:.0f}s: requests and events wait in Kafka")
        self.procs.stop("inventory")
        chunk("inventory down", sizes[2], lambda: time.sleep(a.outage_seconds))
        self.start_services(True, a.drop_rate, ("inventory",))
        self.say("inventory back UP")
        self.plan("rollback", "--reason", "look at the first ones before going further")
        chunk("rollback", sizes[3])
        self.plan("set", "--share", "1.0", "--reason", "every new order")
        chunk("share 1.0", sizes[4])
        outcomes = self.wait_workflows(ids)
        return ids, outcomes

    def kill_and_restart(self) -> None:
        time.sleep(1.0)  # the connector is applying the new plan to these orders
        self.say("SIGKILL the orchestrator while its connector applies the new plan, then restart it")
        self.procs.running["orchestrator"].send_signal(signal.SIGKILL)
        self.procs.running.pop("orchestrator").wait(10)
        self.start_orchestrator()

    def wait_decided(self, count: int) -> None:
        """Until the connector has routed `count` new orders (its decisions on the routing topic)."""
        settings = OrchestratorSettings(app=self.app, bootstrap_servers=self.bootstrap, state_dir=self.workdir / "wait")
        domain = load_domain(MAPPING, settings)
        with RoutingTable(settings, self.app, domain.serde, Path(tempfile.mkdtemp(dir=self.workdir))) as routes:
            deadline = time.time() + self.args.timeout
            while time.time() < deadline:
                routes.sync()
                if routes.live_cases(live=True) + routes.live_cases(live=False) >= count:
                    return
                time.sleep(0.5)
        raise SystemExit(f"the connector did not route {count} orders; see {self.workdir / 'orchestrator.log'}")

    def plan(self, *args: str) -> None:
        self.cli("cutover", "cutover", *args, "--config", "connectors/shop.toml")

    def start_orchestrator(self) -> None:
        self.procs.spawn("orchestrator", [*CLI[1:], "run", "--app", WORKFLOWS])

    def wait_for_topics(self, topics: list[str]) -> None:
        admin = KafkaAdmin(self.bootstrap)
        deadline = time.time() + 120
        while time.time() < deadline:
            if all(admin.partition_count(t) for t in topics):
                return
            time.sleep(0.5)
        raise SystemExit(f"the connector did not create its relay topics; see {self.workdir / 'orchestrator.log'}")

    def wait_workflows(self, ids: list[str]) -> dict[str, str]:
        """Wait for every live order's workflow to end and choreography's to go quiet; their ends."""
        deadline = time.time() + self.args.timeout
        outcomes: dict[str, str] = {}
        while time.time() < deadline:
            live = self.live_cases(ids)
            outcomes = self.workflow_outcomes()
            if all(f"order-{o}" in outcomes for o in live):
                break
            time.sleep(2.0)
        return outcomes

    def live_cases(self, ids: list[str]) -> set[str]:
        started = self.started()
        return {o for o in ids if started.get(f"order-{o}")}

    def started(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for record in read_all(self.bootstrap, f"{self.app}.inbox", 0.5):
            decoded = serde.decode(record.value or b"")
            if decoded.schema_name == "sagabridge.control.StartWorkflow":
                counts[str(decoded.value["workflow_id"])] += 1
        return counts

    def workflow_outcomes(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for record in read_all(self.bootstrap, f"{self.app}.events", 0.5):
            decoded = serde.decode(record.value or b"")
            status = TERMINAL_EVENTS.get(decoded.schema_name) or (
                "parked" if decoded.schema_name == "sagabridge.events.WorkflowParked" else None
            )
            if status:
                out[str(decoded.value["workflow_id"])] = status
        return out

    # -- the summary ---------------------------------------------------------------------------
    def account(self, ids: list[str], outcomes: dict[str, str]) -> dict[str, Any]:
        """Who handled each order and how it ended, from the committed topics only."""
        relayed: Counter[str] = Counter(
            str(v.get("orderId")) for v in values(read_all(self.bootstrap, f"{self.topic('orders')}.choreography"))
            if v.get("eventType") == "OrderPlaced"
        )  # fmt: skip
        started = self.started()
        chore_ids = [o for o in ids if relayed[o]]
        ends = self.wait_choreography(chore_ids, self.args.timeout, quiet_s=self.args.quiet_seconds)
        rows: Counter[str] = Counter()
        both, unaccounted, twice = [], [], []
        for o in ids:
            case = f"order-{o}"
            live, chore = started[case], relayed[o]
            if live and chore:
                both.append(o)
            elif live:
                rows[f"workflow: {outcomes.get(case, 'not finished')}"] += 1
            elif chore:
                rows[f"choreography: {ends.get(o, 'stalled (an event was lost)')}"] += 1
            else:
                unaccounted.append(o)
            if live > 1 or chore > 1:
                twice.append(o)
        return {
            "orders": len(ids),
            "rows": dict(sorted(rows.items())),
            "handled_by_both": both,
            "unaccounted": unaccounted,
            "delivered_twice": twice,
            "live": sorted(f"order-{o}" for o in ids if started[f"order-{o}"]),
            "choreography": sorted(f"order-{o}" for o in chore_ids),
            "not_finished": sorted(f"order-{o}" for o in ids if started[f"order-{o}"] and f"order-{o}" not in outcomes),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders-before", type=int, default=80, help="orders under choreography alone")
    parser.add_argument("--orders-after", type=int, default=200, help="orders during the cutover")
    parser.add_argument("--rate", type=float, default=12.0, help="orders per second")
    parser.add_argument("--decline-every", type=int, default=7, help="every Nth card is declined")
    parser.add_argument("--express-every", type=int, default=4, help="every Nth order is express")
    parser.add_argument("--drop-rate", type=float, default=0.03, help="share of events/requests the services lose")
    parser.add_argument("--outage-seconds", type=float, default=12.0)
    parser.add_argument("--kill-during-switch", action="store_true", help="SIGKILL the orchestrator at the switch")
    parser.add_argument("--quiet-seconds", type=float, default=15.0, help="choreography is done when quiet this long")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per wait")
    parser.add_argument("--summary-json", type=Path, default=None, help="also write the summary here")
    parser.add_argument(
        "--bootstrap-servers", default=os.environ.get("SAGABRIDGE_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    )
    args = parser.parse_args()
    prefix, app, workdir, env = prepare_run(args.bootstrap_servers, "sagabridge-story")
    print(f"topics {prefix}.*, app {app}; logs, state and reports in {workdir}")
    story = Story(args, prefix, app, workdir, Procs(workdir, env))
    try:
        story.choreography()
        story.say("\n== 2. shadow mode: the flow choreography really runs, checked against the workflow ==")
        before = story.shadow_report("before", args.orders_before)
        ids, outcomes = story.cutover()
        summary = story.account(ids, outcomes)
        story.say("\n== 4. after the cutover: shadow mode saw both sides ==")
        # Judged 20 s after the last event: an order choreography lost an event of is stalled by then.
        after = story.shadow_report("after", args.orders_before + args.orders_after, "--stall-after", "20s")
        story.cli("status", "cutover", "status", "--config", "connectors/shop.toml", show=False)
        status = json.loads(
            story.cli(
                "status-json", "cutover", "status", "--config", "connectors/shop.toml", "--json", show=False
            ).stdout
        )
    finally:
        story.procs.stop_all()
    print("\n== 5. every order accounted for (read back from the committed topics) ==")
    print(table([
        ("orders placed before the cutover (choreography)", str(args.orders_before)),
        ("orders placed during the cutover", str(summary["orders"])),
        *((f"  {k}", str(v)) for k, v in summary["rows"].items()),
        ("handled by both", str(len(summary["handled_by_both"]))),
        ("unaccounted", str(len(summary["unaccounted"]))),
        ("live workflows not finished", str(len(summary["not_finished"]))),
    ]))  # fmt: skip
    print("\ncutover timeline: " + "; ".join(story.timeline))
    for plan in status["plans"]:
        where = ", ".join(f"{s['topic'].rsplit('.', 2)[-2]}[{s['partition']}]@{s['offset']}" for s in plan["switched"])
        print(f"  plan v{plan['version']} {plan['action']} share={plan['share']:.2f}: switched at {where or '-'}")
    for label, report in (("before", before), ("after", after)):
        fitness = (report.get("compare") or {}).get("fitness")
        print(f"shadow {label} the cutover: fitness {fitness}, report {workdir / f'shadow-{label}.html'}")
    print(
        f"cutover status: SHOP_PREFIX={prefix} .venv/bin/orchestrator cutover status --config connectors/shop.toml \\"
    )
    print(f"    --name {app}")
    if args.summary_json:
        args.summary_json.write_text(json.dumps({**summary, "prefix": prefix, "app": app, "workdir": str(workdir),
                                                 "shadow_before": before, "cutover": status}, indent=2))  # fmt: skip
    ok = not summary["handled_by_both"] and not summary["unaccounted"] and not summary["delivered_twice"]
    ok = ok and not summary["not_finished"] and bool(summary["live"]) and bool(summary["choreography"])
    if not ok:
        print(
            "NOT OK: "
            + json.dumps(
                {k: summary[k][:5] for k in ("handled_by_both", "unaccounted", "delivered_twice", "not_finished")}
            ),
            file=sys.stderr,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
