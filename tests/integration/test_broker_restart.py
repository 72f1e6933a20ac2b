"""The broker itself is SIGKILLed and restarted under load: every orchestrator resumes on its own.

These tests kill a broker, so they run on a private one (LocalStack on free ports), never on the
shared stack. Orchestrators are real `orchestrator run` processes; participants are worker SDK
services restarted when they stop (as a supervisor would: the SDK stops when replies cannot be
acknowledged). Everything is checked from the committed topics.
"""

from __future__ import annotations

import random
import shutil
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.devstack import LocalStack, StackPorts
from orchestrator.devstack.processes import free_port
from orchestrator.engine.liveness import read_status
from orchestrator.engine.shutdown import EXIT_SHUTDOWN_TIMEOUT
from orchestrator.errors import ClientDeliveryError
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.worker import Service
from tests.integration.harness import App, EventLog, OrchestratorProcess, create_app, make_service
from tests.integration.services import Behaviour, service_handlers
from tests.integration.test_crash import _command_attempts
from tests.integration.test_saga_e2e import order

MODULE = "tests.integration.apps"
TERMINAL = ("WorkflowCompleted", "WorkflowFailed", "WorkflowCompensated", "WorkflowCancelled")


@pytest.fixture
def private_stack() -> Iterator[LocalStack]:
    root = Path(tempfile.mkdtemp(prefix="sagabridge-restart-"))
    ports = StackPorts(kafka=free_port(), controller=free_port(), registry=free_port())
    stack = LocalStack("restart", ports, root=root)
    stack.up(with_registry=False)
    try:
        yield stack
    finally:
        stack.down()
        shutil.rmtree(root, ignore_errors=True)


class RestartingService:
    """A participant restarted whenever its run ends with an error."""

    def __init__(self, app: App, name: str, register: Callable[[Service], None]) -> None:
        self.app, self.name, self.register = app, name, register
        self.restarts = 0
        self._stop = threading.Event()
        self._current: Service | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._current = make_service(self.app, self.name, self.register)
            try:
                self._current.run(poll_timeout_s=0.2)
                return
            except Exception:  # the broker went away under it: start afresh, like a supervisor
                self.restarts += 1
                self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        if self._current is not None:
            self._current.stop()
        self._thread.join(30)


