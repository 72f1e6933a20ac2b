"""The peers' own virtualenv (~/.cache/sagabridge/bench-venv), so quixstreams and temporalio
never become dependencies of the product.

Created on first use from benchmarks/requirements-peers.txt (pinned versions) with the base
interpreter of the running Python; a marker holding the requirements' hash makes later runs a
no-op and a changed pin reinstalls. Peer apps run in it as `python -m benchmarks.peers.<app>`
with the repo on PYTHONPATH; they import only the standard library and their framework.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.errors import BenchmarkError, BenchmarkNotAvailableError
from orchestrator.devstack.artifacts import cache_root

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "benchmarks" / "requirements-peers.txt"


def venv_dir() -> Path:
    return cache_root() / "bench-venv"


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def ensure_peer_venv() -> Path:
    """The venv's python, creating/updating the venv if the pinned requirements changed."""
    venv = venv_dir()
    marker = venv / ".sagabridge-requirements"
    if marker.exists() and marker.read_text() == _digest() and _python(venv).exists():
        return _python(venv)
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", str(venv)],
        [str(_python(venv)), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BenchmarkNotAvailableError(
                f"peers venv: `{' '.join(cmd[-3:])}` failed: {(proc.stderr or proc.stdout).strip()[-300:]}"
            )
    marker.write_text(_digest())
    return _python(venv)


def peer_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def run_peer_app(python: Path, module: str, args: list[str], timeout_s: float, log: Path) -> dict[str, Any]:
    """Run a peer app to completion; its last stdout line is a JSON object with the figures."""
    with log.open("ab") as err:
        try:
            proc = subprocess.run(
                [str(python), "-m", module, *args],
                cwd=REPO,
                env=peer_env(),
                stdout=subprocess.PIPE,
                stderr=err,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchmarkError(f"{module} did not finish within {timeout_s:.0f} s (log: {log})") from exc
    lines = proc.stdout.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        raise BenchmarkError(f"{module} exited {proc.returncode} (log: {log}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
