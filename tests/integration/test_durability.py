"""State lives in Kafka: restore from the changelog, hand-over between instances, aborts, code changes."""

from __future__ import annotations

import shutil
import time
from collections import Counter

from orchestrator.errors import TransactionAbortableError
from orchestrator.transport import header_names
from tests.integration.apps import registry, registry_v2
from tests.integration.harness import App, EventLog, OrchestratorThread, read_committed
from tests.integration.services import Behaviour
from tests.integration.test_saga_e2e import order


def _wait_reserved(services: Behaviour, ids: list[str], events: EventLog, timeout_s: float = 60) -> None:
    """Until every workflow's reservation is done (so it is parked on its signal wait)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = {e.split(":")[1] for e in services.log if e.startswith("reserve:")}
        completed = {
            d["workflow_id"]
            for _r, dd in events.records
            for d in [dd.value]
            if dd.schema_name == "sagabridge.events.StepCompleted"
        }
        if set(ids) <= done and set(ids) <= completed:
            return
        events.poll(0.2)
    raise AssertionError("reservations did not complete")


def test_state_dir_deleted_before_restart_is_restored_from_the_changelog(
    app: App, services: Behaviour, events: EventLog
) -> None:
    ids = [f"restore-{i}" for i in range(20)]
    orch = OrchestratorThread(app.settings(), registry).start()
    client = app.client()
    for i, wf_id in enumerate(ids):
        client.start("await-go", order(i), workflow_id=wf_id, flush=False)
    client.flush()
    _wait_reserved(services, ids, events)
    orch.stop()
    shutil.rmtree(app.state_dir / "0")

    orch = OrchestratorThread(app.settings(), registry).start()
    try:
        for wf_id in ids:
            client.signal(wf_id, "go")
        assert set(events.wait_for(ids, timeout_s=90).values()) == {"completed"}
        restored = sum(s.records for s in orch.orchestrator.restore_stats)
    finally:
        orch.stop()
    assert restored > 0
    # Nothing was re-executed: one reservation per workflow, one charge per workflow.
    assert Counter(e.split(":")[0] for e in services.log) == Counter({"reserve": 20, "charge": 20})


def test_two_instances_share_partitions_and_one_takes_over_when_the_other_stops(
    app: App, services: Behaviour, events: EventLog
) -> None:
    a = OrchestratorThread(app.settings("a"), registry).start()
    b = OrchestratorThread(app.settings("b"), registry).start()
    ids = [f"pair-{i}" for i in range(30)]
    try:
        # The first member to join may own every partition until the second one's join
        # rebalances the group: wait for the split rather than racing it.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            a.orchestrator.slots
            and b.orchestrator.slots
            and set(a.orchestrator.slots) | set(b.orchestrator.slots) == set(range(app.partitions))
        ):
            time.sleep(0.2)
        client = app.client()
        for i, wf_id in enumerate(ids):
            client.start("await-go", order(i), workflow_id=wf_id, flush=False)
        client.flush()
        _wait_reserved(services, ids, events)
        owned_a, owned_b = set(a.orchestrator.slots), set(b.orchestrator.slots)
        assert owned_a and owned_b and not owned_a & owned_b, (owned_a, owned_b)
        b.stop()
        deadline = time.monotonic() + 60
        while set(a.orchestrator.slots) != set(range(app.partitions)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert set(a.orchestrator.slots) == set(range(app.partitions))
        for wf_id in ids:
            client.signal(wf_id, "go")
        assert set(events.wait_for(ids, timeout_s=90).values()) == {"completed"}
        taken_over = {s.partition for s in a.orchestrator.restore_stats if s.records > 0}
        assert owned_b <= taken_over
    finally:
        a.stop()
    assert Counter(e.split(":")[0] for e in services.log) == Counter({"reserve": 30, "charge": 30})


def test_aborted_checkpoint_leaves_no_visible_command_and_the_workflow_still_completes(
    app: App, services: Behaviour, events: EventLog
) -> None:
    injected: list[str] = []

    def fail_first_commit_with_a_command(stage: str) -> None:
        if stage == "before_commit" and not injected:
            injected.append(stage)
            raise TransactionAbortableError("injected between produce and commit")

    orch = OrchestratorThread(app.settings(), registry, fault_hook=fail_first_commit_with_a_command).start()
    try:
        app.client().start("saga", order(1), workflow_id="aborted-once")
        assert events.wait_for(["aborted-once"], timeout_s=60) == {"aborted-once": "completed"}
        stats = orch.orchestrator._checkpointer.stats  # type: ignore[union-attr]
    finally:
        orch.stop()
    assert injected and stats.aborts >= 1
    committed = read_committed(app.bootstrap, app.command_topic("inventory"))
    assert [(r.header(header_names.COMMAND_ID), r.header(header_names.ATTEMPT)) for r in committed] == [
        ("aborted-once/0", "1")
    ]
    assert [e for e in services.log if e.startswith("reserve")] == ["reserve:aborted-once:1"]
    assert len(events.of("aborted-once", "WorkflowStarted")) == 1


def test_non_deterministic_code_change_parks_only_those_instances(
    app: App, services: Behaviour, events: EventLog
) -> None:
    client = app.client()
    orch = OrchestratorThread(app.settings(), registry).start()
    changed = [f"changed-{i}" for i in range(5)]
    for i, wf_id in enumerate(changed):
        client.start("await-go", order(i), workflow_id=wf_id, flush=False)
    client.flush()
    _wait_reserved(services, changed, events)
    orch.stop()
    shutil.rmtree(app.state_dir / "0")  # also forces replay from restored history, not a warm cache

    orch = OrchestratorThread(app.settings(), registry_v2).start()  # the new deployment
    try:
        unchanged = client.start("saga", order(99), workflow_id="unchanged")
        for wf_id in changed:
            client.signal(wf_id, "go")
        outcomes = events.wait_for([*changed, unchanged.id], timeout_s=90)
    finally:
        orch.stop()
    assert outcomes == {**dict.fromkeys(changed, "parked"), "unchanged": "completed"}
    for wf_id in changed:
        (parked,) = events.of(wf_id, "WorkflowParked")
        assert "NonDeterminism" in parked["reason"], parked
    assert not any(e.startswith("charge:changed") for e in services.log)
