"""SIGTERM ends the process within a bound, even while the loop is blocked inside librdkafka.

A Python signal handler runs on the main thread between bytecodes, so it never runs while the main
thread waits inside a C call that does not return (the hang of issue 14: SIGTERM did nothing).
Here SIGTERM and SIGINT are blocked in every thread and received by one thread with sigwait(),
which works whatever the main thread is doing:

1. first signal: ask the loop to stop (final checkpoint, leave the group, close the stores) and arm
   a hard deadline of `timeout_s`;
2. deadline passed, or a second signal: log it and `os._exit` at once with EXIT_SHUTDOWN_TIMEOUT
   (or 128 + signal). State is safe: nothing uncommitted reaches RocksDB, and the next start
   fences this instance's open transaction.

`install()` must run before any other thread starts (librdkafka's threads inherit the signal
mask of the thread that creates the client), i.e. before the first Kafka client is made.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

EXIT_SHUTDOWN_TIMEOUT = 75  # EX_TEMPFAIL: the graceful shutdown did not finish within its bound
SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


def hard_exit(status: int) -> None:
    logging.shutdown()
    os._exit(status)


class ShutdownGuard:
    def __init__(
        self, on_stop: Callable[[], None], timeout_s: float, exit_fn: Callable[[int], None] = hard_exit
    ) -> None:
        self.timeout_s = timeout_s
        self.requested = threading.Event()
        self._on_stop = on_stop
        self._exit = exit_fn
        self._thread: threading.Thread | None = None

    def install(self) -> ShutdownGuard:
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        self._thread = threading.Thread(target=self._wait_for_signals, name="sb-signals", daemon=True)
        self._thread.start()
        return self

    def _wait_for_signals(self) -> None:
        while True:
            signum = signal.sigwait(SIGNALS)
            name = signal.Signals(signum).name
            if self.requested.is_set():
                log.warning("second %s: exiting now without finishing the shutdown", name)
                self._exit(128 + signum)
                return
            self.requested.set()
            log.info(
                "%s: finishing the checkpoint and leaving the group; exiting hard in %.0fs if that hangs",
                name,
                self.timeout_s,
            )
            threading.Thread(target=self._deadline, name="sb-shutdown-deadline", daemon=True).start()
            self._on_stop()

    def _deadline(self) -> None:
        time.sleep(self.timeout_s)
        log.error(
            "shutdown did not finish within %.0fs (blocked on the broker?); exiting with status %d",
            self.timeout_s,
            EXIT_SHUTDOWN_TIMEOUT,
        )
        self._exit(EXIT_SHUTDOWN_TIMEOUT)