def _wait(condition: Callable[[], bool], what: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _processes(app: App, tmp_path: Path, count: int, **env: str) -> list[tuple[OrchestratorProcess, Path]]:
    started = []
    for n in range(count):
        alive = tmp_path / f"o{n}.alive"
        extra = {"SAGABRIDGE_LIVENESS_FILE": str(alive), "SAGABRIDGE_LIVENESS_INTERVAL_S": "0.2", **env}
        started.append((OrchestratorProcess(app, MODULE, tmp_path / f"o{n}.log", f"o{n}", extra).start(), alive))
    return started


def _owned(alive: Path) -> set[int]:
    return set(read_status(alive).get("partitions", []))


def _tail(procs: list[tuple[OrchestratorProcess, Path]]) -> str:
    """Each process's log without librdkafka's own lines, the last part (tracebacks included)."""
    parts = []
    for p, _ in procs:
        lines = [ln for ln in p.log.read_text(errors="replace").splitlines() if not ln.startswith("%")]
        parts.append(f"--- {p.log.name}\n" + "\n".join(lines)[-6000:])
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.timeout(900)  # a broker restart takes a minute on a loaded 2-core machine
def test_broker_sigkilled_and_restarted_every_orchestrator_resumes_and_every_workflow_completes(
    private_stack: LocalStack, tmp_path: Path
) -> None:
    rng = random.Random(20261201)
    app = create_app(KafkaAdmin(private_stack.bootstrap_servers), private_stack.bootstrap_servers, tmp_path, 3)
    behaviour = Behaviour()
    services = [RestartingService(app, name, fn) for name, fn in service_handlers(behaviour).items()]
    procs = _processes(app, tmp_path, 3)
    events = EventLog(app)
    ids = [f"br-{i:03d}" for i in range(120)]
    stop_starting = threading.Event()

    def start_steadily() -> None:  # work keeps arriving through the outage
        client = app.client()
        for i, wf_id in enumerate(ids):
            if stop_starting.is_set():
                return
            client.start("saga", order(i), workflow_id=wf_id, flush=False)
            time.sleep(0.1)
        while not stop_starting.is_set():
            try:
                client.flush(10)
                return
            except ClientDeliveryError:
                continue  # still queued and retried by the idempotent producer

    starter = threading.Thread(target=start_steadily, daemon=True)
    try:
        _wait(lambda: set().union(*(_owned(a) for _, a in procs)) == {0, 1, 2}, "all partitions assigned")
        starter.start()
        steps = 3 * len(ids)
        fraction = rng.uniform(0.15, 0.4)  # kill at a point of progress, not of wall time
        _wait(lambda: _steps_completed(events) >= fraction * steps, f"{fraction:.0%} of the steps")
        private_stack.kill_broker()
        time.sleep(rng.uniform(1.0, 6.0))  # down long enough for every client to notice
        private_stack.up(with_registry=False)
        at_restart = {p.instance_id: int(read_status(a).get("commits", 0)) for p, a in procs}
        outcomes = events.wait_for(ids, timeout_s=300)
        statuses = {p.instance_id: read_status(a) for p, a in procs}
        exited = {p.instance_id: p.proc.poll() for p, _ in procs if p.proc is not None and p.proc.poll() is not None}
        # Every process resumed on its own: none exited, each committed again after the last restart.
        assert not exited, exited
    except BaseException:
        print(_tail(procs))
        raise
    finally:
        stop_starting.set()
        for p, _ in procs:
            p.terminate(60)
        for s in services:
            s.stop()
        events.close()
    print("orchestrator status after the restarts:", statuses)
    assert all(statuses[i]["commits"] > at_restart[i] for i in statuses), (at_restart, statuses)
    assert Counter(outcomes.values()) == Counter({"completed": len(ids)})
    attempts = _command_attempts(app)
    duplicated = {k: v for k, v in attempts.items() if v != 1}
    assert not duplicated, f"(command id, attempt) committed more than once: {list(duplicated.items())[:5]}"
    per_command: dict[str, set[int]] = {}
    for command_id, attempt in attempts:
        per_command.setdefault(command_id, set()).add(int(attempt))
    assert len(per_command) == 3 * len(ids)
    assert all(s == set(range(1, max(s) + 1)) for s in per_command.values())
    for wf_id in ids:
        assert len(events.of(wf_id, "WorkflowStarted")) == 1, wf_id
        assert sum(len(events.of(wf_id, kind)) for kind in TERMINAL) == 1, wf_id


def _steps_completed(events: EventLog) -> int:
    events.poll(0.1)
    return sum(1 for _r, d in events.records if d.schema_name == "sagabridge.events.StepCompleted")


def test_sigterm_ends_a_process_waiting_on_a_dead_broker(private_stack: LocalStack, tmp_path: Path) -> None:
    app = create_app(KafkaAdmin(private_stack.bootstrap_servers), private_stack.bootstrap_servers, tmp_path, 3)
    [(proc, alive)] = _processes(app, tmp_path, 1, SAGABRIDGE_SHUTDOWN_TIMEOUT_S="5")
    assert proc.proc is not None
    try:
        _wait(lambda: _owned(alive) == {0, 1, 2}, "partitions assigned")
        client = app.client()
        for i in range(20):  # nobody answers: commands and timers keep the loop checkpointing
            client.start("saga", order(i), workflow_id=f"term-{i}", flush=False)
        client.flush()
        _wait(lambda: int(read_status(alive).get("commits", 0)) > 0, "a first checkpoint")
        private_stack.kill_broker()
        time.sleep(3)  # the loop is now waiting on a broker that is gone
        proc.proc.send_signal(signal.SIGTERM)
        code = proc.proc.wait(120)  # far above the 5 s bound: the behaviour checked is that it ends by itself
    except BaseException:
        print(proc.log.read_text(errors="replace")[-4000:])
        raise
    finally:
        if proc.proc.poll() is None:
            proc.kill()
    log = proc.log.read_text(errors="replace")
    assert "SIGTERM: finishing the checkpoint" in log
    assert code in (0, EXIT_SHUTDOWN_TIMEOUT), log[-3000:]
    if code == EXIT_SHUTDOWN_TIMEOUT:
        assert "shutdown did not finish within 5s" in log
