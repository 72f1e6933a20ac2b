"""The system under test: a private broker, the orchestrator instances and the demo's services.

The broker is a LocalStack of the run's own, on free ports (the run kills it; the shared dev
stack is never touched). Orchestrators are `orchestrator run --app examples.orders.workflows`
processes with the orchestrator's default group settings, as a new user runs them; services are
the demo's (`python -m examples.orders.services`). A supervisor thread restarts whatever ends
without being told to (an orchestrator's watchdog exit, a service that stopped because its replies
could not be acknowledged while the broker was down), as systemd or Kubernetes would, and samples
the instances' liveness files for the audit.
"""

from __future__ import annotations

import contextlib
import logging
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chaos.quiet_clients import QUIET
from chaos.run_record import LivenessSample, ProcessExit
from chaos.sizes import ChaosSize
from examples.orders.demo_topics import apply_demo_topics
from orchestrator.devstack import LocalStack, StackPorts
from orchestrator.devstack.child_process import ChildProcess, orchestrator_run, python_module, settings_env, stop_all
from orchestrator.devstack.processes import free_port
from orchestrator.engine.liveness import read_status
from orchestrator.errors import StackError
from orchestrator.transport.admin import KafkaAdmin

log = logging.getLogger("chaos")

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS_MODULE = "examples.orders.workflows"
WORKFLOW_TYPE = "order-fulfilment"
SERVICES = ("inventory", "payments", "shipping")
RESTART_AFTER_S = 1.0  # an unexpected exit is restarted after this (a supervisor's backoff)
LIVENESS_SAMPLE_S = 0.5
# LocalStack.up() gives a broker 120 s to be ready; after a SIGKILL its log and coordinator recovery
# on a loaded 2-core machine has taken longer (seen: 120+ s at load average 33), so a restart waits on.
BROKER_RESTART_READY_S = 420.0


@dataclass
class Supervised:
    """A process the supervisor keeps running unless a fault holds it down."""

    name: str
    process: ChildProcess
    held: bool = False
    starts: int = 0
    state_dir: Path | None = None
    liveness_file: Path | None = None

    def start(self) -> None:
        self.process.start()
        self.starts += 1


