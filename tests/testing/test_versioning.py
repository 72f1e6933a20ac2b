"""Changing a workflow's code under running instances: the replayer as a gate, ctx.patched as the way.

Runs of order-flow v1 are recorded in the environment and left waiting for approval; then the
code changes under them, as a deploy would change it (`env.restart(registry=...)`).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.orders.models.inventory import StockReserved
from examples.orders.models.orders import OrderPlaced
from examples.orders.models.payments import PaymentCharged
from orchestrator.errors import ReplayDivergedError
from orchestrator.testing import Replayer, WorkflowEnvironment, WorkflowStatus, read_export, write_export
from tests.testing import order_flow_v1, order_flow_v2_patched, order_flow_v2_reordered


def order(n: int) -> OrderPlaced:
    return OrderPlaced(order_id=f"o-{n}", customer_id="c", sku="s", quantity=1, amount_cents=100 + n, currency="EUR")


@pytest.fixture
def env() -> Iterator[WorkflowEnvironment]:
    """Three v1 runs waiting for approval and one finished one."""
    with WorkflowEnvironment(order_flow_v1.registry) as environment:
        environment.service("inventory", lambda cmd: StockReserved(reservation_id=f"r-{cmd.workflow_id}", order_id="o"))
        environment.service(
            "payments", lambda cmd: PaymentCharged(payment_id=f"p-{cmd.workflow_id}", order_id="o", amount_cents=1)
        )
        for n in range(4):
            environment.start("order-flow", order(n), id=f"wf-{n}")
        environment.settle()
        environment.signal("wf-3", "approve")
        assert environment.run("wf-3").result().payment_id == "p-wf-3"
        yield environment


def test_the_replayer_catches_the_unguarded_change_and_passes_the_patched_one(env: WorkflowEnvironment) -> None:
    histories = env.recorded_histories()
    assert len(histories) == 4
    assert Replayer(order_flow_v1.registry).replay_all(histories).ok

    report = Replayer(order_flow_v2_reordered.registry).replay_all(histories)
    assert not report.ok
    summary = report.summaries["order-flow"]
    assert (summary.histories, summary.clean, summary.diverged) == (4, 0, 4)
    waiting = {d.workflow_id: d for d in report.divergences if d.status == "running"}
    assert set(waiting) == {"wf-0", "wf-1", "wf-2"}
    first = waiting["wf-0"]
    assert first.cmd_seq == 1 and first.expected == "timer_started" and "payments" in (first.got or "")
    assert first.event_seq == env.kinds("wf-0").index("timer_started")
    with pytest.raises(ReplayDivergedError, match="wf-0"):
        report.check()

    Replayer(order_flow_v2_patched.registry).replay_all(histories).check()  # raises on any divergence


def test_histories_survive_an_export_round_trip(env: WorkflowEnvironment, tmp_path: Path) -> None:
    path = tmp_path / "histories.jsonl"
    with path.open("w") as out:
        assert write_export(out, env.recorded_histories(), app="app", exported_at_ms=1) == 4
    assert read_export(path) == env.recorded_histories()
    assert not Replayer(order_flow_v2_reordered.registry).replay_all(read_export(path)).ok
    buffer = io.StringIO()
    write_export(buffer, [], app="app", exported_at_ms=1)
    assert buffer.getvalue().count("\n") == 1


def test_deploying_the_patched_code_mid_flight_keeps_old_runs_on_the_old_path(env: WorkflowEnvironment) -> None:
    env.restart(registry=order_flow_v2_patched.registry)  # the deploy: a new process, new code, same state
    new = env.start("order-flow", order(9), id="wf-new")
    env.settle()
    assert [c.service for c in new.commands()] == ["inventory", "payments"]  # new runs charge first
    assert "patch_marker" in new.kinds()

    for n in range(3):
        old = env.run(f"wf-{n}")
        assert [c.service for c in old.commands()] == ["inventory"]  # still waiting, as v1 left them
        old.signal("approve")
        assert old.result().payment_id == f"p-wf-{n}"  # charged after approval, as v1 would have
        assert "patch_marker" not in old.kinds()
        assert env.engine.stats.suspended == 0

    new.signal("approve")
    assert new.result().payment_id == "p-wf-new"


def test_deploying_the_unguarded_change_parks_running_instances(env: WorkflowEnvironment) -> None:
    env.restart(registry=order_flow_v2_reordered.registry)
    old = env.run("wf-0")
    old.signal("approve")  # the run is rebuilt by replay with the new code: it diverges
    assert old.status == WorkflowStatus.NEEDS_ATTENTION
    assert "non-determinism" in (env.header("wf-0").parked_reason or "")
    assert env.kinds("wf-0")[-1] == "signal_received"  # the signal is recorded all the same

    env.restart(registry=order_flow_v1.registry)  # roll back, then an operator retries the run
    old.retry()
    assert old.result().payment_id == "p-wf-0"
