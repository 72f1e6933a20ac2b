"""continue_as_new through SIGKILL: a real orchestrator process killed while workflows start over.

Each kill lands while runs are continuing as new (the old run's history deleted, the new one's
first step sent, in one transaction); one restart keeps the RocksDB store, the other deletes it so
the store is rebuilt from the changelog, tombstones included. Exactly-once must hold across runs:
every command attempt committed once, every run started once, in order.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path

from orchestrator.transport import header_names
from tests.integration.apps import LOOP_STEPS
from tests.integration.harness import App, EventLog, OrchestratorProcess, read_committed
from tests.integration.services import Behaviour
from tests.integration.test_saga_e2e import order

MODULE = "tests.integration.apps"
WORKFLOWS = 6
RUNS = 5


def test_workflows_continuing_as_new_through_two_sigkills_keep_exactly_once(
    app: App, services: Behaviour, events: EventLog, tmp_path: Path
) -> None:
    log = tmp_path / "orch.log"
    proc = OrchestratorProcess(app, MODULE, log).start()
    client = app.client()
    ids = [f"loop-{i}" for i in range(WORKFLOWS)]
    for i, wf_id in enumerate(ids):
        client.start("looping", order(i).model_copy(update={"quantity": RUNS}), workflow_id=wf_id, flush=False)
    client.flush()

    def continued() -> int:
        return sum(1 for _r, d in events.records if d.schema_name == "sagabridge.events.WorkflowContinuedAsNew")

    total = WORKFLOWS * (RUNS - 1)
    try:
        for kill_point, wipe in ((total // 4, False), (total // 2, True)):
            deadline = time.monotonic() + 120
            while continued() < kill_point and time.monotonic() < deadline:
                events.poll(0.1)
            assert continued() >= kill_point, log.read_text()[-3000:]
            proc.kill()
            events.poll(0.5)
            assert len(events.outcomes()) < WORKFLOWS  # the kill hit runs in flight
            if wipe:  # rebuild from the changelog: the deleted histories must stay deleted
                shutil.rmtree(app.state_dir / "0")
            proc = OrchestratorProcess(app, MODULE, log).start()
        outcomes = events.wait_for(ids, timeout_s=300)
    finally:
        proc.terminate()
    assert outcomes == dict.fromkeys(ids, "completed")

    attempts: Counter[tuple[str, str]] = Counter()
    for rec in read_committed(app.bootstrap, app.command_topic("inventory")):
        attempts[(rec.header(header_names.COMMAND_ID) or "", rec.header(header_names.ATTEMPT) or "")] += 1
    assert {k: v for k, v in attempts.items() if v != 1} == {}, "a command attempt was committed twice"
    for wf_id in ids:
        commands = {command_id for command_id, _ in attempts if command_id.startswith(f"{wf_id}/")}
        assert len(commands) == RUNS * LOOP_STEPS, wf_id  # every step of every run, no id reused
        assert len(events.of(wf_id, "WorkflowStarted")) == 1
        assert [e["run"] for e in events.of(wf_id, "WorkflowContinuedAsNew")] == list(range(2, RUNS + 1))
        assert len(events.of(wf_id, "WorkflowCompleted")) == 1
