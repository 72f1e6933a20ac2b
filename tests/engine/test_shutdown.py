"""SIGTERM is handled even while the main thread is blocked, and ends the process within its bound.

Signals are process-wide, so each case runs in a child Python process whose main thread blocks in a
C-level wait that never returns by itself (the way it blocks inside librdkafka).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from orchestrator.engine.shutdown import EXIT_SHUTDOWN_TIMEOUT

CHILD = """
import logging, sys, threading
from orchestrator.engine.shutdown import ShutdownGuard
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
stopped = threading.Event()
ShutdownGuard(stopped.set, timeout_s=TIMEOUT).install()
print("ready", flush=True)
if COOPERATIVE:  # a loop that sees the stop request and finishes
    stopped.wait()
    print("clean stop", flush=True)
    sys.exit(0)
lock = threading.Lock()
lock.acquire()
lock.acquire()  # blocked forever in C: no Python signal handler could ever run here
"""


def _child(timeout_s: float, cooperative: bool) -> subprocess.Popen[str]:
    source = CHILD.replace("TIMEOUT", repr(timeout_s)).replace("COOPERATIVE", repr(cooperative))
    proc = subprocess.Popen([sys.executable, "-c", source], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    return proc


def test_sigterm_with_a_blocked_main_thread_exits_at_the_bound() -> None:
    proc = _child(timeout_s=1.0, cooperative=False)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_SHUTDOWN_TIMEOUT, out
    assert "SIGTERM: finishing the checkpoint" in out and "shutdown did not finish within 1s" in out


def test_second_signal_exits_at_once() -> None:
    proc = _child(timeout_s=600.0, cooperative=False)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGINT, out
    assert "second SIGINT" in out


def test_a_loop_that_stops_in_time_exits_cleanly() -> None:
    proc = _child(timeout_s=600.0, cooperative=True)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "clean stop" in out, out
