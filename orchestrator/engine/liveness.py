"""A liveness file a supervisor can watch: rewritten by the loop, so it goes stale when the loop is stuck.

The orchestrator's loop calls `beat()` every pass (and long operations that are progress, such as
a restore or the producer recovery, call it too); the file is rewritten at most once per
`interval_s`, atomically (write + rename), with a small JSON status: counters a chaos audit or an
operator can read (commits, aborts, producer recoveries and how long the last one took). The
signal is the file's mtime: `orchestrator health --liveness-file F --max-age S` exits non-zero when
it is older than S seconds (a Kubernetes exec probe, a Docker HEALTHCHECK, a systemd watchdog
script). Nothing else touches the file, so a stuck loop cannot look alive.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

StatusFn = Callable[[], Mapping[str, Any]]


class LivenessFile:
    def __init__(self, path: Path | None, interval_s: float = 1.0, status: StatusFn | None = None) -> None:
        self.path = path
        self.interval_s = interval_s
        self._status = status
        self._last = float("-inf")
        self.beats = 0

    def beat(self, force: bool = False) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        self.beats += 1
        body = {"pid": os.getpid(), "at_ms": int(time.time() * 1000), **(self._status() if self._status else {})}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(body, sort_keys=True))
        os.replace(tmp, self.path)  # one rename: readers never see a half-written file


def liveness_age_s(path: Path) -> float | None:
    """Seconds since the file was last rewritten; None when it does not exist."""
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except FileNotFoundError:
        return None


def read_status(path: Path) -> dict[str, Any]:
    """The JSON status of the last beat ({} when missing or unreadable)."""
    try:
        value = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
