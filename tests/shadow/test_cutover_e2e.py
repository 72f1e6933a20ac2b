"""Cutover under load, with the orchestrator SIGKILLed while its connector applies a new plan.

Runs the `make demo` story (real processes: shop services, shadow, orchestrator with the embedded
cutover connector) and then checks, from the committed topics alone, that no order was lost and
none was handled twice: every order either started exactly one workflow or had its OrderPlaced
relayed to choreography exactly once, never both; a live order's events never reached the
choreography relays and a choreography order got no request from the workflow; each case's route
was decided by the plan version in force at its start event's offset, as the switch records say,
and by that version's rule (the rollback's cases all stayed with choreography); `cutover status`
shows exactly those plans, switch offsets and routes; and shadow mode's report before the cutover
found the shop's known deviation (express orders ship before the payment).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from orchestrator.models.shadow import CaseRoute, CutoverAction, CutoverPlan, SwitchRecord
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.shadow.routing import routes_live
from tests.integration.harness import read_committed
from tests.shadow.shop import ROOT

serde = SingleObjectSerde(SchemaRepository())
SERVICES = ("inventory", "payments", "shipping")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_cutover_under_load_with_a_sigkill_loses_no_order_and_handles_none_twice(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    summary_file = tmp_path / "summary.json"
    run = subprocess.run(
        [sys.executable, "-m", "examples.choreography.story", "--orders-before", "20", "--orders-after", "60",
         "--rate", "10", "--outage-seconds", "5", "--quiet-seconds", "10", "--kill-during-switch",
         "--summary-json", str(summary_file), "--bootstrap-servers", kafka_bootstrap],
        cwd=ROOT, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    assert "| handled by both | 0 |" in run.stdout and "| unaccounted | 0 |" in run.stdout
    assert "SIGKILL the orchestrator" in run.stdout
    summary = json.loads(summary_file.read_text())
    prefix, app = summary["prefix"], summary["app"]
    orders = [f"{prefix}-{i:04d}" for i in range(20, 80)]

    def events(topic: str) -> list[dict[str, object]]:
        return [json.loads(r.value or b"{}") for r in read_committed(kafka_bootstrap, topic, idle_s=1.0)]

    relayed = Counter(str(e["orderId"]) for e in events(f"{prefix}.orders.events.choreography"))
    started: Counter[str] = Counter()
    for record in read_committed(kafka_bootstrap, f"{app}.inbox", idle_s=1.0):
        decoded = serde.decode(record.value or b"")
        if decoded.schema_name == "sagabridge.control.StartWorkflow":
            started[str(decoded.value["workflow_id"])] += 1
    live = {o for o in orders if started[f"order-{o}"]}
    choreography = {o for o in orders if relayed[o]}
    assert live and choreography, "the plans should have sent orders both ways"
    assert live | choreography == set(orders), "an order was lost"
    assert not live & choreography, "an order was handled by both"
    assert all(started[f"order-{o}"] == 1 for o in live) and all(relayed[o] == 1 for o in choreography)
    for service in SERVICES:
        relay = {str(e.get("orderId")) for e in events(f"{prefix}.{service}.events.choreography")}
        assert not relay & live, f"a live order's {service} event reached choreography"
        requests = {str(e.get("orderId")) for e in events(f"{prefix}.{service}.requests")}
        assert not requests & choreography, f"the workflow sent a choreography order to {service}"
    finished: dict[str, str] = {}
    for record in read_committed(kafka_bootstrap, f"{app}.events", idle_s=1.0):
        decoded = serde.decode(record.value or b"")
        if decoded.schema_name in ("sagabridge.events.WorkflowCompleted", "sagabridge.events.WorkflowCompensated"):
            finished[str(decoded.value["workflow_id"])] = decoded.schema_name
    assert all(f"order-{o}" in finished for o in live), "a live order's workflow did not finish"

    routes: dict[str, CaseRoute] = {}
    plans: dict[int, CutoverPlan] = {}
    switches: dict[tuple[int, int], int] = {}
    for record in read_committed(kafka_bootstrap, f"{app}.routing", idle_s=1.0):
        key = (record.key or b"").decode()
        if key.startswith("case/"):
            routes[key[5:]] = CaseRoute.from_avro(serde.decode(record.value or b"").value)
        elif key.startswith("switch/"):
            s = SwitchRecord.from_avro(serde.decode(record.value or b"").value)
            switches[(int(s.version), int(s.partition))] = int(s.offset)
        elif key.startswith("plan/"):
            p = CutoverPlan.from_avro(serde.decode(record.value or b"").value)
            plans[int(p.version)] = p
    assert {c for c, r in routes.items() if r.live} == {f"order-{o}" for o in live}
    switched_v1 = {(1, int(r.source_partition)) for r in routes.values() if r.version == 1}
    assert switched_v1 and switched_v1 <= set(switches), "a partition routed by plan v1 has no switch record"
    for case, route in routes.items():
        if route.version == 0:
            continue  # decided before the first plan
        here = switches[(int(route.version), int(route.source_partition))]
        later = switches.get((int(route.version) + 1, int(route.source_partition)))
        assert route.source_offset >= here, (case, route, here)
        assert later is None or route.source_offset < later, (case, route, later)
        assert route.live == routes_live(plans[int(route.version)], case), (case, route)
    rollbacks = [v for v, p in plans.items() if p.action is CutoverAction.ROLLBACK]
    assert rollbacks, "the story rolls back once"
    assert any(r.version in rollbacks for r in routes.values()), "no order started under the rollback"
    assert not any(r.live for r in routes.values() if r.version in rollbacks)

    status = summary["cutover"]  # `orchestrator cutover status --json`, as the story ran it
    assert [p["version"] for p in status["plans"]] == sorted(plans)
    assert [p["action"] for p in status["plans"]] == [plans[v].action.value for v in sorted(plans)]
    shown = {(p["version"], s["partition"]): s["offset"] for p in status["plans"] for s in p["switched"]}
    assert shown == switches
    assert status["cases"] == {
        "live": sum(r.live for r in routes.values()),
        "choreography": sum(not r.live for r in routes.values()),
    }

    before = summary["shadow_before"]["compare"]  # the report of choreography alone
    kinds = {d["kind"]: d for d in before["deviations"]}
    assert "wrong_order" in kinds and before["fitness"] < 1.0, before
    assert "CreateShipment" in str(kinds["wrong_order"]["steps"]), kinds["wrong_order"]