@dataclass
class Cluster:
    """Broker + orchestrators + services of one chaos run, all under `workdir`."""

    workdir: Path
    size: ChaosSize
    app: str
    rng: random.Random
    stack: LocalStack = field(init=False)
    orchestrators: dict[str, Supervised] = field(default_factory=dict)
    services: dict[str, Supervised] = field(default_factory=dict)
    liveness: list[LivenessSample] = field(default_factory=list)
    exits: list[ProcessExit] = field(default_factory=list)
    partitions: int = 0

    def __post_init__(self) -> None:
        ports = StackPorts(kafka=free_port(), controller=free_port(), registry=free_port())
        self.stack = LocalStack("broker", ports, root=self.workdir / "stack")
        self.logs = self.workdir / "logs"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="chaos-supervisor", daemon=True)

    @property
    def bootstrap(self) -> str:
        return self.stack.bootstrap_servers

    @property
    def topics(self) -> dict[str, str]:
        """Topic name -> audit role (committed_log.TopicRole values)."""
        names = {f"{self.app}.inbox": "inbox", f"{self.app}.events": "events", f"{self.app}.dlq": "dlq"}
        return {**names, **{self.command_topic(s): "commands" for s in SERVICES}}

    def command_topic(self, service: str) -> str:
        return f"{self.app}.{service}.commands"

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        log.info("starting a private broker on %s", self.bootstrap)
        self.stack.up(with_registry=False)
        admin = KafkaAdmin(self.bootstrap, QUIET)
        apply_demo_topics(admin, self.app)
        self.partitions = admin.describe([f"{self.app}.inbox"])[f"{self.app}.inbox"].partitions
        for n in range(self.size.instances):
            self._add_orchestrator(f"o{n}")
        for name in SERVICES:
            self._add_service(name)
        with self._lock:
            for proc in [*self.orchestrators.values(), *self.services.values()]:
                proc.start()
        self._thread.start()

    def _add_orchestrator(self, instance: str) -> None:
        state_dir = self.workdir / "state" / instance
        alive = self.workdir / f"{instance}.alive"
        env = settings_env(
            app=self.app,
            bootstrap_servers=self.bootstrap,
            instance_id=instance,
            state_dir=state_dir,
            command_topic_template="{app}.{service}.commands",
            liveness_file=alive,
            liveness_interval_s=LIVENESS_SAMPLE_S,
            log_level="INFO",
        )
        env["OTEL_SDK_DISABLED"] = "true"
        process = ChildProcess(
            orchestrator_run(WORKFLOWS_MODULE),
            self.logs / f"{instance}.log",
            env,
            cwd=REPO,
            clean_env_prefixes=("SAGABRIDGE_", "OTEL_"),
            new_session=True,
        )
        self.orchestrators[instance] = Supervised(instance, process, state_dir=state_dir, liveness_file=alive)

    def _add_service(self, name: str) -> None:
        args = [name, "--app", self.app, "--bootstrap-servers", self.bootstrap]
        args += [
            "--failure-rate",
            str(self.size.failure_rate),
            "--latency-ms",
            "10",
            "--seed",
            str(self.rng.getrandbits(31)),
        ]
        process = ChildProcess(
            python_module("examples.orders.services", *args),
            self.logs / f"{name}.log",
            {"OTEL_SDK_DISABLED": "true"},
            cwd=REPO,
            clean_env_prefixes=("SAGABRIDGE_", "OTEL_"),
            new_session=True,
        )
        self.services[name] = Supervised(name, process)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop the supervisor, then every process gracefully (SIGTERM, bounded), broker last."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        with self._lock:
            procs = [p.process for p in [*self.orchestrators.values(), *self.services.values()]]
            stop_all(procs, timeout_s)
        self._sample_liveness()

    def stop_broker(self) -> None:
        self.stack.down()

    def remove_broker_data(self) -> None:
        shutil.rmtree(self.stack.directory, ignore_errors=True)

    # --- faults ---------------------------------------------------------------------------
    def held_down(self, proc: Supervised) -> contextlib.AbstractContextManager[None]:
        """SIGKILL `proc` and keep the supervisor off it; started again when the block ends."""
        return self._held(proc, proc.process.kill, proc.start)

    def frozen(self, proc: Supervised) -> contextlib.AbstractContextManager[None]:
        """SIGSTOP `proc` (the supervisor leaves it be); SIGCONT when the block ends."""
        return self._held(proc, proc.process.pause, proc.process.resume)

    @contextlib.contextmanager
    def _held(self, proc: Supervised, hold: Callable[[], None], release: Callable[[], None]) -> Iterator[None]:
        with self._lock:
            proc.held = True
            hold()
        try:
            yield
        finally:
            with self._lock:
                release()
                proc.held = False

    def wipe_state(self, proc: Supervised) -> None:
        assert proc.state_dir is not None
        shutil.rmtree(proc.state_dir, ignore_errors=True)

    def owned_partitions(self, proc: Supervised) -> list[int]:
        assert proc.liveness_file is not None
        return sorted(read_status(proc.liveness_file).get("partitions", []))

    def kill_broker(self) -> None:
        self.stack.kill_broker()

    def start_broker(self) -> None:
        """Start the killed broker again on its data; bounded by BROKER_RESTART_READY_S."""
        deadline = time.monotonic() + BROKER_RESTART_READY_S
        try:
            self.stack.up(with_registry=False)
        except StackError:
            log.warning("the broker is not ready after LocalStack's bound; waiting up to %.0fs", BROKER_RESTART_READY_S)
            while not self.stack.status().kafka_running:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    # --- the supervisor -------------------------------------------------------------------
    def _supervise(self) -> None:
        while not self._stop.wait(LIVENESS_SAMPLE_S):
            self._sample_liveness()
            with self._lock:
                ended = [
                    p
                    for p in [*self.orchestrators.values(), *self.services.values()]
                    if not p.held and not p.process.alive
                ]
                for proc in ended:
                    code = proc.process.returncode
                    self.exits.append(ProcessExit(name=proc.name, at_ms=_now_ms(), returncode=code))
                    log.warning("%s exited with status %s; restarting it in %.0fs", proc.name, code, RESTART_AFTER_S)
            if ended:
                self._stop.wait(RESTART_AFTER_S)
                with self._lock:
                    for proc in ended:
                        if not proc.held and not proc.process.alive and not self._stop.is_set():
                            proc.start()

    def _sample_liveness(self) -> None:
        for proc in self.orchestrators.values():
            assert proc.liveness_file is not None
            status = read_status(proc.liveness_file)
            if status:
                last = next((s for s in reversed(self.liveness) if s.instance == proc.name), None)
                if last is None or last.status != status:
                    self.liveness.append(
                        LivenessSample(instance=proc.name, at_ms=int(status.get("at_ms", 0)), status=status)
                    )

    def pick_orchestrator(self) -> Supervised:
        return self.orchestrators[self.rng.choice(sorted(self.orchestrators))]

    def pick_service(self) -> Supervised:
        return self.services[self.rng.choice(sorted(self.services))]


def _now_ms() -> int:
    return int(time.time() * 1000)
