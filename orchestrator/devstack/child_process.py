"""Child processes of a chaos run or a benchmark: `orchestrator run`, a service, a participant.

Output appended to a log file of their own (a restarted instance keeps writing to the same file),
settings passed as SAGABRIDGE_* variables (`settings_env`), SIGKILL for crashes, SIGSTOP/SIGCONT
for a frozen process, SIGTERM with a bound for a graceful stop (`stop_all`, which the benchmarks
use too). Unlike `processes.ManagedProcess` (pid files, processes that outlive the caller), these
are children of the caller and end with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


def python_module(module: str, *args: str) -> list[str]:
    """The argv of `python -m module args...` with this interpreter (the caller's venv)."""
    return [sys.executable, "-m", module, *args]


def orchestrator_run(app_module: str) -> list[str]:
    """The argv of `orchestrator run --app <module>` (settings come from the environment)."""
    return python_module("orchestrator.cli", "run", "--app", app_module)


def settings_env(kafka: Mapping[str, str] | None = None, **settings: Any) -> dict[str, str]:
    """Orchestrator settings as the SAGABRIDGE_* variables `orchestrator run` reads (None: unset).

    `kafka` are librdkafka properties, passed as SAGABRIDGE_KAFKA__<property>."""
    env = {f"SAGABRIDGE_{name.upper()}": str(value) for name, value in settings.items() if value is not None}
    env.update({f"SAGABRIDGE_KAFKA__{prop.upper()}": str(value) for prop, value in (kafka or {}).items()})
    return env


class ChildProcess:
    """One child process: started with its output appended to `log`, stopped by SIGKILL or SIGTERM.

    `env` is added to the caller's environment; `clean_env_prefixes` drops inherited variables
    first (a benchmark's orchestrator must not pick up the caller's SAGABRIDGE_* or OTEL_* settings).
    `new_session`: a terminal's Ctrl-C reaches only the caller, which then stops its children itself.
    """

    def __init__(
        self,
        argv: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        clean_env_prefixes: tuple[str, ...] = (),
        new_session: bool = False,
    ) -> None:
        self.argv = list(argv)
        self.log = log
        self.env = dict(env or {})
        self.cwd = cwd
        self.clean_env_prefixes = clean_env_prefixes
        self.new_session = new_session
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ChildProcess:
        """Start (or start again after it ended); its output goes to the end of `log`."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(self.clean_env_prefixes or ("\0",))}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env={**inherited, **self.env},
                start_new_session=self.new_session,
            )
        return self

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{' '.join(self.argv)} was never started")
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once it ended (negative: killed by that signal), None while it runs."""
        return None if self.proc is None else self.proc.poll()

    def kill(self, wait_s: float = 10.0) -> None:
        """SIGKILL (no shutdown at all, as a crash) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(wait_s)

    def pause(self) -> None:
        """SIGSTOP: frozen, sockets open, no heartbeat, no watchdog (a long GC pause, a stuck VM)."""
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause()`: it carries on where it stopped, unaware that time has passed."""
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGCONT)


def stop_all(children: Iterable[ChildProcess | subprocess.Popen[bytes]], timeout_s: float = 15.0) -> None:
    """SIGTERM every running one first (they shut down in parallel), then wait; SIGKILL stragglers."""
    procs = [c.proc if isinstance(c, ChildProcess) else c for c in children]
    running = [p for p in procs if p is not None and p.poll() is None]
    for proc in running:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
            proc.send_signal(signal.SIGCONT)  # a paused one acts on the SIGTERM only once it runs
    for proc in running:
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
