"""Start, find and stop background JVM processes through pid files.

Pid files make `up` idempotent across shells and sessions: a live pid whose command line
still names our stack directory means "already running", anything else is stale.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from orchestrator.errors import StackError

P = TypeVar("P")


def java_binary() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise StackError("no `java` on PATH and JAVA_HOME unset; install a JDK >= 17 (apt-get install default-jdk)")
    return found


def read_pid(pid_file: Path) -> int | None:
    """The pid in `pid_file` if that process is alive and is ours, else None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    marker = str(pid_file.parent).encode()
    return pid if marker in cmdline else None


def start(cmd: Sequence[str], pid_file: Path, log_file: Path, env: dict[str, str] | None = None) -> int:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(cmd),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=pid_file.parent,
        )
    pid_file.write_text(str(proc.pid))
    return proc.pid


def stop(pid_file: Path, timeout_s: float = 30.0) -> bool:
    """SIGTERM, wait, then SIGKILL. Returns True when a process was stopped."""
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    pid_file.unlink(missing_ok=True)
    return True


def kill_now(pid: int, timeout_s: float = 30.0) -> None:
    """SIGKILL and wait until the process is gone (reaped if it is our child)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, pid: int, log_file: Path) -> float:
    """Poll `check` until true; fail early if process `pid` died. Returns seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if check():
            return time.monotonic() - started
        if not _alive(pid):
            tail = log_file.read_text(errors="replace")[-3000:] if log_file.exists() else ""
            raise StackError(f"{what} exited during startup; log {log_file}:\n{tail}")
        time.sleep(0.25)
    raise StackError(f"{what} not ready after {timeout_s:.0f}s; see {log_file}")


@dataclass(frozen=True)
class ManagedProcess:
    """One background process of a stack directory: `<name>.pid` and `<name>.log` in `directory`.

    The lifecycle every dev-stack service shares (Kafka, the registry, Jaeger): start unless the
    pid file names a live process of ours, wait until it answers (failing early with the log's
    tail if it dies), stop with SIGTERM then SIGKILL.
    """

    directory: Path
    name: str

    @property
    def pid_file(self) -> Path:
        return self.directory / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.name}.log"

    def pid(self) -> int | None:
        """The live pid of this process, or None."""
        return read_pid(self.pid_file)

    def start(
        self,
        cmd: Sequence[str],
        ready: Callable[[], bool],
        timeout_s: float,
        what: str,
        env: dict[str, str] | None = None,
    ) -> float:
        """Start `cmd` unless running and wait for `ready`; seconds spent (0.0 if it already ran)."""
        if self.pid() is not None:
            return 0.0
        started = time.monotonic()
        pid = start(cmd, self.pid_file, self.log_file, env)
        wait_until(ready, timeout_s, what, pid, self.log_file)
        return time.monotonic() - started

    def stop(self, timeout_s: float = 30.0) -> bool:
        return stop(self.pid_file, timeout_s)

    def kill(self) -> int | None:
        """SIGKILL at once, no shutdown (crash tests); the pid killed, None if it was not running."""
        pid = self.pid()
        if pid is None:
            return None
        kill_now(pid)
        self.pid_file.unlink(missing_ok=True)
        return pid


def save_ports(path: Path, ports: Any) -> None:
    """Remember a stack's ports (a dataclass) so a later `status`/`down` finds the same process."""
    path.write_text(json.dumps({"ports": asdict(ports)}))


def load_ports(path: Path, cls: type[P]) -> P | None:
    """The ports saved by `save_ports`, or None when nothing was saved."""
    return cls(**json.loads(path.read_text())["ports"]) if path.exists() else None
