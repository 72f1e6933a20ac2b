"""Durability proven by SIGKILL: a real orchestrator process is killed mid-flight and restarted."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest

from orchestrator.transport import header_names
from tests.integration.harness import SERVICES, App, EventLog, OrchestratorProcess, read_committed
from tests.integration.services import Behaviour
from tests.integration.test_saga_e2e import order

MODULE = "tests.integration.apps"


def _command_attempts(app: App, isolation_committed: bool = True) -> Counter[tuple[str, str]]:
    seen: Counter[tuple[str, str]] = Counter()
    for service in SERVICES:
        for rec in read_committed(app.bootstrap, app.command_topic(service)):
            seen[(rec.header(header_names.COMMAND_ID) or "", rec.header(header_names.ATTEMPT) or "")] += 1
    return seen


def test_retry_timer_survives_sigkill_during_backoff_and_fires_once(
    app: App, services: Behaviour, events: EventLog, tmp_path: Path
) -> None:
    services.fail_first_attempts = 1
    proc = OrchestratorProcess(app, MODULE, tmp_path / "orch.log").start()
    client = app.client()
    client.start("slow-retry", order(1), workflow_id="backoff")
    deadline = time.monotonic() + 60
    while not events.of("backoff", "StepRetrying") and time.monotonic() < deadline:
        events.poll()
    assert events.of("backoff", "StepRetrying"), (tmp_path / "orch.log").read_text()[-3000:]
    proc.kill()  # inside the 4 s backoff: the retry timer exists only in RocksDB + changelog
    proc = OrchestratorProcess(app, MODULE, tmp_path / "orch.log").start()
    try:
        assert events.wait_for(["backoff"], timeout_s=90) == {"backoff": "completed"}
    finally:
        proc.terminate()
    assert [e for e in services.log if e.startswith("reserve")] == ["reserve:backoff:1", "reserve:backoff:2"]
    attempts = _command_attempts(app)
    assert attempts == Counter({("backoff/0", "1"): 1, ("backoff/0", "2"): 1})


@pytest.mark.slow
def test_500_workflows_through_three_sigkills_each_command_attempt_exactly_once(
    app: App, services: Behaviour, events: EventLog, tmp_path: Path
) -> None:
    services.fail_first_attempts = 1  # every step retries once: retry timers are in flight at every kill
    rng = random.Random(20261125)
    log = tmp_path / "orch.log"
    proc = OrchestratorProcess(app, MODULE, log).start()
    client = app.client()
    ids = [f"crash-{i:03d}" for i in range(500)]
    for i, wf_id in enumerate(ids):
        client.start("saga", order(i), workflow_id=wf_id, flush=False)
    client.flush()
    finished_at_kill: list[int] = []
    # Kill at random points of *progress*, not of wall time: on a fast machine every workflow can
    # finish within seconds, and a time-based kill would then prove nothing. Progress is counted in
    # committed step completions (1,500 in all): workflows advance in lockstep, so completed
    # workflows would all arrive in one late wave. A transaction can make a whole wave (up to 500
    # completions) visible at once, so the last point stays more than a wave short of 1,500.
    kill_points = [rng.randint(100, 300), rng.randint(450, 600), rng.randint(750, 900)]

    def steps_completed() -> int:
        return sum(1 for _r, d in events.records if d.schema_name == "sagabridge.events.StepCompleted")

    try:
        for kill_point in kill_points:
            deadline = time.monotonic() + 120
            while steps_completed() < kill_point and time.monotonic() < deadline:
                events.poll(0.1)
            time.sleep(rng.uniform(0.0, 0.3))
            proc.kill()
            events.poll(0.5)
            finished_at_kill.append(len(events.outcomes()))
            proc = OrchestratorProcess(app, MODULE, log).start()
        outcomes = events.wait_for(ids, timeout_s=300)
    finally:
        proc.terminate()
    # The kills really hit work in flight: each one left workflows unfinished.
    assert all(n < 500 for n in finished_at_kill), finished_at_kill
    assert Counter(outcomes.values()) == Counter({"completed": 500}), Counter(outcomes.values())
    attempts = _command_attempts(app)
    duplicated = {k: v for k, v in attempts.items() if v != 1}
    assert not duplicated, f"command attempts seen more than once: {list(duplicated.items())[:5]}"
    # every workflow's three steps were committed, each with attempts 1..n contiguous
    per_command: dict[str, set[int]] = {}
    for command_id, attempt in attempts:
        per_command.setdefault(command_id, set()).add(int(attempt))
    assert len([c for c in per_command if c.startswith("crash-")]) == 500 * 3
    assert all(s == set(range(1, max(s) + 1)) for s in per_command.values())
    # exactly one WorkflowStarted and one terminal event per workflow on the events topic
    started = Counter(
        d.value["workflow_id"] for _r, d in events.records if d.schema_name == "sagabridge.events.WorkflowStarted"
    )
    assert set(started.values()) == {1} and len(started) == 500
