"""Hand-over after a SIGKILL: the survivor takes the partitions and ends the dead instance's open
transaction itself (instead of every read_committed reader waiting for the broker's timeout)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from orchestrator.engine.liveness import read_status
from tests.integration.harness import App, EventLog, OrchestratorProcess
from tests.integration.services import Behaviour
from tests.integration.test_crash import _command_attempts
from tests.integration.test_saga_e2e import order

MODULE = "tests.integration.apps"


def test_survivor_fences_the_sigkilled_owner_and_every_workflow_completes_once(
    app: App, services: Behaviour, events: EventLog, tmp_path: Path
) -> None:
    alive = {i: tmp_path / f"{i}.alive" for i in ("a", "b")}
    env = {i: {"SAGABRIDGE_LIVENESS_FILE": str(f), "SAGABRIDGE_LIVENESS_INTERVAL_S": "0.2"} for i, f in alive.items()}
    procs = {i: OrchestratorProcess(app, MODULE, tmp_path / f"{i}.log", i, env[i]).start() for i in alive}
    ids = [f"ho-{i:03d}" for i in range(60)]

    def owned(i: str) -> set[int]:
        return set(read_status(alive[i]).get("partitions", []))

    try:
        deadline = time.monotonic() + 120
        while not (owned("a") and owned("b") and owned("a") | owned("b") == set(range(app.partitions))):
            assert time.monotonic() < deadline, "the two instances never split the partitions"
            time.sleep(0.2)
        victim_partitions = owned("b")
        client = app.client()
        for i, wf_id in enumerate(ids):
            client.start("saga", order(i), workflow_id=wf_id, flush=False)
        client.flush()
        while sum(1 for _r, d in events.records if d.schema_name.endswith("StepCompleted")) < 30:
            assert time.monotonic() < deadline + 120, "no progress before the kill"
            events.poll(0.1)
        procs["b"].kill()  # its last transaction may be open: nothing but a fence or a timeout ends it
        outcomes = events.wait_for(ids, timeout_s=180)
        # b may have finished its partitions' work before the kill: the hand-over must happen all the same
        takeover = time.monotonic() + 120
        while owned("a") != set(range(app.partitions)) and time.monotonic() < takeover:
            time.sleep(0.2)
        status = read_status(alive["a"])
    finally:
        procs["a"].terminate(60)
    log = (tmp_path / "a.log").read_text(errors="replace")
    assert set(status["partitions"]) == set(range(app.partitions)) and victim_partitions <= set(status["partitions"])
    assert status["fenced_owners"] == 1, status
    assert f"fenced {app.name}-orchestrator-b, departed owner" in log
    assert f"fenced {app.name}-orchestrator-a" not in log  # a live owner is never fenced
    assert Counter(outcomes.values()) == Counter({"completed": len(ids)})
    attempts = _command_attempts(app)
    assert set(attempts.values()) == {1}, {k: v for k, v in attempts.items() if v != 1}
