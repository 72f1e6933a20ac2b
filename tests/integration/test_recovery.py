"""In-process producer recovery: a transactional call past its deadline fences the producer and the
partitions are resynced from Kafka, without a restart and without a duplicate.

The broker cannot be made to ignore a timeout on demand, so the fault hook raises, at the two
points of a checkpoint where a deadline can expire, exactly what the producer raises when one does:
before the commit (the transaction never committed) and after it (it did commit, but the process
cannot know): the second must be read back from Kafka, not re-executed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from orchestrator.errors import CommitOutcomeUnknownError, TransactionTimeoutError
from orchestrator.transport import header_names as h
from orchestrator.transport.producer import fence
from tests.integration.apps import registry
from tests.integration.harness import App, EventLog, OrchestratorThread, read_committed
from tests.integration.services import Behaviour
from tests.integration.test_saga_e2e import order


def _fail_once(stage: str, error: Exception) -> tuple[list[str], Callable[[str], None]]:
    fired: list[str] = []

    def hook(at: str) -> None:
        # Only once work is in the transaction: the first checkpoint that carries a command.
        if at == stage and not fired:
            fired.append(at)
            raise error

    return fired, hook


@pytest.mark.parametrize(
    ("stage", "error"),
    [
        ("before_commit", TransactionTimeoutError("send_offsets_to_transaction still blocked (injected)")),
        ("after_commit", CommitOutcomeUnknownError("commit_transaction timed out (injected; it did commit)")),
    ],
    ids=["not-committed", "committed-but-unknown"],
)
def test_deadline_past_in_a_checkpoint_recovers_in_process_and_each_command_goes_out_once(
    app: App, services: Behaviour, events: EventLog, stage: str, error: Exception
) -> None:
    fired, hook = _fail_once(stage, error)
    orch = OrchestratorThread(app.settings(), registry, fault_hook=hook).start()
    ids = [f"rec-{i}" for i in range(5)]
    try:
        client = app.client()
        for i, wf_id in enumerate(ids):
            client.start("saga", order(i), workflow_id=wf_id, flush=False)
        client.flush()
        outcomes = events.wait_for(ids, timeout_s=90)
        recovery = orch.orchestrator.recovery
    finally:
        orch.stop()
    assert fired == [stage]
    assert recovery.producer_recoveries == 1
    assert (recovery.last_recovery_cause or "").startswith(type(error).__name__)
    assert set(outcomes.values()) == {"completed"}
    for service in ("inventory", "payments", "shipping"):
        records = read_committed(app.bootstrap, app.command_topic(service))
        sent = Counter((r.header(h.COMMAND_ID) or "", r.header(h.ATTEMPT) or "") for r in records)
        assert set(sent.values()) == {1}, f"{service}: a (command id, attempt) committed twice: {sent}"
        assert {command_id.split("/")[0] for command_id, _ in sent} == set(ids)
    # Each step ran once: the recovered checkpoint was neither lost nor replayed into a second command.
    assert Counter(e.split(":")[0] for e in services.log) == Counter({"reserve": 5, "charge": 5, "ship": 5})
    for wf_id in ids:
        assert len(events.of(wf_id, "WorkflowStarted")) == 1
        assert len(events.of(wf_id, "WorkflowCompleted")) == 1


def test_an_instance_fenced_while_alive_recovers_in_process_and_nothing_runs_twice(
    app: App, services: Behaviour, events: EventLog
) -> None:
    """What a new partition owner does to a member it saw leave the group (a zombie, or a live
    instance rejoining after a broker outage): register its transactional.id. The instance's next
    transactional call is fenced; it must recover by itself, not exit."""
    settings = app.settings()
    orch = OrchestratorThread(settings, registry).start()
    ids = [f"fenced-{i}" for i in range(30)]
    try:
        client = app.client()
        for i, wf_id in enumerate(ids[:15]):
            client.start("saga", order(i), workflow_id=wf_id, flush=False)
        client.flush()
        events.wait_for(ids[:3], timeout_s=90)
        fence(app.bootstrap, settings.transactional_id, None, 10.0)
        for i, wf_id in enumerate(ids[15:], start=15):
            client.start("saga", order(i), workflow_id=wf_id, flush=False)
        client.flush()
        outcomes = events.wait_for(ids, timeout_s=120)
        recovery = orch.orchestrator.recovery
    finally:
        orch.stop()
    # The fence surfaces as librdkafka's _FENCED or, while delivery reports are served, as the client's
    # internal failure; either way the producer is fatal and replaced.
    assert recovery.producer_recoveries >= 1
    assert (recovery.last_recovery_cause or "").startswith("TransactionFatalError")
    assert set(outcomes.values()) == {"completed"}
    for service in ("inventory", "payments", "shipping"):
        records = read_committed(app.bootstrap, app.command_topic(service))
        sent = Counter((r.header(h.COMMAND_ID), r.header(h.ATTEMPT)) for r in records)
        assert set(sent.values()) == {1}, f"{service}: {sent}"
