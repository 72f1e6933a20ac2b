"""Workflows end to end: real broker, in-process orchestrator, participants on the worker SDK."""

from __future__ import annotations

from examples.orders.models.orders import OrderPlaced
from tests.integration.apps import registry
from tests.integration.harness import App, EventLog, OrchestratorThread
from tests.integration.services import Behaviour


def order(i: int, customer: str = "alice") -> OrderPlaced:
    return OrderPlaced(
        order_id=f"o-{i}", customer_id=customer, sku="sku-1", quantity=1, amount_cents=500, currency="EUR"
    )


def test_three_step_saga_happy_path_and_permanent_failure_compensates(
    app: App, services: Behaviour, events: EventLog
) -> None:
    services.decline_customers.add("mallory")
    orch = OrchestratorThread(app.settings(), registry).start()
    try:
        client = app.client()
        ok = client.start("saga", order(1), workflow_id="happy")
        bad = client.start("saga", order(2, "mallory"), workflow_id="declined")
        client.start("saga", order(1), workflow_id="happy")  # idempotent on id
        assert events.wait_for([ok.id, bad.id], timeout_s=90) == {"happy": "completed", "declined": "compensated"}
        (done,) = events.of("happy", "WorkflowCompleted")
        assert done["workflow_type"] == "saga"
        outcome = ok.result(timeout_s=30)  # the client API reads the same terminal event back
        assert outcome.ok and outcome.status == "completed"
        assert bad.result(timeout_s=30).status == "compensated"
        assert len(events.of("happy", "WorkflowStarted")) == 1
    finally:
        orch.stop()
    # compensation of the declined order: only the reserve ran before the decline -> one release.
    assert [e for e in services.log if e.split(":")[1] == "declined"] == [
        "reserve:declined:1",
        "charge:declined:1",
        "release:declined:1",
    ]


def test_transient_failures_are_retried_with_backoff(app: App, services: Behaviour, events: EventLog) -> None:
    services.fail_first_attempts = 2
    orch = OrchestratorThread(app.settings(), registry).start()
    try:
        handle = app.client().start("saga", order(3), workflow_id="flaky")
        assert events.wait_for([handle.id], timeout_s=90) == {"flaky": "completed"}
    finally:
        orch.stop()
    retrying = events.of("flaky", "StepRetrying")
    assert len(retrying) == 2
    assert [e for e in services.log if e.startswith("reserve")] == [
        "reserve:flaky:1",
        "reserve:flaky:2",
        "reserve:flaky:3",
    ]


def test_unanswered_step_times_out_and_fails(app: App, services: Behaviour, events: EventLog) -> None:
    services.silent = True
    orch = OrchestratorThread(app.settings(), registry).start()
    try:
        handle = app.client().start("timeout", order(4), workflow_id="slow")
        outcome = events.wait_for([handle.id], timeout_s=60)
    finally:
        orch.stop()
    assert outcome["slow"] in ("failed", "compensated")


def test_signal_approval_parallel_steps_child_query_and_cancel(app: App, services: Behaviour, events: EventLog) -> None:
    orch = OrchestratorThread(app.settings(), registry).start()
    try:
        client = app.client()
        waiting = client.start("approval", order(5), workflow_id="needs-approval")
        par = client.start("parallel", order(6), workflow_id="par")
        parent = client.start("parent", order(7), workflow_id="parent")
        sleeper = client.start("sleepy", order(8), workflow_id="sleeper")
        assert events.wait_for([par.id, parent.id], timeout_s=90) == {"par": "completed", "parent": "completed"}
        assert events.wait_for(["parent-child"], timeout_s=30) == {"parent-child": "completed"}
        assert "needs-approval" not in events.outcomes()
        assert par.query("stage") == "reserving"
        waiting.signal("approve")
        assert events.wait_for([waiting.id], timeout_s=60) == {"needs-approval": "completed"}
        # the sleeper holds a reservation while it sleeps; cancelling it runs the compensation
        for _ in range(100):
            if any(e.startswith("reserve:sleeper") for e in services.log):
                break
            events.poll(0.2)
        sleeper.cancel("customer changed their mind")
        assert events.wait_for([sleeper.id], timeout_s=60) == {"sleeper": "cancelled"}
    finally:
        orch.stop()
    assert sum(1 for e in services.log if e.split(":")[:2] == ["reserve", "par"]) == 3
    assert "release:sleeper:1" in services.log
